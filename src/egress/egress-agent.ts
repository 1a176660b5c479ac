// The egress controller. Desired = the LAN's joins (snooping table and/or
// control file), capped at max channels; it keeps the server's
// egress-global-joined equal to them (WatcherClient.setJoins), follows the
// assignments, and makes the kernel equal to them: translator rules
// (Sl,Gl)->(Sg,Gg) toward the LAN bridge on the WAN device, and WAN joins of
// (Sl,Gl). Reconciles are serialised (changes during one fold into the next);
// failed kernel changes are retried with backoff. Devices may vanish and come
// back (re-attach, re-join, re-upsert) without a restart.
import { createBackoff } from '../core/backoff.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import { MembershipTable, type HeldChannel } from '../core/egress-membership.ts';
import type { EgressSettings } from '../core/egress-options.ts';
import {
  describeAction,
  planEgress,
  selectDesired,
  type AssignedChannel,
  type EgressAction,
  type EgressMapping,
  type EgressRule,
} from '../core/egress-reconcile.ts';
import { redactWatcherId, type EgressStatus, type EgressStatusChannel } from '../core/egress-status.ts';
import type { LinkInfo } from '../core/egress-bridge.ts';
import type { Host, TimerHandle } from '../host/host.ts';
import { ensureBridgeSnooping } from './bridge-setup.ts';
import { ControlSource } from './control-source.ts';
import { DeviceWatch } from './device-watch.ts';
import type { LevelLogger } from './level-log.ts';
import { MdbSource } from './mdb-source.ts';

export interface FeedStatus {
  connected: boolean;
  watcherId: string | null;
  mode: string;
  lastError?: string;
}

/** What the agent needs of the WatcherClient (role egress). */
export interface AssignmentFeed {
  start(): void;
  stop(): Promise<void>;
  setJoins(channels: Channel[]): void;
  on(event: 'assignments', fn: (channels: AssignedChannel[]) => void): void;
  on(event: 'status', fn: (s: FeedStatus) => void): void;
}

/** What the agent needs of the Translator. */
export interface RuleTable {
  attach(device: string): Promise<void>;
  upsert(rule: { from: Channel; to: Channel; outputs: string[] }): Promise<void>;
  remove(from: Channel): Promise<void>;
  counters(): Promise<Array<{ from: Channel; packets: number; bytes: number }> & { drops?: Record<string, number> }>;
  detach(): Promise<void>;
}

/** What the agent needs of an UpstreamJoiner. */
export interface Joiner {
  join(channel: Channel, device: string): Promise<void>;
  leave(channel: Channel, device: string): Promise<void>;
  joined(): Array<{ channel: Channel; device: string }>;
  close(): Promise<void>;
}

export interface EgressAgentOptions {
  readonly host: Host;
  readonly log: LevelLogger;
  readonly settings: EgressSettings;
  readonly createFeed: (settings: EgressSettings) => AssignmentFeed;
  readonly translator: RuleTable;
  readonly joiner: Joiner;
  /** Re-read translator counters this often while channels are active (default 30 s). */
  readonly countersMs?: number;
  /** Control-file stat period (default 1 s). */
  readonly controlCheckMs?: number;
  /** Snooping table safety re-read (default 30 s). */
  readonly mdbSafetyMs?: number;
  /** Shown in the status file. */
  readonly pid?: number;
}

const show = (c: Channel): string => `(${c.source},${c.group})`;

export class EgressAgent {
  private readonly host: Host;
  private readonly log: LevelLogger;
  private settings: EgressSettings;
  private readonly opts: EgressAgentOptions;
  private readonly table = new MembershipTable();
  private mdb: MdbSource | null = null;
  private control: ControlSource | null = null;
  private readonly devices: DeviceWatch;
  private feed: AssignmentFeed;
  private feedStatus: FeedStatus = { connected: false, watcherId: null, mode: 'push' };
  private assignments: AssignedChannel[] = [];
  private accepted: Channel[] = [];
  private rejectedKeys = new Set<string>();
  private lastPut: string | null = null;
  private readonly rules = new Map<string, EgressRule>();
  private attached: { device: string; ifindex: number } | null = null;
  private rulesStale = false;
  private mappings: EgressMapping[] = [];
  private readonly failingActions = new Set<string>();
  private running = false;
  private pending = false;
  private retryTimer: TimerHandle | null = null;
  private readonly backoff = createBackoff({ initialMs: 250, maxMs: 15_000 });
  private statusTimer: TimerHandle | null = null;
  private countersTimer: TimerHandle | null = null;
  private counters = new Map<string, { packets: number; bytes: number }>();
  private drops: Record<string, number> | undefined;
  private ignoredAsm = 0;
  private readonly startedAt: string;
  private stopped = false;
  private statusWriteFailed = false;
  readonly stats = { reconciles: 0, actions: 0, failures: 0, lanJoins: 0, lanLeaves: 0 };

  constructor(opts: EgressAgentOptions) {
    this.opts = opts;
    this.host = opts.host;
    this.log = opts.log;
    this.settings = opts.settings;
    this.startedAt = new Date(this.host.wallClock()).toISOString();
    this.devices = new DeviceWatch({ host: this.host, log: this.log, onChange: (n, l, p) => this.onDevice(n, l, p) });
    this.feed = this.makeFeed();
  }

  async start(): Promise<void> {
    const s = this.settings;
    this.log.info('mnat-egress starting', {
      runtime: this.host.runtime,
      upstream: s.upstream,
      downstream: s.downstream,
      server: s.target.origin,
      membership: s.membership,
      controlFile: s.controlFile ?? undefined,
      joinBackend: s.joinBackend,
      maxChannels: s.maxChannels,
    });
    this.devices.setDevices([s.upstream, s.downstream]);
    await this.devices.start();
    this.startSources();
    this.feed.start();
    this.scheduleStatus();
  }

  /** Applies new settings (SIGHUP) without dropping channels that stay valid. */
  async reload(next: EgressSettings): Promise<void> {
    const prev = this.settings;
    this.settings = next;
    const changed: string[] = [];
    if (next.logLevel !== prev.logLevel) {
      this.log.setLevel(next.logLevel);
      changed.push(`log level ${prev.logLevel} -> ${next.logLevel}`);
    }
    if (next.joinBackend !== prev.joinBackend) {
      this.log.warn('changing the join backend needs a restart; keeping the current one', { current: prev.joinBackend, requested: next.joinBackend });
    }
    if (next.upstream !== prev.upstream || next.downstream !== prev.downstream) {
      changed.push(`interfaces ${prev.upstream}/${prev.downstream} -> ${next.upstream}/${next.downstream}`);
      this.devices.setDevices([next.upstream, next.downstream]);
    }
    const sourcesChanged =
      next.membership !== prev.membership || next.controlFile !== prev.controlFile || next.downstream !== prev.downstream;
    if (sourcesChanged) {
      changed.push('membership sources');
      this.stopSources();
      if (next.membership === 'file') this.applyMembership('mdb', []);
      if (next.membership === 'mdb') this.applyMembership('control-file', []);
      this.startSources();
    } else {
      this.control?.reload();
      this.mdb?.refresh();
    }
    const serverChanged =
      JSON.stringify(next.target) !== JSON.stringify(prev.target) || next.apiRoot !== prev.apiRoot || next.push !== prev.push;
    if (serverChanged) {
      changed.push(`server ${prev.target.origin} -> ${next.target.origin}`);
      const old = this.feed;
      this.feed = this.makeFeed();
      this.assignments = []; // current translations are held until the new server lists them
      this.lastPut = null;
      await old.stop();
      this.updateDesired();
      this.feed.start();
    }
    if (next.maxChannels !== prev.maxChannels) {
      changed.push(`max channels ${prev.maxChannels} -> ${next.maxChannels}`);
      this.updateDesired();
    }
    if (next.statusFile !== prev.statusFile) {
      this.host.removeFile(prev.statusFile);
      this.statusWriteFailed = false;
    }
    this.log.info('configuration reloaded', { changes: changed.length > 0 ? changed.join('; ') : 'none' });
    this.scheduleReconcile();
    this.scheduleStatus();
  }

  /** SIGTERM: leave upstream, remove translator state, forget the status file. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopSources();
    this.devices.stop();
    for (const t of [this.retryTimer, this.statusTimer, this.countersTimer]) if (t) this.host.clearTimeout(t);
    this.retryTimer = this.statusTimer = this.countersTimer = null;
    while (this.running) await new Promise<void>((resolve) => this.host.setTimeout(resolve, 5));
    const joined = this.opts.joiner.joined().length;
    await this.feed.stop().catch((err: Error) => this.log.warn('stopping the server client failed', { error: err.message }));
    await this.opts.joiner.close().catch((err: Error) => this.log.warn('leaving upstream failed', { error: err.message }));
    await this.opts.translator.detach().catch((err: Error) => this.log.warn('detaching the translator failed', { error: err.message }));
    this.host.removeFile(this.settings.statusFile);
    this.log.info('mnat-egress stopped', { left: joined, rules: this.rules.size });
    this.rules.clear();
  }

  // ---- membership ----------------------------------------------------------

  private startSources(): void {
    const s = this.settings;
    if (s.membership !== 'file') {
      this.mdb = new MdbSource({
        host: this.host,
        log: this.log,
        bridge: s.downstream,
        onChange: (channels, ignored) => {
          this.ignoredAsm = ignored.filter((i) => i.reason === 'asm').length;
          this.applyMembership('mdb', channels);
        },
        ...(this.opts.mdbSafetyMs !== undefined ? { safetyMs: this.opts.mdbSafetyMs } : {}),
      });
      this.mdb.start();
    }
    if (s.membership !== 'mdb' && s.controlFile !== null) {
      this.control = new ControlSource({
        host: this.host,
        log: this.log,
        path: s.controlFile,
        onChange: (channels) => this.applyMembership('control-file', channels),
        ...(this.opts.controlCheckMs !== undefined ? { checkMs: this.opts.controlCheckMs } : {}),
      });
      this.control.start();
    }
  }

  private stopSources(): void {
    this.mdb?.stop();
    this.mdb = null;
    this.control?.stop();
    this.control = null;
  }

  private applyMembership(input: string, channels: HeldChannel[]): void {
    if (this.stopped) return;
    const change = this.table.update(input, channels);
    const who = input === 'mdb' ? 'LAN' : input;
    for (const c of change.added) {
      this.stats.lanJoins++;
      this.log.info(`${who} joined`, { channel: show(c), by: this.table.holders(c).join(' ') });
    }
    for (const c of change.removed) {
      this.stats.lanLeaves++;
      this.log.info(`${who} left`, { channel: show(c) });
    }
    this.updateDesired();
    if (change.added.length + change.removed.length > 0) this.scheduleReconcile();
    this.scheduleStatus();
  }

  /** Cap, then tell the server the full set when it changed. */
  private updateDesired(): void {
    const active = new Set([...this.rules.values()].map((r) => channelKey(r.to)));
    const { accepted, rejected } = selectDesired(this.table.channels(), active, this.settings.maxChannels);
    const rejectedKeys = new Set(rejected.map(channelKey));
    for (const c of rejected) {
      if (!this.rejectedKeys.has(channelKey(c))) {
        this.log.warn('channel not carried: max channels reached', { channel: show(c), maxChannels: this.settings.maxChannels });
      }
    }
    this.rejectedKeys = rejectedKeys;
    this.accepted = accepted;
    const put = accepted.map(channelKey).join(' ');
    if (put !== this.lastPut) {
      this.lastPut = put;
      this.feed.setJoins(accepted);
    }
  }

  // ---- server --------------------------------------------------------------

  private makeFeed(): AssignmentFeed {
    const feed = this.opts.createFeed(this.settings);
    feed.on('assignments', (channels) => {
      if (feed !== this.feed || this.stopped) return;
      this.assignments = channels;
      this.log.debug('assignments', { count: channels.length });
      this.scheduleReconcile();
      this.scheduleStatus();
    });
    feed.on('status', (st) => {
      if (feed !== this.feed || this.stopped) return;
      const prev = this.feedStatus;
      this.feedStatus = { ...st };
      if (st.connected !== prev.connected) {
        if (st.connected) this.log.info('server connected', { server: this.settings.target.origin, mode: st.mode, watcher: redactWatcherId(st.watcherId) ?? undefined });
        else this.log.warn('server unreachable; current translations stay', { server: this.settings.target.origin, error: st.lastError });
      } else if (st.watcherId !== prev.watcherId && st.watcherId !== null) {
        this.log.info('new watcher id', { watcher: redactWatcherId(st.watcherId) ?? undefined });
      }
      this.scheduleStatus();
    });
    return feed;
  }

  // ---- devices -------------------------------------------------------------

  private onDevice(name: string, link: LinkInfo | null, previous: LinkInfo | null | undefined): void {
    if (this.stopped) return;
    const s = this.settings;
    if (name === s.upstream) {
      if (link === null) {
        this.log.warn('upstream device missing; waiting for it', { device: name });
      } else if (previous === null || (previous && previous.ifindex !== link.ifindex)) {
        this.log.info('upstream device appeared', { device: name, ifindex: link.ifindex });
      }
    }
    if (name === s.downstream) {
      if (link === null) {
        this.log.warn('downstream device missing; waiting for it', { device: name });
      } else {
        if (previous === null || (previous && previous.ifindex !== link.ifindex)) {
          this.log.info('downstream device appeared', { device: name, ifindex: link.ifindex });
          this.rulesStale = true; // outputs were resolved to the old device
          this.mdb?.invalidate();
        }
        if (s.membership !== 'file' && s.bridgeSetup && (previous === undefined || previous === null || previous.ifindex !== link.ifindex)) {
          void ensureBridgeSnooping(this.host, this.log, link).then(() => this.mdb?.refresh());
        }
      }
    }
    this.scheduleReconcile();
    this.scheduleStatus();
  }

  // ---- reconcile -----------------------------------------------------------

  scheduleReconcile(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.retryTimer) {
      this.host.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.running = true;
    void this.reconcile().finally(() => {
      this.running = false;
      if (this.pending && !this.stopped) {
        this.pending = false;
        this.scheduleReconcile();
      }
    });
  }

  private async reconcile(): Promise<void> {
    const s = this.settings;
    const up = this.devices.get(s.upstream);
    const down = this.devices.get(s.downstream);
    this.stats.reconciles++;
    let failed = false;

    if (up === null) {
      // The device is gone, and with it the tc filter and the memberships.
      if (this.attached !== null) {
        const gone = this.attached.device;
        this.attached = null;
        this.rules.clear();
        await this.opts.translator.detach().catch((err: Error) => this.log.warn('detaching the translator failed', { error: err.message }));
        await this.forgetJoins(gone);
      }
    } else if (this.attached === null || this.attached.ifindex !== up.ifindex || this.attached.device !== s.upstream) {
      try {
        if (this.attached !== null) {
          // Re-created or renamed: the Translator attaches by name, so start over.
          const old = this.attached.device;
          this.attached = null;
          this.rules.clear();
          await this.opts.translator.detach();
          await this.forgetJoins(old);
        }
        await this.opts.translator.attach(s.upstream);
        this.attached = { device: s.upstream, ifindex: up.ifindex };
        this.rules.clear(); // attach starts from an empty table
        this.stats.actions++;
      } catch (err) {
        failed = true;
        this.stats.failures++;
        this.log.error('cannot attach the translator', { device: s.upstream, error: (err as Error).message });
      }
    }
    if (this.rulesStale && down !== null) {
      this.rules.clear(); // re-upsert resolves outputs to the new device
      this.rulesStale = false;
    }

    const plan = planEgress({
      desired: this.accepted,
      assignments: this.assignments,
      rules: [...this.rules.values()],
      joins: this.opts.joiner.joined(),
      upstream: s.upstream,
      downstream: s.downstream,
    });
    this.mappings = plan.mappings;
    const canAdd = this.attached !== null && down !== null;
    const upserts: EgressAction[] = [];
    const joins: EgressAction[] = [];
    // Removals in plan order (leave before the rule goes).
    for (const action of plan.actions) {
      if (this.stopped) return;
      if (action.kind === 'upsert-rule') upserts.push(action);
      else if (action.kind === 'join') joins.push(action);
      else if (action.kind === 'remove-rule' && this.attached === null) this.rules.delete(channelKey(action.from));
      else if (!(await this.apply(action))) failed = true;
    }
    // Rules and joins run side by side: each is a tool exec (bpftool, smcroutectl)
    // and the first translated packet needs both; a packet that arrives before
    // its rule only reaches the WAN stack, which has no route for it.
    if (canAdd) {
      const chain = async (actions: EgressAction[]): Promise<boolean> => {
        let ok = true;
        for (const a of actions) if (!this.stopped && !(await this.apply(a))) ok = false;
        return ok;
      };
      const [r, j] = await Promise.all([chain(upserts), chain(joins)]);
      if (!r || !j) failed = true;
    }
    if (this.accepted.length > 0 || this.rules.size > 0) this.updateDesiredIfCapMoved();
    // Failures retry with backoff; waits for a device are ended by DeviceWatch events.
    if (failed) this.scheduleRetry();
    else this.backoff.reset();
    this.armCounters();
    this.scheduleStatus();
  }

  private updateDesiredIfCapMoved(): void {
    if (this.rejectedKeys.size > 0) this.updateDesired();
  }

  private async apply(action: EgressAction): Promise<boolean> {
    const id = `${action.kind} ${describeAction(action)}`;
    try {
      switch (action.kind) {
        case 'upsert-rule':
          await this.opts.translator.upsert({ from: action.rule.from, to: action.rule.to, outputs: [...action.rule.outputs] });
          this.rules.set(channelKey(action.rule.from), action.rule);
          break;
        case 'remove-rule':
          await this.opts.translator.remove(action.from);
          this.rules.delete(channelKey(action.from));
          break;
        case 'join':
          await this.opts.joiner.join(action.channel, action.device);
          break;
        case 'leave':
          await this.opts.joiner.leave(action.channel, action.device);
          break;
      }
      this.stats.actions++;
      this.failingActions.delete(id);
      this.log.info(describeAction(action), { reason: action.reason });
      return true;
    } catch (err) {
      this.stats.failures++;
      const first = !this.failingActions.has(id);
      this.failingActions.add(id);
      (first ? this.log.warn : this.log.debug)(`failed: ${describeAction(action)}`, { reason: action.reason, error: (err as Error).message });
      return false;
    }
  }

  /** Leaves (best effort) every join on a device that went away or was replaced. */
  private async forgetJoins(device: string): Promise<void> {
    for (const j of this.opts.joiner.joined()) {
      if (j.device !== device) continue;
      await this.opts.joiner.leave(j.channel, j.device).catch(() => undefined);
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.backoff.next();
    this.log.debug('retrying kernel changes', { inMs: delay });
    this.retryTimer = this.host.setTimeout(() => {
      this.retryTimer = null;
      this.scheduleReconcile();
    }, delay);
  }

  // ---- status --------------------------------------------------------------

  private armCounters(): void {
    if (this.stopped || this.countersTimer || this.rules.size === 0) return;
    this.countersTimer = this.host.setTimeout(() => {
      this.countersTimer = null;
      void this.readCounters().finally(() => this.armCounters());
    }, this.opts.countersMs ?? 30_000);
  }

  async readCounters(): Promise<void> {
    if (this.attached === null) return;
    try {
      const list = await this.opts.translator.counters();
      this.counters = new Map(list.map((c) => [channelKey(c.from), { packets: c.packets, bytes: c.bytes }]));
      this.drops = list.drops;
      this.scheduleStatus();
    } catch (err) {
      this.log.debug('reading translator counters failed', { error: (err as Error).message });
    }
  }

  private scheduleStatus(): void {
    if (this.stopped || this.statusTimer) return;
    this.statusTimer = this.host.setTimeout(() => {
      this.statusTimer = null;
      this.writeStatus();
    }, 100);
  }

  status(): EgressStatus {
    const s = this.settings;
    const byGlobal = new Map(this.mappings.map((m) => [channelKey(m.global), m]));
    const channels: EgressStatusChannel[] = [];
    for (const c of this.table.channels()) {
      const key = channelKey(c);
      const m = byGlobal.get(key);
      const local = m?.local ? channelKey(m.local) : null;
      const counters = local !== null && m?.status !== 'waiting' ? this.counters.get(local) : undefined;
      let status: string = m?.status ?? 'waiting';
      if (this.rejectedKeys.has(key)) status = 'over-limit';
      else if (status === 'active' && !this.rules.has(local ?? '')) status = this.attached === null ? 'no-device' : 'pending';
      channels.push({
        global: key,
        holders: this.table.holders(c),
        local,
        id: m?.id ?? null,
        status,
        ...(m?.note ? { note: m.note } : {}),
        ...(counters ? { packets: counters.packets, bytes: counters.bytes } : {}),
      });
    }
    const up = this.devices.get(s.upstream);
    const down = this.devices.get(s.downstream);
    const fs = this.feedStatus;
    return {
      component: 'mnat-egress',
      version: 1,
      runtime: this.host.runtime,
      pid: this.opts.pid ?? null,
      startedAt: this.startedAt,
      updatedAt: new Date(this.host.wallClock()).toISOString(),
      server: {
        origin: s.target.origin,
        connected: fs.connected,
        watcher: redactWatcherId(fs.watcherId),
        mode: fs.mode,
        ...(fs.lastError ? { lastError: fs.lastError } : {}),
      },
      upstream: { name: s.upstream, present: up !== null, ifindex: up?.ifindex ?? null, attached: this.attached !== null },
      downstream: {
        name: s.downstream,
        present: down !== null,
        ifindex: down?.ifindex ?? null,
        membership: s.membership === 'mdb' ? 'snooping table' : s.membership === 'file' ? `control file ${s.controlFile}` : `snooping table + control file ${s.controlFile}`,
      },
      channels,
      counters: { ...this.stats, ignoredAsm: this.ignoredAsm, ...(this.drops ? { drops: this.drops } : {}) },
    };
  }

  private writeStatus(): void {
    const file = this.settings.statusFile;
    try {
      const dir = file.slice(0, file.lastIndexOf('/'));
      if (dir) this.host.makeDirectory(dir);
      this.host.writeFileAtomic(file, JSON.stringify(this.status(), null, 1) + '\n');
      this.statusWriteFailed = false;
    } catch (err) {
      if (!this.statusWriteFailed) this.log.warn('cannot write the status file', { file, error: (err as Error).message });
      this.statusWriteFailed = true;
    }
  }
}
