// The ingress agent: follows the server's assigned channels for its monitors
// and keeps the kernel (translator rules on the upstream device, upstream
// joins) and the joinfile equal to them. Passes run one at a time (a change
// that arrives during one folds into the next, so a burst of pushes costs one
// pass); its kernel changes go through the shared applier in the ingress's
// phase order; failures are retried with backoff; the server being away
// changes nothing (the last known assignments stay in force).
import { createBackoff } from '../core/backoff.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import type { TranslationRule } from '../dataplane/translator.ts';
import type { Host } from '../host/host.ts';
import type { MappedChannel } from '../protocol/model.ts';
import { createKernelApplier, type ApplyPhase } from '../agent/kernel-applier.ts';
import type { AssignmentFeed, Joiner, RuleTable } from '../agent/ports.ts';
import { createSerialPass } from '../agent/serial-pass.ts';
import { createStatusFile } from '../agent/status-file.ts';
import { planIngress, type IngressConfig, type IngressPlan } from './ingress-reconcile.ts';
import { redactWatcherId, type IngressStatus, type IngressStatusChannel } from './ingress-status.ts';

/**
 * The ingress's order (see ingress-reconcile.ts): rules first, so the packets
 * a join brings are translated from the first; joins; then leaves, and only
 * then the rules of what was left. From three rule changes of a kind on, they
 * go to the kernel as one batch.
 */
export const INGRESS_PHASES: readonly ApplyPhase[] = [
  { kinds: ['upsert'], batchFrom: 3 },
  { kinds: ['join'] },
  { kinds: ['leave'] },
  { kinds: ['remove'], batchFrom: 3 },
];

/** The translator as the ingress uses it: also read back (adopt a previous run's rules) and refreshed (devices recreated). */
export interface IngressRuleTable extends RuleTable {
  list(): Promise<TranslationRule[]>;
  /** Re-attach after the device was recreated, follow recreated outputs. */
  refresh?(): Promise<{ reattached: string[]; rewritten: number; missing: string[] }>;
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
  readonly feed: AssignmentFeed<string>;
  readonly translator: IngressRuleTable;
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
  /** Kernel changes that took effect. */
  actions: number;
  failures: number;
  lastReconcileMs: number | null;
}

export interface IngressAgent {
  /** Attaches the translator, adopts what the kernel already holds, then follows the server. */
  start(): Promise<void>;
  /**
   * SIGTERM: stop following the server, leave every upstream join, remove the
   * translator (its qdisc, filter and pins), write the joinfile empty.
   */
  stop(): Promise<void>;
  /** Called after every completed pass (tests and the demo wait on it). */
  onReconciled(fn: () => void): void;
  /** Resolves when no pass is running or queued. */
  settled(): Promise<void>;
  /** The status file's content (also for tests). */
  statusSnapshot(): IngressStatus;
  readonly status: IngressAgentStatus;
}

export function createIngressAgent(options: IngressAgentOptions): IngressAgent {
  const { host, config, feed, translator, joiner } = options;
  const log = host.log;
  const status: IngressAgentStatus = { connected: false, watcherId: null, mode: 'push', carried: 0, reconciles: 0, actions: 0, failures: 0, lastReconcileMs: null };
  const applier = createKernelApplier({ log, translator, joiner, phases: INGRESS_PHASES, stats: status });
  let assignments: MappedChannel[] = [];
  let haveAssignments = false;
  let rulesKnown = false; // false: re-read the kernel's rules before the next plan
  let stopped = false;
  let settleTimer: ReturnType<Host['setTimeout']> | null = null;
  let resyncTimer: ReturnType<Host['setTimeout']> | null = null;
  let settleUntil = 0;
  let lastWatcherId: string | null = null;
  let skippedLogged = new Set<string>();
  let lastPlan: IngressPlan | null = null;
  let lastError: string | undefined;
  const startedAt = new Date(host.wallClock()).toISOString();
  let counters = new Map<string, { packets: number; bytes: number }>();
  let drops: Record<string, number> | undefined;
  const listeners: Array<() => void> = [];

  const statusSnapshot = (): IngressStatus => {
    const now = host.now();
    const joined = new Set(joiner.joined().filter((j) => j.device === config.upstreamInterface).map((j) => channelKey(j.channel)));
    const channels: IngressStatusChannel[] = [];
    const desired = new Set<string>();
    const entry = (id: number, from: Channel, to: Channel, st: 'carried' | 'held'): void => {
      const k = channelKey(from);
      channels.push({ id, global: k, local: channelKey(to), status: st, joined: joined.has(k), ...(counters.get(k) ?? {}) });
    };
    for (const d of lastPlan?.desired ?? []) {
      desired.add(channelKey(d.global));
      entry(d.id, d.global, d.local, 'carried');
    }
    for (const r of applier.rules.values()) if (!desired.has(channelKey(r.from))) entry(0, r.from, r.to, 'held');
    return {
      component: 'mnat-ingress',
      version: 1,
      pid: host.pid,
      startedAt,
      updatedAt: new Date(host.wallClock()).toISOString(),
      server: {
        origin: options.serverOrigin ?? '',
        connected: status.connected,
        watcher: redactWatcherId(status.watcherId),
        mode: status.mode,
        ...(lastError !== undefined ? { lastError } : {}),
      },
      upstream: config.upstreamInterface,
      downstream: [...config.downstreamInterfaces],
      monitors: [...config.monitors],
      join: config.join,
      joinfile: options.joinfilePath ?? null,
      ...(now < settleUntil ? { settlingUntil: new Date(host.wallClock() + (settleUntil - now)).toISOString() } : {}),
      channels,
      skipped: (lastPlan?.skipped ?? []).map((k) => ({ id: k.id, global: channelKey(k.global), reason: k.reason })),
      counters: {
        reconciles: status.reconciles,
        failures: status.failures,
        lastReconcileMs: status.lastReconcileMs,
        ...(drops ? { drops } : {}),
      },
    };
  };
  const statusFile = options.statusFile ? createStatusFile(host, options.statusFile, statusSnapshot) : null;

  /** One pass; false when a change failed or waits (the rest still ran; a retry follows). */
  const reconcile = async (): Promise<boolean> => {
    const started = host.now();
    if (!rulesKnown) {
      try {
        const list = await translator.list();
        applier.rules.clear();
        for (const r of list) applier.rules.set(channelKey(r.from), r);
        rulesKnown = true;
      } catch (err) {
        log.error('cannot read the translator rules', { error: (err as Error).message });
        status.failures++;
        return false;
      }
    }
    let plan: IngressPlan;
    try {
      plan = planIngress(assignments, config, { rules: [...applier.rules.values()], joins: joiner.joined() });
    } catch (err) {
      log.error('cannot plan', { error: (err as Error).message });
      return false;
    }
    lastPlan = plan;
    // Each skipped channel is reported once per reason, not on every pass.
    const skipped = new Set<string>();
    for (const s of plan.skipped) {
      const k = `${s.id}|${channelKey(s.global)}|${s.reason}`;
      skipped.add(k);
      if (!skippedLogged.has(k)) log.warn('assigned channel not carried', { id: s.id, channel: channelKey(s.global), reason: s.reason });
    }
    skippedLogged = skipped;
    const settling = host.now() < settleUntil;
    const changes = settling ? plan.actions.filter((a) => a.kind !== 'leave' && a.kind !== 'remove') : plan.actions;
    if (changes.length < plan.actions.length) log.debug('removals held while the server state settles', { held: plan.actions.length - changes.length });
    let ok = await applier.apply(changes);
    if (stopped) return true;
    if (!ok) rulesKnown = false; // a failed change leaves the kernel's state unknown: read it again
    if (options.joinfile) {
      try {
        // The joinfile lists what this ingress wants joined upstream: the carried channels.
        // While settling it keeps the held ones too, as the kernel does.
        const listed = settling
          ? [...plan.desired.map((d) => d.global), ...joiner.joined().map((j) => j.channel), ...[...applier.rules.values()].map((r) => r.from)]
          : plan.desired.map((d) => d.global);
        if (options.joinfile.update(listed)) log.info('joinfile written', { channels: new Set(listed.map(channelKey)).size });
      } catch (err) {
        ok = false;
        log.error('cannot write the joinfile', { error: (err as Error).message });
      }
    }
    status.carried = plan.desired.length;
    status.reconciles++;
    status.lastReconcileMs = host.now() - started;
    return ok;
  };

  const passes = createSerialPass(host, reconcile, {
    backoff: createBackoff({ initialMs: 200, maxMs: 10_000 }),
    onRetry: (ms) => log.debug('retrying kernel changes', { inMs: ms }),
    onStall: () => log.error('a kernel change has been running for 20 s; later changes wait for it', { action: applier.current() || 'reading the translator rules' }),
    after() {
      statusFile?.write();
      for (const fn of listeners) fn();
    },
  });
  const kick = (): void => {
    if (haveAssignments) passes.request(); // nothing is decided until the server has spoken once
  };

  const beginSettle = (why: string): void => {
    const settleMs = options.settleMs ?? 15_000;
    if (settleMs <= 0) return;
    settleUntil = host.now() + settleMs;
    log.info('holding removals while the server state settles', { why, seconds: settleMs / 1000 });
    if (settleTimer) host.clearTimeout(settleTimer);
    settleTimer = host.setTimeout(() => {
      settleTimer = null;
      kick();
    }, settleMs + 10);
  };

  /**
   * The upstream device was recreated: the kernel dropped its memberships with
   * it. Forget them (a leave on the new device is harmless) so the next pass
   * joins again.
   */
  const dropUpstreamJoins = async (): Promise<void> => {
    for (const j of joiner.joined()) {
      if (j.device !== config.upstreamInterface) continue;
      await joiner.leave(j.channel, j.device).catch((err: Error) => log.debug('leave on a recreated device failed (expected)', { error: err.message }));
    }
  };

  /**
   * Periodic check of the kernel side: the upstream device may have been
   * recreated (its filter gone) or an output may have a new ifindex/MAC; then
   * re-read the rules so drift is repaired by the next pass.
   */
  const resync = async (): Promise<void> => {
    if (stopped) return;
    if (translator.refresh) {
      try {
        const r = await translator.refresh();
        if (r.reattached.length > 0) log.warn('translator re-attached (the device was recreated)', { devices: r.reattached.join(',') });
        if (r.reattached.includes(config.upstreamInterface)) await dropUpstreamJoins();
        if (r.missing.length > 0) log.warn('output devices missing; their rules wait', { devices: r.missing.join(',') });
      } catch (err) {
        log.error('translator refresh failed', { error: (err as Error).message });
      }
    }
    if (translator.counters) {
      try {
        const list = await translator.counters();
        counters = new Map(list.map((c) => [channelKey(c.from), { packets: c.packets, bytes: c.bytes }]));
        drops = list.drops;
      } catch (err) {
        log.debug('cannot read translator counters', { error: (err as Error).message });
      }
    }
    rulesKnown = false;
    kick();
    statusFile?.write();
  };

  const scheduleResync = (): void => {
    resyncTimer = host.setTimeout(() => {
      void resync().finally(() => {
        if (!stopped) scheduleResync();
      });
    }, options.resyncMs ?? 10_000);
  };

  return {
    status,
    statusSnapshot,
    onReconciled: (fn) => void listeners.push(fn),
    settled: () => passes.idle(),

    async start() {
      await translator.attach(config.upstreamInterface);
      const adopted = await translator.list();
      for (const r of adopted) applier.rules.set(channelKey(r.from), r);
      rulesKnown = true;
      if (adopted.length > 0) log.info('adopted translator rules from a previous run', { rules: adopted.length });
      options.joinfile?.start();
      feed.on('status', (s) => {
        const wasConnected = status.connected;
        status.connected = s.connected;
        status.mode = s.mode;
        status.watcherId = s.watcherId;
        lastError = s.lastError;
        if (s.watcherId !== null && lastWatcherId !== null && s.watcherId !== lastWatcherId) beginSettle('the server gave a new watcher id');
        if (s.watcherId !== null) lastWatcherId = s.watcherId;
        if (wasConnected !== s.connected) {
          if (s.connected) log.info('server connected', { mode: s.mode, watcher: s.watcherId ? 'set' : 'none' });
          else log.warn('server unreachable; keeping the current translations', { error: s.lastError });
        }
      });
      feed.on('assignments', (channels) => {
        assignments = channels;
        haveAssignments = true;
        kick();
      });
      feed.setDesired([...config.monitors]);
      feed.start();
      scheduleResync();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of [settleTimer, resyncTimer]) if (t) host.clearTimeout(t);
      const errors: string[] = [];
      const attempt = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          errors.push(`${what}: ${(err as Error).message}`);
        }
      };
      await attempt('stop the watcher client', () => feed.stop());
      passes.stop();
      applier.stop();
      await passes.idle();
      await attempt('leave upstream joins', () => joiner.close());
      await attempt('detach the translator', () => translator.detach());
      await attempt('empty the joinfile', () => options.joinfile?.stop());
      // No status file means "not running" to `mnat-ingress status`.
      statusFile?.close();
      for (const e of errors) log.error('shutdown step failed', { error: e });
      if (errors.length > 0) throw new Error(errors.join('; '));
    },
  };
}
