// The kernel translator as both agents use it: loads mnat-translator.bpf.o with
// bpftool, pins program and maps under <pinRoot>/<instance>, attaches the
// program as a clsact ingress filter with tc, and programs the rules map.
// Runs on Node and QuickJS (only the Host seam, no Node APIs).
//
// Additions to the agreed API (docs/API.md): rules may carry `keepTtl`; an empty
// `outputs` list translates in place (the packet continues on the attached
// device's receive path); `sync(rules)` replaces the whole rule set in one
// bpftool exec; `load()` pins without attaching (tests, BPF_PROG_TEST_RUN);
// `refresh()` follows recreated devices; `progStats()` reads run time / count;
// counters() also has `passed`.
import { AddressError } from '../core/address.ts';
import { channelKey, canonicalChannel, parseChannel, type Channel } from '../core/channel.ts';
import type { Host } from '../host/host.ts';
import {
  ATTACH_ADDED_QDISC,
  COUNTER_SIZE,
  decodeAttach,
  decodeKey,
  decodeRuleEntry,
  decodeU32,
  decodeU64,
  decodeValue,
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
import { dumpMap, loadProgram, pinnedProgId, pinnedProgStats, runBatch, type ProgStats } from './bpftool.ts';
import { findLink, listLinks, requireLink, type LinkInfo } from './link-info.ts';
import { addBpfFilter, addClsact, deleteClsact, deleteFilter, ingressQdisc, listFilters } from './tc.ts';
import { DataplaneError, runTool, TOOL_TIMEOUT_MS } from './tool-exec.ts';

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
const MAP_NAMES = ['mnat_rules', 'mnat_counters', 'mnat_events', 'mnat_attach'] as const;
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

export class Translator {
  readonly pinDir: string;
  readonly progPin: string;
  readonly #pinRoot: string;
  readonly #objectCandidates: string[];
  #queue: Promise<unknown> = Promise.resolve();
  #loaded = false;
  #progId: number | null = null;
  readonly #attached = new Map<string, Attachment>();
  readonly #rules = new Map<string, TranslationRule>();
  readonly #ifnames = new Map<number, string>();
  readonly #host: Host;

  private constructor(host: Host, options: TranslatorOptions) {
    this.#host = host;
    const instance = options.instance ?? 'default';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(instance) || instance === '.' || instance === '..') {
      throw invalidRule(`translator instance "${instance}" must be 1-64 letters, digits, '.', '_' or '-'`);
    }
    this.#pinRoot = (options.pinRoot ?? '/sys/fs/bpf/mnat').replace(/\/+$/, '');
    if (!/^\/[^\s"'\\#]*$/.test(this.#pinRoot)) throw invalidRule(`pin root "${this.#pinRoot}" must be an absolute path without spaces or quotes`);
    this.pinDir = `${this.#pinRoot}/${instance}`;
    this.progPin = `${this.pinDir}/prog`;
    this.#objectCandidates = options.objectPath !== undefined ? [options.objectPath] : defaultObjectCandidates();
  }

  static create(host: Host, options: TranslatorOptions = {}): Translator {
    return new Translator(host, options);
  }

  #mapPin(name: (typeof MAP_NAMES)[number]): string {
    return `${this.pinDir}/${name}`;
  }

  /** Runs operations one at a time, in call order. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Removes what an earlier run left (after a crash), loads and pins program and maps. Idempotent. */
  load(): Promise<void> {
    return this.#serial(() => this.#loadNow());
  }

  /**
   * Attaches to device. Idempotent: a second call is a no-op while our filter is
   * in place, and attaches afresh when the device was recreated (new ifindex,
   * e.g. a PPPoE reconnect) or the filter was removed behind our back.
   */
  attach(device: string): Promise<void> {
    return this.#serial(async () => {
      const known = this.#attached.get(device);
      if (known !== undefined) {
        if (await this.#stillAttached(device, known)) return;
        await this.#forget(device, known);
      }
      await this.#attachNow(device);
    });
  }

  /**
   * After devices were recreated (hotplug, network restart): re-attaches where our
   * filter is gone and rewrites the rules whose output devices changed ifindex or
   * MAC. Outputs that do not exist (now) are left as they are and reported.
   */
  refresh(): Promise<{ reattached: string[]; rewritten: number; missing: string[] }> {
    return this.#serial(async () => {
      const reattached: string[] = [];
      for (const [device, a] of [...this.#attached]) {
        if (await this.#stillAttached(device, a)) continue;
        await this.#forget(device, a);
        if ((await findLink(this.#host, device)) === null) continue; // gone: nothing to attach to yet
        await this.#attachNow(device);
        reattached.push(device);
      }
      if (!this.#loaded) return { reattached, rewritten: 0, missing: [] };
      const links = new Map<string, LinkInfo | null>();
      for (const name of new Set([...this.#rules.values()].flatMap((r) => r.outputs))) links.set(name, await findLink(this.#host, name));
      const missing = [...links].filter(([, l]) => l === null).map(([n]) => n);
      const commands: string[][] = [];
      for (const entry of await dumpMap(this.#host, this.#mapPin('mnat_rules'))) {
        const from = decodeKey(entry.key);
        const rule = this.#rules.get(channelKey(from));
        if (rule === undefined) continue;
        const now = rule.outputs.map((n) => links.get(n) ?? null);
        if (now.some((l) => l === null)) continue;
        const current = decodeValue(entry.values[0] as Uint8Array, parseChannel(from.source, from.group).family).outputs;
        const same = current.length === now.length && current.every((o, i) => o.ifindex === now[i]?.ifindex && o.mac === now[i]?.mac);
        if (!same) commands.push(...this.#upsertCommands(rule, now as LinkInfo[], false));
      }
      const failure = await runBatch(this.#host, commands);
      if (failure !== null) throw this.#mapError(failure.error, 'rewriting rules after a device change');
      if (reattached.length > 0 || commands.length > 0) {
        this.#host.log.info('translator refreshed', { reattached: reattached.join(','), rewritten: commands.length, missing: missing.join(',') });
      }
      return { reattached, rewritten: commands.length, missing };
    });
  }

  async #stillAttached(device: string, a: Attachment): Promise<boolean> {
    const link = await findLink(this.#host, device);
    if (link === null || link.ifindex !== a.ifindex) return false;
    return (await listFilters(this.#host, device, 'ingress')).some((f) => f.progId === this.#progId);
  }

  async #forget(device: string, a: Attachment): Promise<void> {
    this.#attached.delete(device);
    await this.#writeAttachSlot(a.slot, 0, 0);
  }

  async #attachNow(device: string): Promise<void> {
    await this.#loadNow();
    const link = await requireLink(this.#host, device);
    const used = new Set([...this.#attached.values()].map((a) => a.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= OWNER_SLOT) throw invalidRule(`a translator attaches to at most ${OWNER_SLOT} devices`);
    const existing = await ingressQdisc(this.#host, device);
    const addedQdisc = existing === null;
    if (addedQdisc) await addClsact(this.#host, device);
    // Record the attachment before the filter exists, so a crash in between is recoverable.
    await this.#writeAttachSlot(slot, link.ifindex, addedQdisc ? ATTACH_ADDED_QDISC : 0);
    try {
      await addBpfFilter(this.#host, device, this.progPin);
    } catch (err) {
      if (addedQdisc) await deleteClsact(this.#host, device).catch(() => undefined);
      await this.#writeAttachSlot(slot, 0, 0).catch(() => undefined);
      throw err;
    }
    this.#attached.set(device, { ifindex: link.ifindex, slot, addedQdisc });
    this.#ifnames.set(link.ifindex, device);
    this.#host.log.info('translator attached', { device, ifindex: link.ifindex, pin: this.pinDir, addedQdisc });
  }

  async upsert(rule: TranslationRule): Promise<void> {
    const valid = validateRule(rule);
    return this.#serial(async () => {
      this.#requireLoaded('upsert');
      const links = await this.#resolveOutputs(valid.outputs);
      const failure = await runBatch(this.#host, this.#upsertCommands(valid, links, !this.#rules.has(channelKey(valid.from))));
      if (failure !== null) throw this.#mapError(failure.error, `adding ${channelKey(valid.from)} -> ${channelKey(valid.to)}`);
      this.#rules.set(channelKey(valid.from), valid);
    });
  }

  async remove(from: Channel): Promise<void> {
    let key: Uint8Array;
    try {
      key = encodeKey(from);
    } catch (err) {
      throw invalidRule(`remove: ${(err as Error).message}`);
    }
    return this.#serial(async () => {
      if (!this.#loaded) return;
      const k = channelKey(canonicalChannel(from.source, from.group));
      const counterReset = this.#counterResetCommands(key, true);
      const failure = await runBatch(this.#host, [mapDelete(this.#mapPin('mnat_rules'), key), ...counterReset]);
      if (failure !== null) {
        if (failure.index !== 0 || !/No such file|ENOENT/.test(failure.error)) throw this.#mapError(failure.error, `removing ${k}`);
        const again = await runBatch(this.#host, counterReset);
        if (again !== null) throw this.#mapError(again.error, `removing the counters of ${k}`);
      }
      this.#rules.delete(k);
    });
  }

  /** Makes the rule set exactly `rules`, in one bpftool exec. */
  async sync(rules: readonly TranslationRule[]): Promise<void> {
    const valid = rules.map(validateRule);
    const desired = new Map(valid.map((r) => [channelKey(r.from), r]));
    if (desired.size !== valid.length) throw invalidRule('sync: a source channel appears in two rules');
    if (desired.size > MAX_RULES) throw new DataplaneError('map-full', `sync: ${desired.size} rules, the map holds ${MAX_RULES}`);
    return this.#serial(async () => {
      this.#requireLoaded('sync');
      const present = new Set((await dumpMap(this.#host, this.#mapPin('mnat_rules'))).map((e) => channelKey(decodeKey(e.key))));
      const names = [...new Set(valid.flatMap((r) => r.outputs))];
      const links = new Map<string, LinkInfo>();
      for (const name of names) links.set(name, await requireLink(this.#host, name));
      const commands: string[][] = [];
      for (const k of present) {
        if (desired.has(k)) continue;
        const key = encodeKey(this.#channelFromKey(k));
        commands.push(mapDelete(this.#mapPin('mnat_rules'), key), ...this.#counterResetCommands(key, true));
      }
      for (const [k, r] of desired) {
        commands.push(...this.#upsertCommands(r, r.outputs.map((n) => links.get(n) as LinkInfo), !present.has(k)));
      }
      const failure = await runBatch(this.#host, commands);
      if (failure !== null) throw this.#mapError(failure.error, `syncing ${desired.size} rules`);
      this.#rules.clear();
      for (const [k, r] of desired) this.#rules.set(k, r);
    });
  }

  list(): Promise<TranslationRule[]> {
    return this.#serial(async () => {
      if (!this.#loaded) return [];
      const entries = await dumpMap(this.#host, this.#mapPin('mnat_rules'));
      const rules: TranslationRule[] = [];
      for (const entry of entries) {
        const { from, value } = decodeRuleEntry(entry);
        const outputs: string[] = [];
        for (const o of value.outputs) outputs.push(await this.#ifname(o.ifindex));
        rules.push({ from, to: value.to, outputs, ...(value.flags & FLAG_KEEP_TTL ? { keepTtl: true } : {}) });
      }
      return rules;
    });
  }

  counters(): Promise<CounterList> {
    return this.#serial(async () => {
      const list: CounterList = [];
      if (!this.#loaded) return list;
      for (const entry of await dumpMap(this.#host, this.#mapPin('mnat_counters'))) {
        const from = decodeKey(entry.key);
        if (!this.#rules.has(channelKey(from))) continue; // a packet raced a remove
        list.push({ from, ...sumCounters(entry.values) });
      }
      const drops: Record<string, number> = {};
      const passed: Record<string, number> = {};
      for (const entry of await dumpMap(this.#host, this.#mapPin('mnat_events'))) {
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

  /** Run time and count of the program (needs sysctl kernel.bpf_stats_enabled=1 to advance). */
  progStats(): Promise<ProgStats> {
    return this.#serial(async () => {
      this.#requireLoaded('progStats');
      return pinnedProgStats(this.#host, this.progPin);
    });
  }

  /** Removes filters, any clsact qdisc it added, pins and the pin directory; also state of a crashed run. */
  detach(): Promise<void> {
    return this.#serial(async () => {
      // Best effort throughout: the pins go even when a device or namespace vanished.
      let firstError: unknown = null;
      for (const [device, a] of this.#attached) {
        await this.#removeFilters(device, this.#progId, a.addedQdisc).catch((err: unknown) => (firstError ??= err));
      }
      this.#attached.clear();
      await this.#cleanupStale().catch((err: unknown) => (firstError ??= err)); // what the attach map lists, then the pins
      for (const dir of [this.pinDir, this.#pinRoot]) await this.#host.exec(['rmdir', dir], { timeoutMs: TOOL_TIMEOUT_MS }).catch(() => undefined); // fails harmlessly when not empty
      this.#loaded = false;
      this.#progId = null;
      this.#rules.clear();
      if (firstError !== null) throw firstError;
    });
  }

  // ---- internals ----

  #requireLoaded(what: string): void {
    if (!this.#loaded) throw invalidRule(`${what}: the translator is not loaded; call attach(device) first`);
  }

  async #loadNow(): Promise<void> {
    if (this.#loaded) return;
    const objectPath = this.#objectCandidates.find((p) => this.#host.fileExists(p));
    if (objectPath === undefined) {
      throw new DataplaneError(
        'object-not-found',
        `BPF object ${OBJECT_NAME} not found (looked in: ${this.#objectCandidates.join(', ')}); run \`npm run build\` (compiles src/dataplane/mnat-translator.bpf.c with clang) or pass objectPath`,
      );
    }
    await this.#makePinDir();
    await this.#cleanupStale();
    await loadProgram(this.#host, objectPath, this.progPin, this.pinDir);
    this.#progId = await pinnedProgId(this.#host, this.progPin);
    this.#loaded = true;
    const pid = this.#ownPid();
    if (pid !== null) await this.#writeAttachSlot(OWNER_SLOT, pid, OWNER_MAGIC);
  }

  async #makePinDir(): Promise<void> {
    try {
      try {
        this.#host.makeDirectory(this.pinDir);
      } catch {
        this.#host.makeDirectory(this.pinDir); // once more: another instance's detach may have removed the shared root just then
      }
      return;
    } catch (err) {
      if (!this.#pinRoot.startsWith('/sys/fs/bpf/')) {
        throw new DataplaneError('command-failed', `cannot create the pin directory ${this.pinDir}: ${(err as Error).message}; is a bpf filesystem mounted there?`);
      }
    }
    // bpffs is not mounted (sysfs refuses mkdir): mount it, as OpenWrt does at boot.
    const mount = await runTool(this.#host, ['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    try {
      this.#host.makeDirectory(this.pinDir);
    } catch (err) {
      throw new DataplaneError(
        'command-failed',
        `cannot create ${this.pinDir} (${(err as Error).message}); mounting bpffs at /sys/fs/bpf ${mount.code === 0 ? 'succeeded' : `failed: ${mount.stderr.trim()}`}`,
      );
    }
  }

  #ownPid(): number | null {
    const stat = this.#host.readFile('/proc/self/stat');
    const pid = stat === null ? NaN : parseInt(stat, 10);
    return pid > 0 ? pid : null;
  }

  /** Undoes whatever an earlier run of this instance left: filters, a clsact it added, pins. */
  async #cleanupStale(): Promise<void> {
    const attachPin = this.#mapPin('mnat_attach');
    const leftovers = MAP_NAMES.some((m) => this.#host.fileExists(this.#mapPin(m))) || this.#host.fileExists(this.progPin);
    if (!leftovers) return;
    const staleId = await pinnedProgId(this.#host, this.progPin);
    const slots: Array<{ ifindex: number; flags: number }> = [];
    if (this.#host.fileExists(attachPin)) {
      for (const entry of await dumpMap(this.#host, attachPin).catch(() => [])) {
        const slot = decodeU32(entry.key);
        const a = decodeAttach(entry.values[0] as Uint8Array);
        if (slot === OWNER_SLOT) {
          if (a.flags === OWNER_MAGIC && a.ifindex !== this.#ownPid() && this.#host.fileExists(`/proc/${a.ifindex}`) && !this.#loaded) {
            throw new DataplaneError(
              'command-failed',
              `translator instance ${this.pinDir} is in use by the running process ${a.ifindex}; stop it or choose another instance name`,
            );
          }
        } else if (a.ifindex !== 0) {
          slots.push(a);
        }
      }
    }
    let filterError: unknown = null;
    try {
      if (slots.length > 0) {
        const links = await listLinks(this.#host);
        for (const s of slots) {
          const link = links.find((l) => l.ifindex === s.ifindex);
          if (link !== undefined) await this.#removeFilters(link.name, staleId, (s.flags & ATTACH_ADDED_QDISC) !== 0);
        }
      }
    } catch (err) {
      filterError = err;
    }
    for (const name of [...MAP_NAMES, 'prog']) this.#host.removeFile(`${this.pinDir}/${name}`);
    if (filterError !== null) throw filterError;
    if (!this.#loaded) this.#host.log.warn('removed translator state left by an earlier run', { pin: this.pinDir, devices: slots.length });
  }

  /** Deletes the ingress filters running progId; deletes clsact when we added it and it is now empty. */
  async #removeFilters(device: string, progId: number | null, addedQdisc: boolean): Promise<void> {
    if ((await findLink(this.#host, device)) === null) return; // gone: its filters went with it
    if (progId !== null) {
      for (const f of await listFilters(this.#host, device, 'ingress')) {
        if (f.progId === progId) await deleteFilter(this.#host, device, 'ingress', f.pref);
      }
    }
    if (!addedQdisc || (await ingressQdisc(this.#host, device)) !== 'clsact') return;
    const rest = [...(await listFilters(this.#host, device, 'ingress')), ...(await listFilters(this.#host, device, 'egress'))];
    if (rest.length === 0) await deleteClsact(this.#host, device);
  }

  async #writeAttachSlot(slot: number, ifindex: number, flags: number): Promise<void> {
    const failure = await runBatch(this.#host, [
      mapUpdate(this.#mapPin('mnat_attach'), encodeU32(slot), encodeAttach(ifindex, flags)),
    ]);
    if (failure !== null) throw this.#mapError(failure.error, 'recording the attachment');
  }

  async #resolveOutputs(names: readonly string[]): Promise<LinkInfo[]> {
    const links: LinkInfo[] = [];
    for (const name of names) {
      const link = await requireLink(this.#host, name);
      this.#ifnames.set(link.ifindex, name);
      links.push(link);
    }
    return links;
  }

  #upsertCommands(rule: TranslationRule, links: readonly LinkInfo[], isNew: boolean): string[][] {
    const key = encodeKey(rule.from);
    const value = encodeValue({
      to: rule.to,
      outputs: links.map((l) => ({ ifindex: l.ifindex, mac: l.mac })),
      flags: rule.keepTtl ? FLAG_KEEP_TTL : 0,
    });
    for (const l of links) this.#ifnames.set(l.ifindex, l.name);
    const commands = [mapUpdate(this.#mapPin('mnat_rules'), key, value)];
    // A new rule starts from zero (counters are created by the program on the first packet).
    if (isNew) commands.push(...this.#counterResetCommands(key, false));
    return commands;
  }

  /** Zero the counters entry (creating it), and with `remove` delete it: never fails on a missing key. */
  #counterResetCommands(key: Uint8Array, remove: boolean): string[][] {
    const pin = this.#mapPin('mnat_counters');
    const commands = [mapUpdate(pin, key, new Uint8Array(COUNTER_SIZE))];
    if (remove) commands.push(mapDelete(pin, key));
    return commands;
  }

  #mapError(error: string, what: string): DataplaneError {
    if (/Argument list too long|E2BIG|No space/i.test(error)) {
      return new DataplaneError('map-full', `${what}: the translation map is full (${MAX_RULES} rules); remove unused mappings`);
    }
    return new DataplaneError('command-failed', `${what}: bpftool: ${error} (pins in ${this.pinDir})`);
  }

  #channelFromKey(k: string): Channel {
    const comma = k.indexOf(',');
    return { source: k.slice(0, comma), group: k.slice(comma + 1) };
  }

  async #ifname(ifindex: number): Promise<string> {
    const known = this.#ifnames.get(ifindex);
    if (known !== undefined) return known;
    for (const l of await listLinks(this.#host)) this.#ifnames.set(l.ifindex, l.name);
    return this.#ifnames.get(ifindex) ?? `if${ifindex}`;
  }
}
