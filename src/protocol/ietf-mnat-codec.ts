// ietf-mnat (revision 2020-10-22) JSON encoding per RFC 7951: decoding with
// validation that names the bad member by path, and encoding of every body
// the service and its clients exchange.
//
// Decoding is strict about structure and values (unknown members, wrong JSON
// types, non-multicast groups, bad addresses, duplicate list keys) and lenient
// where the prototype's clients differ from RFC 7951:
// - a list may be sent as a single object ({"ietf-mnat:watcher":{...}});
// - inner members may carry the module prefix ("ietf-mnat:watcher-id");
// - a joined-sg without its key "id" gets "source,group" as id.
// Encoding is strictly RFC 7951: module-qualified top level, simple names
// inside, identities module-qualified, uint32 as JSON numbers.
import { AddressError, formatAddress, formatPrefix, isLoopback, isMulticast, isUnicastSource, nonGlobalSourceReason, tryParseAddress, tryParsePrefix, unforwardedGroupReason, type Address } from '../core/address.ts';
import type { Channel } from '../core/channel.ts';
import type { JoinedSg, LocalMapping, MappedChannel, Monitor } from './model.ts';

export const MODULE = 'ietf-mnat';
export const IDENTITY_ASSIGNED = 'ietf-mnat:assigned-local-multicast';
export const IDENTITY_UNASSIGNED = 'ietf-mnat:unassigned';

/** RESTCONF error-tags a codec failure maps to. */
export type CodecErrorTag = 'malformed-message' | 'invalid-value' | 'unknown-element' | 'missing-element' | 'bad-element';

export class CodecError extends Error {
  override readonly name = 'CodecError';
  /** e.g. "/ietf-mnat:watcher[0]/joined-sg[2]/group" */
  readonly path: string;
  readonly tag: CodecErrorTag;
  constructor(path: string, message: string, tag: CodecErrorTag = 'invalid-value') {
    super(`${path}: ${message}`);
    this.path = path;
    this.tag = tag;
  }
}

export interface CodecLimits {
  /** Sanity cap on any list (the per-watcher join limit belongs to MnatState). Default 4096. */
  maxListEntries?: number;
  /** Cap on id strings. Default 256. */
  maxIdLength?: number;
}

export interface EgressWatcherData {
  id: string | undefined;
  joins: JoinedSg[];
}
export interface IngressWatcherData {
  id: string | undefined;
  monitors: Monitor[];
}
export interface AssignedWatcherData {
  id: string | undefined;
  channels: MappedChannel[];
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const PREFIX = `${MODULE}:`;

interface Ctx {
  maxList: number;
  maxId: number;
}

function ctxOf(limits: CodecLimits | undefined): Ctx {
  return { maxList: limits?.maxListEntries ?? 4096, maxId: limits?.maxIdLength ?? 256 };
}

/** A member name as it may appear in an error: bounded, so a hostile body is not echoed back whole. */
function clip(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Parses a request body; malformed JSON is a CodecError "malformed-message" at "/". */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CodecError('/', `the body is not valid JSON (${e instanceof Error ? e.message : String(e)})`, 'malformed-message');
  }
}

/**
 * An object's members with the ietf-mnat prefix stripped, after checking that
 * every member is allowed and none appears twice (once plain, once qualified).
 */
function members(v: unknown, path: string, allowed: readonly string[], what: string): Map<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CodecError(path, `${what} must be a JSON object, got ${describe(v)}`, 'bad-element');
  }
  const out = new Map<string, unknown>();
  for (const [rawName, value] of Object.entries(v as Record<string, unknown>)) {
    const name = rawName.startsWith(PREFIX) ? rawName.slice(PREFIX.length) : rawName;
    if (!allowed.includes(name)) {
      throw new CodecError(`${path}/${clip(rawName)}`, `unknown member "${clip(rawName)}" in ${what}; expected ${allowed.map((a) => `"${a}"`).join(', ')}`, 'unknown-element');
    }
    if (out.has(name)) throw new CodecError(`${path}/${clip(rawName)}`, `"${name}" is given twice`, 'bad-element');
    out.set(name, value);
  }
  return out;
}

/** A top-level object with exactly one module-qualified member among `names`. */
function topLevel(body: unknown, names: readonly string[]): [string, unknown] {
  const expected = (): string => names.map((n) => `"${PREFIX}${n}"`).join(' or ');
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CodecError('/', `the body must be a JSON object with ${expected()}, got ${describe(body)}`, 'malformed-message');
  }
  const keys = Object.keys(body);
  if (keys.length !== 1) {
    throw new CodecError('/', `the body must have exactly one member, ${expected()}; it has ${keys.length}`, keys.length === 0 ? 'missing-element' : 'unknown-element');
  }
  const key = keys[0] as string;
  const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : null;
  if (name === null || !names.includes(name)) {
    throw new CodecError(`/${clip(key)}`, `unknown top-level member "${clip(key)}"; expected ${expected()} (RFC 7951 names are module-qualified at the top level)`, 'unknown-element');
  }
  return [name, (body as Record<string, unknown>)[key]];
}

/** A list, or the prototype's single object standing for a one-entry list. */
function listOf(v: unknown, path: string, ctx: Ctx, what: string): unknown[] {
  const list = Array.isArray(v) ? v : typeof v === 'object' && v !== null ? [v] : null;
  if (list === null) throw new CodecError(path, `${what} must be a list of objects, got ${describe(v)}`, 'bad-element');
  if (list.length > ctx.maxList) throw new CodecError(path, `${what} has ${list.length} entries, more than the ${ctx.maxList} accepted`);
  return list;
}

function idString(v: unknown, path: string, ctx: Ctx, what: string): string {
  if (typeof v !== 'string') throw new CodecError(path, `${what} must be a string, got ${describe(v)}`);
  if (v.length === 0) throw new CodecError(path, `${what} must not be empty`);
  if (v.length > ctx.maxId) throw new CodecError(path, `${what} is ${v.length} characters long; at most ${ctx.maxId} are accepted`);
  return v;
}

function address(v: unknown, path: string, what: string): Address {
  if (typeof v !== 'string') throw new CodecError(path, `${what} must be an IP address string, got ${describe(v)}`);
  const a = tryParseAddress(v);
  if (a === null) throw new CodecError(path, `${what} ${JSON.stringify(v.slice(0, 60))} is not an IPv4 or IPv6 address`);
  return a;
}

const canonical = formatAddress;

function multicastGroup(v: unknown, path: string, what: string): { family: 4 | 6; text: string } {
  const g = address(v, path, what);
  if (!isMulticast(g)) throw new CodecError(path, `${what} ${String(v)} is not a multicast address`);
  return { family: g.family, text: canonical(g) };
}

/** The multicast-channel grouping: source+group (ssm-channel) or asm-group (asm-channel). */
function channelChoice(m: Map<string, unknown>, path: string): Channel | { asmGroup: string } {
  const hasSsm = m.has('source') || m.has('group');
  if (hasSsm && m.has('asm-group')) {
    throw new CodecError(`${path}/asm-group`, 'give either source and group (an SSM channel) or asm-group, not both', 'bad-element');
  }
  if (m.has('asm-group')) return { asmGroup: multicastGroup(m.get('asm-group'), `${path}/asm-group`, 'asm-group').text };
  if (!m.has('group')) throw new CodecError(`${path}/group`, 'group is missing (an SSM channel needs source and group)', 'missing-element');
  if (!m.has('source')) throw new CodecError(`${path}/source`, 'source is missing (an SSM channel needs source and group)', 'missing-element');
  const g = multicastGroup(m.get('group'), `${path}/group`, 'group');
  const s = address(m.get('source'), `${path}/source`, 'source');
  if (s.family !== g.family) {
    throw new CodecError(`${path}/source`, `source ${String(m.get('source'))} is IPv${s.family} but group ${g.text} is IPv${g.family}`);
  }
  if (!isUnicastSource(s)) throw new CodecError(`${path}/source`, `source ${String(m.get('source'))} is not a unicast address`);
  return { source: canonical(s), group: g.text };
}

/** A global channel must be forwardable: no link-scope group, no loopback source. */
function checkForwardable(c: Channel, path: string): void {
  const g = tryParseAddress(c.group) as Address;
  const why = unforwardedGroupReason(g);
  if (why) throw new CodecError(`${path}/group`, `group ${c.group} ${why}`);
  const s = tryParseAddress(c.source) as Address;
  if (isLoopback(s)) throw new CodecError(`${path}/source`, `source ${c.source} is a loopback address`);
}

function ssmChannel(m: Map<string, unknown>, path: string, what: string): Channel {
  const c = channelChoice(m, path);
  if ('asmGroup' in c) {
    throw new CodecError(`${path}/asm-group`, `${what} with asm-group is not supported: this service maps source-specific channels; give source and group`);
  }
  checkForwardable(c, path);
  return c;
}

// Popular channels arrive in many watchers' joins: remember canonical results
// (bounded) so each is parsed once and every decoded join shares one object.
// (Only the server decodes joins; the clients' decoding stays without it.)
const channelCache = new Map<string, Channel>();
const CHANNEL_CACHE_MAX = 8192;

function cachedSsmChannel(m: Map<string, unknown>, path: string, what: string): Channel {
  const source = m.get('source');
  const group = m.get('group');
  const cacheKey = typeof source === 'string' && typeof group === 'string' && !m.has('asm-group') ? `${source},${group}` : null;
  const hit = cacheKey !== null ? channelCache.get(cacheKey) : undefined;
  if (hit) return hit;
  const c = ssmChannel(m, path, what);
  // Joins only (the clients' decoding, in the QuickJS bundle, stays without it),
  // and at the request, not in the state machine's checks: a region's replicas
  // re-check logged intents as they apply them, and a check added there would
  // make front ends of two versions disagree during a rolling upgrade.
  const why = nonGlobalSourceReason(tryParseAddress(c.source) as Address);
  if (why) throw new CodecError(`${path}/source`, `source ${String(source)} ${why}`);
  if (cacheKey !== null) {
    if (channelCache.size >= CHANNEL_CACHE_MAX) channelCache.clear();
    channelCache.set(cacheKey, Object.freeze(c));
  }
  return c;
}

function checkUniqueIds(ids: string[], basePath: (i: number) => string, what: string): void {
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    const prev = seen.get(id);
    if (prev !== undefined) throw new CodecError(basePath(i), `${what} id ${JSON.stringify(id)} is also used by entry ${prev}; list keys must be unique`);
    seen.set(id, i);
  });
}

function watcherEntries(body: unknown, container: string, ctx: Ctx): Array<{ entry: unknown; path: string }> {
  const [name, value] = topLevel(body, ['watcher', container]);
  let list: unknown = value;
  let base = `/${PREFIX}watcher`;
  if (name === container) {
    const m = members(value, `/${PREFIX}${container}`, ['watcher'], container);
    list = m.get('watcher') ?? [];
    base = `/${PREFIX}${container}/watcher`;
  }
  return listOf(list, base, ctx, 'watcher').map((entry, i) => ({ entry, path: `${base}[${i}]` }));
}

// ---- egress-global-joined ------------------------------------------------

export function decodeEgressWatchers(body: unknown, limits?: CodecLimits): EgressWatcherData[] {
  const ctx = ctxOf(limits);
  const out = watcherEntries(body, 'egress-global-joined', ctx).map(({ entry, path }) => {
    const m = members(entry, path, ['id', 'joined-sg'], 'watcher');
    const id = m.has('id') ? idString(m.get('id'), `${path}/id`, ctx, 'watcher id') : undefined;
    const raw = m.has('joined-sg') ? listOf(m.get('joined-sg'), `${path}/joined-sg`, ctx, 'joined-sg') : [];
    const joins = raw.map((j, k) => {
      const jp = `${path}/joined-sg[${k}]`;
      const jm = members(j, jp, ['id', 'source', 'group', 'asm-group'], 'joined-sg');
      const channel = cachedSsmChannel(jm, jp, 'joined-sg');
      const jid = jm.has('id') ? idString(jm.get('id'), `${jp}/id`, ctx, 'joined-sg id') : `${channel.source},${channel.group}`;
      return { id: jid, channel };
    });
    checkUniqueIds(joins.map((j) => j.id), (k) => `${path}/joined-sg[${k}]/id`, 'joined-sg');
    return { id, joins };
  });
  checkUniqueIds(
    out.map((w, i) => w.id ?? `\u0000${i}`),
    (i) => `/${PREFIX}watcher[${i}]/id`,
    'watcher',
  );
  return out;
}

/** The body of a PUT/PATCH on egress-global-joined/watcher=ID: exactly one entry, its id (if given) = ID. */
export function decodeEgressWatcher(body: unknown, expectedId: string, limits?: CodecLimits): JoinedSg[] {
  const list = decodeEgressWatchers(body, limits);
  return single(list, expectedId).joins;
}

function single<T extends { id: string | undefined }>(list: T[], expectedId: string): T {
  if (list.length !== 1) {
    throw new CodecError(`/${PREFIX}watcher`, `the body must hold exactly one watcher entry (the one in the URL), it holds ${list.length}`);
  }
  const w = list[0] as T;
  if (w.id !== undefined && w.id !== expectedId) {
    throw new CodecError(`/${PREFIX}watcher[0]/id`, 'the watcher id in the body differs from the one in the URL');
  }
  return w;
}

function encodeChannel(c: Channel): { [key: string]: Json } {
  return { source: c.source, group: c.group };
}

export function encodeJoinedSg(j: JoinedSg): Json {
  return { id: j.id, ...encodeChannel(j.channel) };
}

function egressEntry(id: string, joins: readonly JoinedSg[]): Json {
  return { id, 'joined-sg': joins.map(encodeJoinedSg) };
}

export function encodeEgressWatcher(id: string, joins: readonly JoinedSg[]): Json {
  return { [`${PREFIX}watcher`]: [egressEntry(id, joins)] };
}

export function encodeEgressGlobalJoined(watchers: ReadonlyArray<{ id: string; joins: readonly JoinedSg[] }>): Json {
  return { [`${PREFIX}egress-global-joined`]: { watcher: watchers.map((w) => egressEntry(w.id, w.joins)) } };
}

// ---- ingress-watching -----------------------------------------------------

function sourcePrefix(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new CodecError(path, `global-source-prefix must be a prefix string like "192.0.2.0/24", got ${describe(v)}`);
  if (!v.includes('/')) throw new CodecError(path, `global-source-prefix ${JSON.stringify(v.slice(0, 60))} needs a /length`);
  const p = tryParsePrefix(v);
  if (p === null) throw new CodecError(path, `global-source-prefix ${JSON.stringify(v.slice(0, 60))} is not an IPv4 or IPv6 prefix`);
  return formatPrefix(p); // RFC 6991: the canonical form has the host bits zero
}

export function decodeIngressWatchers(body: unknown, limits?: CodecLimits): IngressWatcherData[] {
  const ctx = ctxOf(limits);
  const out = watcherEntries(body, 'ingress-watching', ctx).map(({ entry, path }) => {
    const m = members(entry, path, ['id', 'monitor'], 'watcher');
    const id = m.has('id') ? idString(m.get('id'), `${path}/id`, ctx, 'watcher id') : undefined;
    const raw = m.has('monitor') ? listOf(m.get('monitor'), `${path}/monitor`, ctx, 'monitor') : [];
    const monitors = raw.map((x, k) => {
      const mp = `${path}/monitor[${k}]`;
      const mm = members(x, mp, ['id', 'global-source-prefix'], 'monitor');
      if (!mm.has('id')) throw new CodecError(`${mp}/id`, 'monitor id is missing (it is the list key)', 'missing-element');
      if (!mm.has('global-source-prefix')) throw new CodecError(`${mp}/global-source-prefix`, 'global-source-prefix is missing', 'missing-element');
      return { id: idString(mm.get('id'), `${mp}/id`, ctx, 'monitor id'), globalSourcePrefix: sourcePrefix(mm.get('global-source-prefix'), `${mp}/global-source-prefix`) };
    });
    checkUniqueIds(monitors.map((x) => x.id), (k) => `${path}/monitor[${k}]/id`, 'monitor');
    return { id, monitors };
  });
  checkUniqueIds(out.map((w, i) => w.id ?? `\u0000${i}`), (i) => `/${PREFIX}watcher[${i}]/id`, 'watcher');
  return out;
}

export function decodeIngressWatcher(body: unknown, expectedId: string, limits?: CodecLimits): Monitor[] {
  return single(decodeIngressWatchers(body, limits), expectedId).monitors;
}

function ingressEntry(id: string, monitors: readonly Monitor[]): Json {
  return { id, monitor: monitors.map((m) => ({ id: m.id, 'global-source-prefix': m.globalSourcePrefix })) };
}

export function encodeIngressWatcher(id: string, monitors: readonly Monitor[]): Json {
  return { [`${PREFIX}watcher`]: [ingressEntry(id, monitors)] };
}

export function encodeIngressWatching(watchers: ReadonlyArray<{ id: string; monitors: readonly Monitor[] }>): Json {
  return { [`${PREFIX}ingress-watching`]: { watcher: watchers.map((w) => ingressEntry(w.id, w.monitors)) } };
}

// ---- assigned-channels ------------------------------------------------------

function encodeLocal(local: LocalMapping): { [key: string]: Json } {
  return 'asmGroup' in local ? { 'asm-group': local.asmGroup } : { source: local.source, group: local.group };
}

/** One mapped-sg list entry (also the value of a yang-patch edit). */
export function encodeMappedSg(c: MappedChannel): Json {
  const out: { [key: string]: Json } = {
    id: c.id,
    state: c.state === 'assigned' ? IDENTITY_ASSIGNED : IDENTITY_UNASSIGNED,
    'global-subscription': encodeChannel(c.global),
  };
  if (c.local) out['local-mapping'] = encodeLocal(c.local);
  return out;
}

function assignedEntry(id: string, channels: readonly MappedChannel[]): Json {
  return { id, 'mapped-sg': channels.map(encodeMappedSg) };
}

/** GET assigned-channels/watcher=ID (also what the prototype reads: ["ietf-mnat:watcher"][0]["mapped-sg"]). */
export function encodeAssignedChannelsWatcher(id: string, channels: readonly MappedChannel[]): Json {
  return { [`${PREFIX}watcher`]: [assignedEntry(id, channels)] };
}

// MappedChannel views are immutable and shared by every watcher holding the
// channel, so each one's JSON text is made once (weakly held) and reused.
const mappedSgText = new WeakMap<MappedChannel, string>();

/** JSON.stringify(encodeAssignedChannelsWatcher(id, channels)), built from cached per-channel text. */
export function encodeAssignedChannelsWatcherText(id: string, channels: readonly MappedChannel[]): string {
  let out = `{"${PREFIX}watcher":[{"id":${JSON.stringify(id)},"mapped-sg":[`;
  for (let i = 0; i < channels.length; i++) {
    const c = channels[i] as MappedChannel;
    let text = mappedSgText.get(c);
    if (text === undefined) {
      text = JSON.stringify(encodeMappedSg(c));
      mappedSgText.set(c, text);
    }
    out += i === 0 ? text : `,${text}`;
  }
  return `${out}]}]}`;
}

export function encodeAssignedChannels(watchers: ReadonlyArray<{ id: string; channels: readonly MappedChannel[] }>): Json {
  return { [`${PREFIX}assigned-channels`]: { watcher: watchers.map((w) => assignedEntry(w.id, w.channels)) } };
}

function uint32(v: unknown, path: string, what: string): number {
  // RFC 7951 encodes uint32 as a number; accept a decimal string too (some encoders quote).
  const n = typeof v === 'string' && /^(0|[1-9][0-9]{0,9})$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new CodecError(path, `${what} must be a uint32, got ${describe(v)}`);
  }
  return n;
}

/** Decodes one mapped-sg entry (a yang-patch value or a list entry). */
export function decodeMappedSg(v: unknown, path = '/mapped-sg'): MappedChannel {
  const m = members(v, path, ['id', 'state', 'global-subscription', 'local-mapping'], 'mapped-sg');
  if (!m.has('id')) throw new CodecError(`${path}/id`, 'mapped-sg id is missing', 'missing-element');
  const id = uint32(m.get('id'), `${path}/id`, 'mapped-sg id');
  const st = m.get('state');
  let state: 'assigned' | 'unassigned';
  if (st === IDENTITY_ASSIGNED || st === 'assigned-local-multicast') state = 'assigned';
  else if (st === IDENTITY_UNASSIGNED || st === 'unassigned') state = 'unassigned';
  else throw new CodecError(`${path}/state`, `state must be "${IDENTITY_ASSIGNED}" or "${IDENTITY_UNASSIGNED}", got ${describe(st)}`, st === undefined ? 'missing-element' : 'invalid-value');
  if (!m.has('global-subscription')) throw new CodecError(`${path}/global-subscription`, 'global-subscription is missing', 'missing-element');
  const gp = `${path}/global-subscription`;
  const global = ssmChannel(members(m.get('global-subscription'), gp, ['source', 'group', 'asm-group'], 'global-subscription'), gp, 'global-subscription');
  let local: LocalMapping | null = null;
  const lv = m.get('local-mapping');
  if (lv !== undefined) {
    const lp = `${path}/local-mapping`;
    const lm = members(lv, lp, ['source', 'group', 'asm-group'], 'local-mapping');
    if (lm.size > 0) {
      const c = channelChoice(lm, lp);
      local = 'asmGroup' in c ? { asmGroup: c.asmGroup } : { source: c.source, group: c.group };
    }
  }
  if (state === 'assigned' && local === null) throw new CodecError(`${path}/local-mapping`, 'an assigned mapping needs a local-mapping', 'missing-element');
  if (state === 'unassigned') local = null;
  return { id, global, state, local };
}

export function decodeAssignedChannels(body: unknown, limits?: CodecLimits): AssignedWatcherData[] {
  const ctx = ctxOf(limits);
  return watcherEntries(body, 'assigned-channels', ctx).map(({ entry, path }) => {
    const m = members(entry, path, ['id', 'mapped-sg'], 'watcher');
    const id = m.has('id') ? idString(m.get('id'), `${path}/id`, ctx, 'watcher id') : undefined;
    const raw = m.has('mapped-sg') ? listOf(m.get('mapped-sg'), `${path}/mapped-sg`, ctx, 'mapped-sg') : [];
    return { id, channels: raw.map((x, k) => decodeMappedSg(x, `${path}/mapped-sg[${k}]`)) };
  });
}

// ---- RPCs -----------------------------------------------------------------

function refreshPeriod(v: unknown, path: string): number {
  if (v === undefined) return 10; // the YANG default
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new CodecError(path, `refresh-period must be a uint16 number of seconds (1..65535), got ${describe(v)}`);
  }
  return v;
}

/** RFC 8040 output, or the prototype's bare object ({"watcher-id":…} at the top level). */
export function encodeGetNewWatcherIdOutput(watcherId: string, refreshPeriodS: number, options?: { prototype?: boolean }): Json {
  const inner = { 'watcher-id': watcherId, 'refresh-period': refreshPeriodS };
  return options?.prototype ? inner : { [`${PREFIX}output`]: inner };
}

/** Accepts {"ietf-mnat:output":{…}} and the prototype's bare form. */
export function decodeGetNewWatcherIdOutput(body: unknown): { watcherId: string; refreshPeriodS: number } {
  const ctx = ctxOf(undefined);
  let inner: unknown = body;
  let path = '';
  if (typeof body === 'object' && body !== null && `${PREFIX}output` in body) {
    [, inner] = topLevel(body, ['output']);
    path = `/${PREFIX}output`;
  }
  const m = members(inner, path || '/', ['watcher-id', 'refresh-period'], 'get-new-watcher-id output');
  if (!m.has('watcher-id')) throw new CodecError(`${path}/watcher-id`, 'watcher-id is missing', 'missing-element');
  return {
    watcherId: idString(m.get('watcher-id'), `${path}/watcher-id`, ctx, 'watcher-id'),
    refreshPeriodS: refreshPeriod(m.get('refresh-period'), `${path}/refresh-period`),
  };
}

export function encodeRefreshWatcherIdInput(watcherId: string): Json {
  return { [`${PREFIX}input`]: { 'watcher-id': watcherId } };
}

/** {"ietf-mnat:input":{"watcher-id":…}} (the prototype qualifies the inner name too). */
export function decodeRefreshWatcherIdInput(body: unknown, limits?: CodecLimits): { watcherId: string } {
  const [, inner] = topLevel(body, ['input']);
  const path = `/${PREFIX}input`;
  const m = members(inner, path, ['watcher-id'], 'refresh-watcher-id input');
  if (!m.has('watcher-id')) throw new CodecError(`${path}/watcher-id`, 'watcher-id is missing', 'missing-element');
  return { watcherId: idString(m.get('watcher-id'), `${path}/watcher-id`, ctxOf(limits), 'watcher-id') };
}

export function encodeRefreshWatcherIdOutput(refreshPeriodS: number): Json {
  return { [`${PREFIX}output`]: { 'refresh-period': refreshPeriodS } };
}

export function decodeRefreshWatcherIdOutput(body: unknown): { refreshPeriodS: number } {
  if (body === null || body === undefined || body === '') return { refreshPeriodS: 10 };
  const [, inner] = topLevel(body, ['output']);
  const path = `/${PREFIX}output`;
  const m = members(inner, path, ['refresh-period'], 'refresh-watcher-id output');
  return { refreshPeriodS: refreshPeriod(m.get('refresh-period'), `${path}/refresh-period`) };
}

/** Turns an AddressError from elsewhere into a CodecError at a path. */
export function codecErrorAt(path: string, e: unknown): CodecError {
  return new CodecError(path, e instanceof AddressError ? e.message : e instanceof Error ? e.message : String(e));
}
