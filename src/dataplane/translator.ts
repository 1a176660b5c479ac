// The kernel translator as both agents use it: loads mnat-translator.bpf.o with
// bpftool, pins program and maps under <pinRoot>/<instance>, attaches the
// program as a clsact ingress filter with tc, and programs the rules map.
// Runs on Node and QuickJS (only the Host seam, no Node APIs).
//
// Rules may carry `keepTtl`; an empty `outputs` list translates in place (the
// packet continues on the attached device's receive path); `sync(rules)`
// replaces the whole rule set in one bpftool exec; `load()` pins without
// attaching (tests, BPF_PROG_TEST_RUN); counters() also counts the packets
// passed on untranslated. Reading the kernel's rules back and following
// recreated output devices live in translator-upkeep.ts, on top of this API:
// the egress needs neither, and its QuickJS bundle has a size budget.
import { AddressError } from '../core/address.ts';
import { channelKey, canonicalChannel, parseChannel, type Channel } from '../core/channel.ts';
import type { Host } from '../host/host.ts';
import {
  ATTACH_ADDED_QDISC,
  COUNTER_SIZE,
  decodeAttach,
  decodeKey,
  decodeU32,
  decodeU64,
  DROP_EVENTS,
  encodeAttach,
  encodeKey,
  encodeU32,
  encodeValue,
  EVENT_NAMES,
  FLAG_KEEP_TTL,
  hexArgs,
  MAX_ATTACH,
  MAX_OUTPUTS,
  MAX_RULES,
  sumCounters,
} from './bpf-map-codec.ts';
import { ensureBpffs } from './bpffs.ts';
import { dumpMap, loadProgram, pinnedProgId, programMaps, runBatch } from './bpftool.ts';
import type { DumpEntry } from './bpf-map-codec.ts';
import { serialQueue } from './upstream-join.ts';
import { findLink, listLinks, requireLink, type LinkInfo } from './link-info.ts';
import { addBpfFilter, addClsact, deleteClsact, deleteFilter, tcState, type TcFilter } from './tc.ts';
import { DataplaneError, TOOL_TIMEOUT_MS } from './tool-exec.ts';
import { processRuns } from '../host/process-runs.ts';

export { DataplaneError } from './tool-exec.ts';

export interface TranslationRule {
  /** (S,G) as it arrives on the attached device. */
  readonly from: Channel;
  /** (S,G) written into the packet. */
  readonly to: Channel;
  /** Output device names (0..4): clone-redirect to all but the last, redirect to the last; none: continue in place. */
  readonly outputs: readonly string[];
  /** Do not decrement TTL / hop limit (the translator is not a routing hop). */
  readonly keepTtl?: boolean;
}

export interface TranslatorOptions {
  /** The compiled BPF object; default: next to this bundle, then dist/, then /lib/bpf (OpenWrt package), /usr/lib/bpf. */
  readonly objectPath?: string;
  /** bpffs directory holding one subdirectory per instance (default /sys/fs/bpf/mnat). */
  readonly pinRoot?: string;
  /** Instance name: letters, digits, '.', '_', '-' (default "default"). */
  readonly instance?: string;
}

export interface ChannelCounters {
  readonly from: Channel;
  readonly packets: number;
  readonly bytes: number;
}

export type CounterList = ChannelCounters[] & {
  /** Matching packets dropped, by reason: ttl, malformed, checksum, vlan, clone. */
  drops?: Record<string, number>;
  /** Matching packets passed on untranslated, by reason: not-udp, ext-header. */
  passed?: Record<string, number>;
};

const OBJECT_NAME = 'mnat-translator.bpf.o';
const REMOVED_LEFTOVERS = 'removed translator state left by an earlier run';
/** The program's name, as tc and bpftool show it. */
const PROG_NAME = 'mnat_translate';
export const RULES_MAP = 'mnat_rules';
const MAP_NAMES = [RULES_MAP, 'mnat_counters', 'mnat_events', 'mnat_attach'] as const;
/** The last mnat_attach slot records the owning process: {pid, OWNER_MAGIC}. */
const OWNER_SLOT = MAX_ATTACH - 1;
const OWNER_MAGIC = 0x4d4e4154; // "MNAT"

interface Attachment {
  readonly ifindex: number;
  readonly slot: number;
  readonly addedQdisc: boolean;
}

function moduleDirectory(): string | null {
  try {
    const url = String(import.meta.url);
    const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
    const slash = path.lastIndexOf('/');
    return slash > 0 ? path.slice(0, slash) : null;
  } catch {
    return null;
  }
}

function defaultObjectCandidates(): string[] {
  const dir = moduleDirectory();
  const candidates: string[] = [];
  if (dir !== null) candidates.push(`${dir}/${OBJECT_NAME}`, `${dir}/../../dist/${OBJECT_NAME}`);
  candidates.push(`dist/${OBJECT_NAME}`, `/lib/bpf/${OBJECT_NAME}`, `/usr/lib/bpf/${OBJECT_NAME}`);
  return candidates;
}

function invalidRule(message: string): DataplaneError {
  return new DataplaneError('invalid-rule', message);
}

function validateRule(rule: TranslationRule): TranslationRule {
  let from: Channel;
  let to: Channel;
  try {
    from = canonicalChannel(rule.from.source, rule.from.group);
    to = canonicalChannel(rule.to.source, rule.to.group);
  } catch (err) {
    if (err instanceof AddressError) throw invalidRule(`translation rule: ${err.message}`);
    throw err;
  }
  if (parseChannel(from.source, from.group).family !== parseChannel(to.source, to.group).family) {
    throw invalidRule(`translation rule ${channelKey(from)} -> ${channelKey(to)} changes the IP family; both must be IPv4 or both IPv6`);
  }
  if (rule.outputs.length > MAX_OUTPUTS) {
    throw invalidRule(`translation rule ${channelKey(from)} has ${rule.outputs.length} outputs; at most ${MAX_OUTPUTS} are supported`);
  }
  if (new Set(rule.outputs).size !== rule.outputs.length) {
    throw invalidRule(`translation rule ${channelKey(from)} lists an output device twice: ${rule.outputs.join(', ')}`);
  }
  return { from, to, outputs: [...rule.outputs], ...(rule.keepTtl ? { keepTtl: true } : {}) };
}

/** The bpftool batch line that writes one map entry. */
function mapUpdate(pin: string, key: Uint8Array, value: Uint8Array): string[] {
  return ['map', 'update', 'pinned', pin, 'key', 'hex', ...hexArgs(key), 'value', 'hex', ...hexArgs(value)];
}

/** The bpftool batch line that deletes one map entry. */
function mapDelete(pin: string, key: Uint8Array): string[] {
  return ['map', 'delete', 'pinned', pin, 'key', 'hex', ...hexArgs(key)];
}

/** One translator instance: its pins, the devices it is attached to, its rules. */
export interface Translator {
  /** bpffs directory of this instance's program and maps. */
  readonly pinDir: string;
  readonly progPin: string;
  /** Where its tools run (the namespace it works in). */
  readonly host: Host;
  /** The devices attach() was asked for, including ones that are gone for now. */
  attachedDevices(): string[];
  /** The rules as programmed through this object (what the kernel should hold). */
  rules(): TranslationRule[];
  /** Removes what an earlier run left (after a crash), loads and pins program and maps. Idempotent. */
  load(): Promise<void>;
  /**
   * Attaches to device. Idempotent: a second call is a no-op while our filter is
   * in place, and attaches afresh when the device was recreated (new ifindex,
   * e.g. a PPPoE reconnect) or the filter was removed behind our back.
   * True when it attached (afresh), false when our filter was in place.
   */
  attach(device: string): Promise<boolean>;
  /** Adds or replaces the rule for rule.from; a new rule starts with zero counters. */
  upsert(rule: TranslationRule): Promise<void>;
  /** Removes the rule for `from` and its counters; no rule is no error. */
  remove(from: Channel): Promise<void>;
  /** Makes the rule set exactly `rules`, in one bpftool exec. */
  sync(rules: readonly TranslationRule[]): Promise<void>;
  /** Per-rule packet and byte counters, with the drop and pass events. */
  counters(): Promise<CounterList>;
  /** Removes filters, any clsact qdisc it added, pins and the pin directory; also state of a crashed run. */
  detach(): Promise<void>;
  /**
   * The sources (`from`) of the rules a dead predecessor had, found while
   * removing what it left (its pins at load, its filter at attach); each handed
   * out once. Its upstream joins were made for exactly these channels.
   */
  takeStaleRules(): Channel[];
  /**
   * Without loading: removes what a dead run of this instance left (its pins,
   * filters and clsact) and any filter on `device` whose program's owner record
   * names a dead process. Throws when the owner still runs. Returns takeStaleRules().
   */
  sweep(device: string): Promise<Channel[]>;
}

// A closure rather than a class: its state is locals, which minify in the
// egress's QuickJS bundle (`this.#x` members do not), and the bundle has a
// size budget. Operations that change the kernel run one at a time (serial).
export function createTranslator(host: Host, options: TranslatorOptions = {}): Translator {
  const instance = options.instance ?? 'default';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(instance) || instance === '.' || instance === '..') {
    throw new DataplaneError('invalid-option', `translator instance "${instance}" must be 1-64 letters, digits, '.', '_' or '-'`);
  }
  const pinRoot = (options.pinRoot ?? '/sys/fs/bpf/mnat').replace(/\/+$/, '');
  if (!/^\/[^\s"'\\#]*$/.test(pinRoot)) throw new DataplaneError('invalid-option', `pin root "${pinRoot}" must be an absolute path without spaces or quotes`);
  const pinDir = `${pinRoot}/${instance}`;
  const progPin = `${pinDir}/prog`;
  const objectCandidates = options.objectPath !== undefined ? [options.objectPath] : defaultObjectCandidates();
  let loaded = false;
  let ourProgId: number | null = null;
  const attached = new Map<string, Attachment>();
  const programmed = new Map<string, TranslationRule>();
  const staleRules: Channel[] = [];
  const inherit = (entries: DumpEntry[]): void => void staleRules.push(...entries.map((e) => decodeKey(e.key)));

  function mapPin(name: (typeof MAP_NAMES)[number]): string {
    return `${pinDir}/${name}`;
  }

  /** Runs operations one at a time, in call order. */
  const serial = serialQueue();

  function attach(device: string): Promise<boolean> {
    return serial(async () => {
      const known = attached.get(device);
      if (known !== undefined) {
        if (await stillAttached(device, known)) return false;
        attached.delete(device);
        await writeAttachSlot(known.slot, 0, 0);
      }
      await attachNow(device);
      return true;
    });
  }

  async function stillAttached(device: string, a: Attachment): Promise<boolean> {
    const link = await findLink(host, device);
    if (link === null || link.ifindex !== a.ifindex) return false;
    return (await tcState(host, device))?.ingressFilters.some((f) => f.progId === ourProgId) ?? false;
  }

  async function attachNow(device: string): Promise<void> {
    await loadNow();
    const link = await requireLink(host, device);
    // The program reads an Ethernet header first; on a PPP or tunnel device it would match nothing, silently.
    if (link.linkType !== null && link.linkType !== 'ether') {
      throw new DataplaneError('not-ethernet', `"${device}" is not Ethernet (link type ${link.linkType}): attach to the Ethernet/VLAN device carrying the multicast, not PPPoE or a tunnel`);
    }
    const used = new Set([...attached.values()].map((a) => a.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= OWNER_SLOT) throw new DataplaneError('too-many-devices', `a translator attaches to at most ${OWNER_SLOT} devices`);
    const st = await tcState(host, device);
    const hasQdisc = !!st?.qdisc;
    // A clsact a dead predecessor added is ours to remove at the end, as if we had added it.
    const addedQdisc = !hasQdisc || (await removeDeadFilters(device, link.ifindex, st!.ingressFilters));
    if (!hasQdisc) await addClsact(host, device);
    // Record the attachment before the filter exists, so a crash in between is recoverable.
    await writeAttachSlot(slot, link.ifindex, addedQdisc ? ATTACH_ADDED_QDISC : 0);
    try {
      await addBpfFilter(host, device, progPin);
    } catch (err) {
      if (!hasQdisc) await deleteClsact(host, device).catch(() => undefined);
      await writeAttachSlot(slot, 0, 0).catch(() => undefined);
      throw err;
    }
    attached.set(device, { ifindex: link.ifindex, slot, addedQdisc });
    host.log.info('translator attached', { device, ifindex: link.ifindex, pin: pinDir, addedQdisc });
  }

  async function upsert(rule: TranslationRule): Promise<void> {
    const valid = validateRule(rule);
    return serial(async () => {
      requireLoaded('upsert');
      const failure = await runBatch(host, upsertCommands(valid, await outputLinks(valid.outputs), !programmed.has(channelKey(valid.from))));
      if (failure !== null) throw mapError(failure.error, `adding ${channelKey(valid.from)} -> ${channelKey(valid.to)}`);
      programmed.set(channelKey(valid.from), valid);
    });
  }

  async function remove(from: Channel): Promise<void> {
    let key: Uint8Array;
    try {
      key = encodeKey(from);
    } catch (err) {
      throw invalidRule(`remove: ${(err as Error).message}`);
    }
    return serial(async () => {
      if (!loaded) return;
      const k = channelKey(canonicalChannel(from.source, from.group));
      const counterReset = counterResetCommands(key, true);
      const failure = await runBatch(host, [mapDelete(mapPin('mnat_rules'), key), ...counterReset]);
      if (failure !== null) {
        if (failure.index !== 0 || !/No such file|ENOENT/.test(failure.error)) throw mapError(failure.error, `removing ${k}`);
        const again = await runBatch(host, counterReset);
        if (again !== null) throw mapError(again.error, `removing the counters of ${k}`);
      }
      programmed.delete(k);
    });
  }

  async function sync(rules: readonly TranslationRule[]): Promise<void> {
    const valid = rules.map(validateRule);
    const desired = new Map(valid.map((r) => [channelKey(r.from), r]));
    if (desired.size !== valid.length) throw invalidRule('sync: a source channel appears in two rules');
    if (desired.size > MAX_RULES) throw new DataplaneError('map-full', `sync: ${desired.size} rules, the map holds ${MAX_RULES}`);
    return serial(async () => {
      requireLoaded('sync');
      // What the map holds, by channel key, with each entry's own key bytes (deleted as they are).
      const present = new Map((await dumpMap(host, mapPin('mnat_rules'))).map((e) => [channelKey(decodeKey(e.key)), e.key]));
      const links = await outputLinks(valid.flatMap((r) => r.outputs));
      const commands: string[][] = [];
      for (const [k, key] of present) {
        if (desired.has(k)) continue;
        commands.push(mapDelete(mapPin('mnat_rules'), key), ...counterResetCommands(key, true));
      }
      for (const [k, r] of desired) {
        commands.push(...upsertCommands(r, links, !present.has(k)));
      }
      const failure = await runBatch(host, commands);
      if (failure !== null) throw mapError(failure.error, `syncing ${desired.size} rules`);
      programmed.clear();
      for (const [k, r] of desired) programmed.set(k, r);
    });
  }

  function counters(): Promise<CounterList> {
    return serial(async () => {
      const list: CounterList = [];
      if (!loaded) return list;
      for (const entry of await dumpMap(host, mapPin('mnat_counters'))) {
        const from = decodeKey(entry.key);
        if (!programmed.has(channelKey(from))) continue; // a packet raced a remove
        list.push({ from, ...sumCounters(entry.values) });
      }
      const drops: Record<string, number> = {};
      const passed: Record<string, number> = {};
      for (const entry of await dumpMap(host, mapPin('mnat_events'))) {
        const name = EVENT_NAMES[decodeU32(entry.key)];
        if (name === undefined) continue;
        const total = Number(entry.values.reduce((sum, v) => sum + decodeU64(v), 0n));
        (DROP_EVENTS.includes(name) ? drops : passed)[name] = total;
      }
      list.drops = drops;
      list.passed = passed;
      return list;
    });
  }

  function detach(): Promise<void> {
    return serial(async () => {
      // Best effort throughout: the pins go even when a device or namespace vanished.
      // Few execs (a stop has procd's term_timeout, and an exec on a router costs
      // a good part of a second): loaded, our own state is known and only the
      // filters need tc; otherwise whatever an earlier run left is looked up.
      let firstError: unknown = null;
      for (const [device, a] of attached) {
        await removeFilters(device, ourProgId, a.addedQdisc).catch((err: unknown) => (firstError ??= err));
      }
      attached.clear();
      if (loaded) removePins();
      else await cleanupStale().catch((err: unknown) => (firstError ??= err)); // what the attach map lists, then the pins
      removePinDirectories();
      loaded = false;
      ourProgId = null;
      programmed.clear();
      if (firstError !== null) throw firstError;
    });
  }

  function removePins(): void {
    for (const name of [...MAP_NAMES, 'prog']) host.removeFile(`${pinDir}/${name}`);
  }

  /** Removes the pin directory and the shared root; each stays when not empty (another instance). */
  function removePinDirectories(): void {
    host.removeFile(pinDir);
    host.removeFile(pinRoot);
  }

  function sweep(device: string): Promise<Channel[]> {
    return serial(async () => {
      await cleanupStale();
      const link = await findLink(host, device);
      const st = link && (await tcState(host, device));
      // The dead owner added the clsact: removed when nothing else uses it.
      if (st?.qdisc === 'clsact' && (await removeDeadFilters(device, link!.ifindex, st.ingressFilters))) await removeFilters(device, null, true);
      removePinDirectories();
      return takeStaleRules();
    });
  }

  function takeStaleRules(): Channel[] {
    return staleRules.splice(0);
  }

  /**
   * Removes the ingress filters on device that run a translator program whose
   * owner record (mnat_attach's last slot, reached through the program's maps:
   * its pins may be gone with a dead process's mount namespace) names a process
   * that no longer exists; their rules are kept for takeStaleRules(). Filters of
   * running processes, or without an owner record, stay. True when such a dead
   * owner had added the device's clsact.
   */
  async function removeDeadFilters(device: string, ifindex: number, filters: readonly TcFilter[]): Promise<boolean> {
    let addedQdisc = false;
    for (const f of filters) {
      // A program of that name is a bpf filter: it has an id. Ours has a live owner: us.
      if (f.progName !== PROG_NAME) continue;
      const maps = await programMaps(host, f.progId!);
      const slots = maps['mnat_attach'] === undefined ? [] : (await dumpMap(host, maps['mnat_attach'])).map((e) => decodeAttach(e.values[0] as Uint8Array));
      const owner = slots[OWNER_SLOT];
      if (owner?.flags !== OWNER_MAGIC || processRuns(host, owner.ifindex)) continue;
      if (maps['mnat_rules'] !== undefined) inherit(await dumpMap(host, maps['mnat_rules']));
      await deleteFilter(host, device, 'ingress', f.pref);
      addedQdisc ||= slots.some((a, i) => i < OWNER_SLOT && a.ifindex === ifindex && (a.flags & ATTACH_ADDED_QDISC) !== 0);
      host.log.warn(REMOVED_LEFTOVERS, { device, pid: owner.ifindex });
    }
    return addedQdisc;
  }

  function requireLoaded(what: string): void {
    if (!loaded) throw new DataplaneError('not-loaded', `${what}: the translator is not loaded; call attach(device) first`);
  }

  async function loadNow(): Promise<void> {
    if (loaded) return;
    const objectPath = objectCandidates.find((p) => host.fileExists(p));
    if (objectPath === undefined) {
      throw new DataplaneError(
        'object-not-found',
        `BPF object ${OBJECT_NAME} not found (looked in: ${objectCandidates.join(', ')}); run \`npm run build\` (compiles src/dataplane/mnat-translator.bpf.c with clang) or pass objectPath`,
      );
    }
    await makePinDir();
    await cleanupStale();
    await loadProgram(host, objectPath, progPin, pinDir);
    ourProgId = await pinnedProgId(host, progPin);
    loaded = true;
    if (host.pid !== null) await writeAttachSlot(OWNER_SLOT, host.pid, OWNER_MAGIC);
  }

  async function makePinDir(): Promise<void> {
    const problem = await ensureBpffs(host, pinRoot);
    if (problem !== null) throw new DataplaneError('no-bpffs', problem);
    try {
      try {
        host.makeDirectory(pinDir);
      } catch {
        host.makeDirectory(pinDir); // once more: another instance's detach may have removed the shared root just then
      }
    } catch (err) {
      throw new DataplaneError('command-failed', `cannot create the pin directory: ${(err as Error).message}`);
    }
  }

  /** Undoes whatever an earlier run of this instance left: filters, a clsact it added, pins. */
  async function cleanupStale(): Promise<void> {
    const attachPin = mapPin('mnat_attach');
    const leftovers = MAP_NAMES.some((m) => host.fileExists(mapPin(m))) || host.fileExists(progPin);
    if (!leftovers) return;
    const staleId = await pinnedProgId(host, progPin);
    const slots: Array<{ ifindex: number; flags: number }> = [];
    if (host.fileExists(attachPin)) {
      for (const entry of await dumpMap(host, attachPin).catch(() => [])) {
        const slot = decodeU32(entry.key);
        const a = decodeAttach(entry.values[0] as Uint8Array);
        if (slot === OWNER_SLOT) {
          if (a.flags === OWNER_MAGIC && a.ifindex !== host.pid && processRuns(host, a.ifindex) && !loaded) {
            throw new DataplaneError(
              'command-failed',
              `translator instance ${pinDir} is in use by the running process ${a.ifindex}; stop it or choose another instance name`,
            );
          }
        } else if (a.ifindex !== 0) {
          slots.push(a);
        }
      }
    }
    // Its rules: the channels it joined upstream (takeStaleRules).
    if (host.fileExists(mapPin('mnat_rules'))) inherit(await dumpMap(host, mapPin('mnat_rules')).catch(() => []));
    let filterError: unknown = null;
    try {
      if (slots.length > 0) {
        const links = await listLinks(host);
        for (const s of slots) {
          const link = links.find((l) => l.ifindex === s.ifindex);
          if (link !== undefined) await removeFilters(link.name, staleId, (s.flags & ATTACH_ADDED_QDISC) !== 0);
        }
      }
    } catch (err) {
      filterError = err;
    }
    removePins();
    if (filterError !== null) throw filterError;
    if (!loaded) host.log.warn(REMOVED_LEFTOVERS, { pin: pinDir, devices: slots.length });
  }

  /**
   * Deletes the ingress filters running progId, or the whole clsact when we
   * added it and nothing else uses it (one exec removes both); two execs in all.
   */
  async function removeFilters(device: string, progId: number | null, addedQdisc: boolean): Promise<void> {
    const st = await tcState(host, device);
    if (st === null) return; // gone: its filters went with it
    const ours = st.ingressFilters.filter((f) => progId !== null && f.progId === progId);
    if (addedQdisc && st.qdisc === 'clsact' && st.ingressFilters.length + st.egressFilters.length === ours.length) return deleteClsact(host, device);
    for (const f of ours) await deleteFilter(host, device, 'ingress', f.pref);
  }

  async function writeAttachSlot(slot: number, ifindex: number, flags: number): Promise<void> {
    const failure = await runBatch(host, [
      mapUpdate(mapPin('mnat_attach'), encodeU32(slot), encodeAttach(ifindex, flags)),
    ]);
    if (failure !== null) throw mapError(failure.error, 'recording the attachment');
  }

  /** The output devices by name, each looked up once; 'device-gone' when one is missing. */
  async function outputLinks(names: readonly string[]): Promise<Map<string, LinkInfo>> {
    const links = new Map<string, LinkInfo>();
    for (const name of names) if (!links.has(name)) links.set(name, await requireLink(host, name));
    return links;
  }

  function upsertCommands(rule: TranslationRule, links: ReadonlyMap<string, LinkInfo>, isNew: boolean): string[][] {
    const key = encodeKey(rule.from);
    const value = encodeValue({
      to: rule.to,
      outputs: rule.outputs.map((name) => links.get(name)!),
      flags: rule.keepTtl ? FLAG_KEEP_TTL : 0,
    });
    const commands = [mapUpdate(mapPin('mnat_rules'), key, value)];
    // A new rule starts from zero (counters are created by the program on the first packet).
    if (isNew) commands.push(...counterResetCommands(key, false));
    return commands;
  }

  /** Zero the counters entry (creating it), and with `andDelete` delete it: never fails on a missing key. */
  function counterResetCommands(key: Uint8Array, andDelete: boolean): string[][] {
    const pin = mapPin('mnat_counters');
    const commands = [mapUpdate(pin, key, new Uint8Array(COUNTER_SIZE))];
    if (andDelete) commands.push(mapDelete(pin, key));
    return commands;
  }

  function mapError(error: string, what: string): DataplaneError {
    if (/Argument list too long|E2BIG|No space/i.test(error)) {
      return new DataplaneError('map-full', `${what}: the translation map is full (${MAX_RULES} rules); remove unused mappings`);
    }
    return new DataplaneError('command-failed', `${what}: bpftool: ${error} (pins in ${pinDir})`);
  }

  return {
    pinDir,
    progPin,
    host,
    attachedDevices: () => [...attached.keys()],
    takeStaleRules,
    sweep,
    rules: () => [...programmed.values()],
    load: () => serial(loadNow),
    attach,
    upsert,
    remove,
    sync,
    counters,
    detach,
  };
}
