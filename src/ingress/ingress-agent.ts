// The ingress agent: follows the server's assigned channels for its monitors
// and keeps the kernel (translator rules on the upstream device, upstream
// joins) and the joinfile equal to them. Reconciles are serialised: a change
// that arrives during one is folded into the next run, so a burst of pushes
// costs one pass. Failures are retried with backoff; the server being away
// changes nothing (the last known assignments stay in force).
import { createBackoff } from '../core/backoff.ts';
import type { Channel } from '../core/channel.ts';
import {
  describeAction,
  planIngress,
  type IngressAction,
  type IngressConfig,
  type IngressPlan,
  type IngressRule,
} from './ingress-reconcile.ts';
import type { Host } from '../host/host.ts';
import { redactWatcherId, type IngressStatus, type IngressStatusChannel } from './ingress-status.ts';
import type { MappedChannel } from '../protocol/model.ts';

/** What the agent needs of the watcher client (INGRESS_ROLE). */
export interface AssignmentFeed {
  start(): void;
  stop(): Promise<void>;
  /** The global source prefixes to monitor. */
  setDesired(prefixes: string[]): void;
  on(event: 'assignments', fn: (channels: MappedChannel[]) => void): void;
  on(event: 'status', fn: (s: { connected: boolean; watcherId: string | null; mode: string; lastError?: string }) => void): void;
}

/** What the agent needs of the Translator. */
export interface RuleTable {
  attach(device: string): Promise<unknown>;
  upsert(rule: { from: Channel; to: Channel; outputs: string[] }): Promise<void>;
  remove(from: Channel): Promise<void>;
  list(): Promise<IngressRule[]>;
  detach(): Promise<void>;
  /** Optional: per-rule packet counters (for the status file). */
  counters?(): Promise<Array<{ from: Channel; packets: number; bytes: number }> & { drops?: Record<string, number> }>;
  /** Optional: re-attach after the device was recreated, follow recreated outputs. */
  refresh?(): Promise<{ reattached: string[]; rewritten: number; missing: string[] }>;
  /** Optional: make the rule set exactly this, in one kernel operation. */
  sync?(rules: Array<{ from: Channel; to: Channel; outputs: string[] }>): Promise<void>;
}

/** From this many rule changes of one kind on, they are applied as one batch (when the translator can). */
const BATCH_MIN = 3;

/** What the agent needs of an UpstreamJoiner. */
export interface Joiner {
  join(channel: Channel, device: string): Promise<void>;
  leave(channel: Channel, device: string): Promise<void>;
  joined(): Array<{ channel: Channel; device: string }>;
  close(): Promise<void>;
}

/** What the agent needs of the JoinfileWriter. */
export interface JoinfileSink {
  start(): void;
  update(channels: Channel[]): boolean;
  stop(): void;
}

export interface IngressAgentOptions {
  readonly host: Host;
  readonly config: IngressConfig;
  readonly feed: AssignmentFeed;
  readonly translator: RuleTable;
  readonly joiner: Joiner;
  readonly joinfile?: JoinfileSink | null;
  /**
   * After the watcher id changes (the server lost our watcher), removals wait
   * this long: the new server state fills up as egresses re-register, and
   * tearing down flowing channels in between would cut the streams for nothing.
   */
  readonly settleMs?: number;
  /** Write the status here (JSON, atomically) after every pass; null: no status file. */
  readonly statusFile?: string | null;
  /** For the status file: the server's origin. */
  readonly serverOrigin?: string;
  /** For the status file: the joinfile path. */
  readonly joinfilePath?: string | null;
  /** Check the kernel side (device recreated, rules drifted) this often (default 10 s). */
  readonly resyncMs?: number;
}

export interface IngressAgentStatus {
  connected: boolean;
  watcherId: string | null;
  mode: string;
  carried: number;
  reconciles: number;
  failures: number;
  lastReconcileMs: number | null;
}

export class IngressAgent {
  private readonly host: Host;
  private assignments: MappedChannel[] = [];
  private haveAssignments = false;
  private rules: IngressRule[] | null = null; // cache of the kernel's rules; null = re-read
  private running = false;
  private again = false;
  private stopped = false;
  private retryTimer: ReturnType<Host['setTimeout']> | null = null;
  private settleTimer: ReturnType<Host['setTimeout']> | null = null;
  private resyncTimer: ReturnType<Host['setTimeout']> | null = null;
  private settleUntil = 0;
  private lastWatcherId: string | null = null;
  private skippedLogged = new Set<string>();
  private lastPlan: IngressPlan | null = null;
  private lastError: string | undefined;
  private readonly startedAt: string;
  private counterCache = new Map<string, { packets: number; bytes: number }>();
  private drops: Record<string, number> | undefined;
  private statusWriteFailed = false;
  private readonly backoff = createBackoff({ initialMs: 200, maxMs: 10_000 });
  private idle: Promise<void> = Promise.resolve();
  private readonly listeners: Array<() => void> = [];
  readonly status: IngressAgentStatus = {
    connected: false,
    watcherId: null,
    mode: 'push',
    carried: 0,
    reconciles: 0,
    failures: 0,
    lastReconcileMs: null,
  };

  constructor(private readonly options: IngressAgentOptions) {
    this.host = options.host;
    this.startedAt = new Date(options.host.wallClock()).toISOString();
  }

  /** Attaches the translator, adopts what the kernel already holds, then follows the server. */
  async start(): Promise<void> {
    const { config, feed, translator } = this.options;
    const statusFile = this.options.statusFile;
    if (statusFile) {
      const slash = statusFile.lastIndexOf('/');
      if (slash > 0) this.host.makeDirectory(statusFile.slice(0, slash));
    }
    await translator.attach(config.upstreamInterface);
    this.rules = await translator.list();
    if (this.rules.length > 0) this.host.log.info('adopted translator rules from a previous run', { rules: this.rules.length });
    this.options.joinfile?.start();
    feed.on('status', (s) => {
      const wasConnected = this.status.connected;
      this.status.connected = s.connected;
      this.status.mode = s.mode;
      this.status.watcherId = s.watcherId;
      this.lastError = s.lastError;
      if (s.watcherId !== null && this.lastWatcherId !== null && s.watcherId !== this.lastWatcherId) {
        this.beginSettle('the server gave a new watcher id');
      }
      if (s.watcherId !== null) this.lastWatcherId = s.watcherId;
      if (wasConnected !== s.connected) {
        if (s.connected) this.host.log.info('server connected', { mode: s.mode, watcher: s.watcherId ? 'set' : 'none' });
        else this.host.log.warn('server unreachable; keeping the current translations', { error: s.lastError });
      }
    });
    feed.on('assignments', (channels) => {
      this.assignments = channels;
      this.haveAssignments = true;
      this.kick();
    });
    feed.setDesired([...config.monitors]);
    feed.start();
    this.scheduleResync();
  }

  /** Called after every completed reconcile (tests and the demo wait on it). */
  onReconciled(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Resolves when no reconcile is running or queued. */
  async settled(): Promise<void> {
    for (;;) {
      const current = this.idle;
      await current;
      if (current === this.idle && !this.running) return;
    }
  }

  /**
   * SIGTERM: stop following the server, leave every upstream join, remove the
   * translator (its qdisc, filter and pins), write the joinfile empty.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.retryTimer, this.settleTimer, this.resyncTimer]) if (t) this.host.clearTimeout(t);
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    await attempt('stop the watcher client', () => this.options.feed.stop());
    await this.settled();
    await attempt('leave upstream joins', () => this.options.joiner.close());
    await attempt('detach the translator', () => this.options.translator.detach());
    await attempt('empty the joinfile', () => this.options.joinfile?.stop());
    // No status file means "not running" to `mnat-ingress status`.
    if (this.options.statusFile) this.host.removeFile(this.options.statusFile);
    for (const e of errors) this.host.log.error('shutdown step failed', { error: e });
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  private beginSettle(why: string): void {
    const settleMs = this.options.settleMs ?? 15_000;
    if (settleMs <= 0) return;
    this.settleUntil = this.host.now() + settleMs;
    this.host.log.info('holding removals while the server state settles', { why, seconds: settleMs / 1000 });
    if (this.settleTimer) this.host.clearTimeout(this.settleTimer);
    this.settleTimer = this.host.setTimeout(() => {
      this.settleTimer = null;
      this.kick();
    }, settleMs + 10);
  }

  private scheduleResync(): void {
    const ms = this.options.resyncMs ?? 10_000;
    this.resyncTimer = this.host.setTimeout(() => {
      void this.resync().finally(() => {
        if (!this.stopped) this.scheduleResync();
      });
    }, ms);
  }

  /**
   * Periodic check of the kernel side: the upstream device may have been
   * recreated (its filter gone) or an output may have a new ifindex/MAC; then
   * re-read the rules so drift is repaired by the next reconcile.
   */
  private async resync(): Promise<void> {
    if (this.stopped) return;
    const { translator } = this.options;
    if (translator.refresh) {
      try {
        const r = await translator.refresh();
        if (r.reattached.length > 0) this.host.log.warn('translator re-attached (the device was recreated)', { devices: r.reattached.join(',') });
        if (r.reattached.includes(this.options.config.upstreamInterface)) await this.dropUpstreamJoins();
        if (r.missing.length > 0) this.host.log.warn('output devices missing; their rules wait', { devices: r.missing.join(',') });
      } catch (err) {
        this.host.log.error('translator refresh failed', { error: (err as Error).message });
      }
    }
    if (translator.counters) {
      try {
        const list = await translator.counters();
        this.counterCache = new Map(list.map((c) => [`${c.from.source},${c.from.group}`, { packets: c.packets, bytes: c.bytes }]));
        this.drops = list.drops;
      } catch (err) {
        this.host.log.debug('cannot read translator counters', { error: (err as Error).message });
      }
    }
    this.rules = null;
    this.kick();
    this.writeStatus();
  }

  /** The status file's content (also for tests). */
  statusSnapshot(): IngressStatus {
    const { config } = this.options;
    const now = this.host.now();
    const joined = new Set(this.options.joiner.joined().filter((j) => j.device === config.upstreamInterface).map((j) => `${j.channel.source},${j.channel.group}`));
    const channels: IngressStatusChannel[] = [];
    const desired = new Set<string>();
    for (const d of this.lastPlan?.desired ?? []) {
      const k = `${d.global.source},${d.global.group}`;
      desired.add(k);
      const c = this.counterCache.get(k);
      channels.push({ id: d.id, global: k, local: `${d.local.source},${d.local.group}`, status: 'carried', joined: joined.has(k), ...(c ?? {}) });
    }
    for (const r of this.rules ?? []) {
      const k = `${r.from.source},${r.from.group}`;
      if (desired.has(k)) continue;
      const c = this.counterCache.get(k);
      channels.push({ id: 0, global: k, local: `${r.to.source},${r.to.group}`, status: 'held', joined: joined.has(k), ...(c ?? {}) });
    }
    const settling = now < this.settleUntil;
    return {
      component: 'mnat-ingress',
      version: 1,
      pid: typeof process !== 'undefined' ? process.pid : null,
      startedAt: this.startedAt,
      updatedAt: new Date(this.host.wallClock()).toISOString(),
      server: {
        origin: this.options.serverOrigin ?? '',
        connected: this.status.connected,
        watcher: redactWatcherId(this.status.watcherId),
        mode: this.status.mode,
        ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      },
      upstream: config.upstreamInterface,
      downstream: [...config.downstreamInterfaces],
      monitors: [...config.monitors],
      join: config.join,
      joinfile: this.options.joinfilePath ?? null,
      ...(settling ? { settlingUntil: new Date(this.host.wallClock() + (this.settleUntil - now)).toISOString() } : {}),
      channels,
      skipped: (this.lastPlan?.skipped ?? []).map((k) => ({ id: k.id, global: `${k.global.source},${k.global.group}`, reason: k.reason })),
      counters: {
        reconciles: this.status.reconciles,
        failures: this.status.failures,
        lastReconcileMs: this.status.lastReconcileMs,
        ...(this.drops ? { drops: this.drops } : {}),
      },
    };
  }

  private writeStatus(): void {
    const file = this.options.statusFile;
    if (!file || this.stopped) return;
    try {
      this.host.writeFileAtomic(file, JSON.stringify(this.statusSnapshot(), null, 1) + '\n');
      this.statusWriteFailed = false;
    } catch (err) {
      if (!this.statusWriteFailed) this.host.log.warn('cannot write the status file', { file, error: (err as Error).message });
      this.statusWriteFailed = true;
    }
  }

  /**
   * The upstream device was recreated: the kernel dropped its memberships with
   * it. Forget them (a leave on the new device is harmless) so the next
   * reconcile joins again.
   */
  private async dropUpstreamJoins(): Promise<void> {
    const { joiner, config } = this.options;
    for (const j of joiner.joined()) {
      if (j.device !== config.upstreamInterface) continue;
      try {
        await joiner.leave(j.channel, j.device);
      } catch (err) {
        this.host.log.debug('leave on a recreated device failed (expected)', { error: (err as Error).message });
      }
    }
  }

  private kick(): void {
    if (this.stopped) return;
    if (!this.haveAssignments) return; // nothing decided until the server has spoken once
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        const ok = await this.reconcileOnce();
        if (!ok) {
          this.again = false;
          const delay = this.backoff.next();
          if (this.retryTimer) this.host.clearTimeout(this.retryTimer);
          this.retryTimer = this.host.setTimeout(() => {
            this.retryTimer = null;
            this.kick();
          }, delay);
          break;
        }
        this.backoff.reset();
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
    this.writeStatus();
    for (const fn of this.listeners) fn();
  }

  /** One pass; false when an action failed (the rest still ran; a retry follows). */
  private async reconcileOnce(): Promise<boolean> {
    const started = this.host.now();
    const { translator, joiner, config } = this.options;
    if (this.rules === null) {
      try {
        this.rules = await translator.list();
      } catch (err) {
        this.host.log.error('cannot read the translator rules', { error: (err as Error).message });
        this.status.failures++;
        return false;
      }
    }
    let plan;
    try {
      plan = planIngress(this.assignments, config, { rules: this.rules, joins: joiner.joined() });
    } catch (err) {
      this.host.log.error('cannot plan', { error: (err as Error).message });
      return false;
    }
    this.lastPlan = plan;
    // Each skipped channel is reported once per reason, not on every pass.
    const skipped = new Set<string>();
    for (const s of plan.skipped) {
      const k = `${s.id}|${s.global.source},${s.global.group}|${s.reason}`;
      skipped.add(k);
      if (!this.skippedLogged.has(k)) {
        this.host.log.warn('assigned channel not carried', { id: s.id, channel: `${s.global.source},${s.global.group}`, reason: s.reason });
      }
    }
    this.skippedLogged = skipped;
    const settling = this.host.now() < this.settleUntil;
    let ok = true;
    let held = 0;
    const rules = new Map(this.rules.map((r) => [`${r.from.source},${r.from.group}`, r]));
    const ruleKey = (c: Channel): string => `${c.source},${c.group}`;
    const actions = plan.actions.filter((a) => {
      if (settling && (a.kind === 'leave' || a.kind === 'remove')) {
        held++;
        return false;
      }
      return true;
    });
    // Several rule changes of one kind go to the kernel in one batch (one bpftool
    // exec instead of one per rule), keeping the phase order of the plan.
    const batchable = (kind: 'upsert' | 'remove'): IngressAction[] =>
      translator.sync && actions.filter((a) => a.kind === kind).length >= BATCH_MIN ? actions.filter((a) => a.kind === kind) : [];
    const batched = new Set<IngressAction>([...batchable('upsert'), ...batchable('remove')]);
    let upsertBatchDone = false;
    let removeBatchDone = false;
    for (const action of actions) {
      if (this.stopped) return true;
      if (batched.has(action)) {
        const kind = action.kind as 'upsert' | 'remove';
        if ((kind === 'upsert' && upsertBatchDone) || (kind === 'remove' && removeBatchDone)) continue;
        if (kind === 'upsert') upsertBatchDone = true;
        else removeBatchDone = true;
        const group = [...batched].filter((a) => a.kind === kind);
        const next = new Map(rules);
        for (const a of group) {
          if (a.kind === 'upsert') next.set(ruleKey(a.rule.from), a.rule);
          if (a.kind === 'remove') next.delete(ruleKey(a.from));
        }
        try {
          await translator.sync!([...next.values()].map((r) => ({ from: r.from, to: r.to, outputs: [...r.outputs] })));
          for (const k of [...rules.keys()]) if (!next.has(k)) rules.delete(k);
          for (const [k, v] of next) rules.set(k, v);
          for (const a of group) this.host.log.info(describeAction(a));
        } catch (err) {
          ok = false;
          this.status.failures++;
          this.rules = null;
          this.host.log.error(`failed to ${kind} ${group.length} translator rules in one batch`, { error: (err as Error).message });
        }
        continue;
      }
      try {
        await this.apply(action);
        if (action.kind === 'upsert') rules.set(ruleKey(action.rule.from), action.rule);
        if (action.kind === 'remove') rules.delete(ruleKey(action.from));
        this.host.log.info(describeAction(action));
      } catch (err) {
        ok = false;
        this.status.failures++;
        this.host.log.error(`failed to ${describeAction(action)}`, { error: (err as Error).message });
        if (action.kind === 'upsert' || action.kind === 'remove') this.rules = null; // re-read: state unknown
      }
    }
    if (this.rules !== null) this.rules = [...rules.values()];
    if (held > 0) this.host.log.debug('removals held while the server state settles', { held });
    if (this.options.joinfile) {
      try {
        // The joinfile lists what this ingress wants joined upstream: the carried channels.
        // While settling it keeps the held ones too, as the kernel does.
        const listed = settling
          ? [...plan.desired.map((d) => d.global), ...joiner.joined().map((j) => j.channel), ...(this.rules ?? []).map((r) => r.from)]
          : plan.desired.map((d) => d.global);
        if (this.options.joinfile.update(listed)) this.host.log.info('joinfile written', { channels: new Set(listed.map((c) => `${c.source},${c.group}`)).size });
      } catch (err) {
        ok = false;
        this.host.log.error('cannot write the joinfile', { error: (err as Error).message });
      }
    }
    this.status.carried = plan.desired.length;
    this.status.reconciles++;
    this.status.lastReconcileMs = this.host.now() - started;
    return ok;
  }

  private async apply(action: IngressAction): Promise<void> {
    const { translator, joiner } = this.options;
    switch (action.kind) {
      case 'upsert':
        return translator.upsert({ from: action.rule.from, to: action.rule.to, outputs: [...action.rule.outputs] });
      case 'join':
        return joiner.join(action.channel, action.device);
      case 'leave':
        return joiner.leave(action.channel, action.device);
      case 'remove':
        return translator.remove(action.from);
    }
  }
}
