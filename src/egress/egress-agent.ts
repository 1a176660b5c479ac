// The egress controller. Desired = the LAN's joins (snooping table and/or
// control file), capped at max channels; it keeps the server's
// egress-global-joined equal to them (the watcher client's setDesired), follows the
// assignments, and makes the kernel equal to them: translator rules
// (Sl,Gl)->(Sg,Gg) toward the LAN bridge on the WAN device, and WAN joins of
// (Sl,Gl). Reconciles are serialised (changes during one fold into the next).
// A pass applies its changes in three steps, make-before-break: the WAN leaves,
// then all rule changes as one translator batch, then the WAN joins as one
// joiner batch (a burst of LAN joins costs a few execs, not two per channel).
// Failed kernel changes are retried with backoff. Devices may vanish and come
// back (re-attach, re-join, re-upsert) without a restart.
// Written as a closure rather than a class: locals minify, `this.` members do
// not, and the QuickJS bundle has a size budget.
import { createBackoff } from '../core/backoff.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import { MembershipTable, type HeldChannel } from './membership/membership-table.ts';
import type { EgressSettings } from './config/egress-options.ts';
import {
  describeAction,
  planEgress,
  selectDesired,
  show,
  type EgressAction,
  type EgressMapping,
  type EgressRule,
} from './egress-reconcile.ts';
import { redactWatcherId, type EgressStatus, type EgressStatusChannel } from './egress-status.ts';
import type { LinkInfo } from './bridge-plan.ts';
import type { Host, TimerHandle } from '../host/host.ts';
import { ensureBridgeSnooping } from './bridge-setup.ts';
import { createControlSource, type ControlSource } from './membership/control-source.ts';
import { createDeviceWatch } from './device-watch.ts';
import type { LevelLogger } from '../host/level-log.ts';
import { createMdbSource, type MdbSource } from './membership/mdb-source.ts';
import type { MappedChannel } from '../protocol/model.ts';

export interface FeedStatus {
  connected: boolean;
  watcherId: string | null;
  mode: string;
  lastError?: string;
}

/** What the agent needs of the watcher client (EGRESS_ROLE; run.ts adapts it). */
export interface AssignmentFeed {
  start(): void;
  stop(): Promise<void>;
  setJoins(channels: Channel[]): void;
  on(event: 'assignments', fn: (channels: MappedChannel[]) => void): void;
  on(event: 'status', fn: (s: FeedStatus) => void): void;
}

/** What the agent needs of the Translator. */
export interface RuleTable {
  attach(device: string): Promise<unknown>;
  upsert(rule: { from: Channel; to: Channel; outputs: string[] }): Promise<void>;
  remove(from: Channel): Promise<void>;
  /** Makes the rule set exactly `rules` in one kernel batch (Translator.sync); optional. */
  sync?(rules: Array<{ from: Channel; to: Channel; outputs: string[] }>): Promise<void>;
  counters(): Promise<Array<{ from: Channel; packets: number; bytes: number }> & { drops?: Record<string, number> }>;
  detach(): Promise<void>;
}

/** What the agent needs of an UpstreamJoiner. */
export interface Joiner {
  join(channel: Channel, device: string): Promise<void>;
  leave(channel: Channel, device: string): Promise<void>;
  joined(): Array<{ channel: Channel; device: string }>;
  close(): Promise<void>;
  /** Several joins at once (the smcroute backend overlaps its execs); per item null or its error. Optional. */
  joinMany?(items: ReadonlyArray<{ channel: Channel; device: string }>): Promise<Array<Error | null>>;
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

type JoinAction = Extract<EgressAction, { kind: 'join' }>;

export interface EgressStats {
  reconciles: number;
  actions: number;
  failures: number;
  lanJoins: number;
  lanLeaves: number;
}

export interface EgressAgent {
  start(): Promise<void>;
  /** Applies new settings (SIGHUP) without dropping channels that stay valid. */
  reload(next: EgressSettings): Promise<void>;
  /** SIGTERM: leave upstream, remove translator state, forget the status file; false when a step failed or hung. */
  stop(): Promise<boolean>;
  status(): EgressStatus;
  readonly stats: EgressStats;
}

export function createEgressAgent(opts: EgressAgentOptions): EgressAgent {
  const { host, log, translator, joiner } = opts;
  let settings = opts.settings;
  const table = new MembershipTable();
  let mdb: MdbSource | null = null;
  let control: ControlSource | null = null;
  let feedStatus: FeedStatus = { connected: false, watcherId: null, mode: 'push' };
  let assignments: MappedChannel[] = [];
  let accepted: Channel[] = [];
  let rejectedKeys = new Set<string>();
  let lastPut: string | null = null;
  const rules = new Map<string, EgressRule>(); // by local key: what the translator holds
  let attached: { device: string; ifindex: number } | null = null;
  let rulesStale = false;
  let mappings: EgressMapping[] = [];
  const failing = new Set<string>();
  let running = false;
  let pending = false;
  let retryTimer: TimerHandle | null = null;
  let pass: Promise<void> = Promise.resolve(); // the reconcile pass last started
  const backoff = createBackoff({ initialMs: 250, maxMs: 15_000 });
  let statusTimer: TimerHandle | null = null;
  let countersTimer: TimerHandle | null = null;
  let counters = new Map<string, { packets: number; bytes: number }>();
  let drops: Record<string, number> | undefined;
  let ignoredAsm = 0;
  const startedAt = new Date(host.wallClock()).toISOString();
  let stopped = false;
  let statusWriteFailed = false;
  const stats: EgressStats = { reconciles: 0, actions: 0, failures: 0, lanJoins: 0, lanLeaves: 0 };

  // ---- membership ----------------------------------------------------------

  const startSources = (): void => {
    const s = settings;
    if (s.membership !== 'file') {
      mdb = createMdbSource({
        host,
        log,
        bridge: s.downstream,
        onChange: (channels, ignored) => {
          ignoredAsm = ignored.filter((i) => i.reason === 'asm').length;
          applyMembership('mdb', channels);
        },
        ...(opts.mdbSafetyMs !== undefined ? { safetyMs: opts.mdbSafetyMs } : {}),
      });
      mdb.start();
    }
    if (s.membership !== 'mdb' && s.controlFile !== null) {
      control = createControlSource({
        host,
        log,
        path: s.controlFile,
        onChange: (channels) => applyMembership('control-file', channels),
        ...(opts.controlCheckMs !== undefined ? { checkMs: opts.controlCheckMs } : {}),
      });
      control.start();
    }
  };

  const stopSources = (): void => {
    mdb?.stop();
    mdb = null;
    control?.stop();
    control = null;
  };

  const applyMembership = (input: string, channels: HeldChannel[]): void => {
    if (stopped) return;
    const change = table.update(input, channels);
    const who = input === 'mdb' ? 'LAN' : input;
    for (const c of change.added) {
      stats.lanJoins++;
      log.info(`${who} joined`, { channel: show(c), by: table.holders(c).join(' ') });
    }
    for (const c of change.removed) {
      stats.lanLeaves++;
      log.info(`${who} left`, { channel: show(c) });
    }
    updateDesired();
    if (change.added.length + change.removed.length > 0) scheduleReconcile();
    scheduleStatus();
  };

  /** Cap, then tell the server the full set when it changed. */
  const updateDesired = (): void => {
    const active = new Set([...rules.values()].map((r) => channelKey(r.to)));
    const sel = selectDesired(table.channels(), active, settings.maxChannels);
    const nextRejected = new Set(sel.rejected.map(channelKey));
    for (const c of sel.rejected) {
      if (!rejectedKeys.has(channelKey(c))) log.warn('channel not carried: max channels reached', { channel: show(c), maxChannels: settings.maxChannels });
    }
    rejectedKeys = nextRejected;
    accepted = sel.accepted;
    const put = accepted.map(channelKey).join(' ');
    if (put !== lastPut) {
      lastPut = put;
      feed.setJoins(accepted);
    }
  };

  // ---- server --------------------------------------------------------------

  const makeFeed = (): AssignmentFeed => {
    const f = opts.createFeed(settings);
    f.on('assignments', (channels) => {
      if (f !== feed || stopped) return;
      assignments = channels;
      log.debug('assignments', { count: channels.length });
      scheduleReconcile();
      scheduleStatus();
    });
    f.on('status', (st) => {
      if (f !== feed || stopped) return;
      const prev = feedStatus;
      feedStatus = { ...st };
      const watcher = redactWatcherId(st.watcherId) ?? undefined;
      if (st.connected !== prev.connected) {
        if (st.connected) log.info('server connected', { server: settings.target.origin, mode: st.mode, watcher });
        else log.warn('server unreachable; current translations stay', { server: settings.target.origin, error: st.lastError });
      } else if (st.watcherId !== prev.watcherId && st.watcherId !== null) {
        log.info('new watcher id', { watcher });
      }
      scheduleStatus();
    });
    return f;
  };
  let feed: AssignmentFeed = makeFeed();

  // ---- devices -------------------------------------------------------------

  const onDevice = (name: string, link: LinkInfo | null, previous: LinkInfo | null | undefined): void => {
    if (stopped) return;
    const s = settings;
    const fresh = link !== null && (previous === undefined || previous === null || previous.ifindex !== link.ifindex);
    const side = name === s.upstream ? 'upstream' : name === s.downstream ? 'downstream' : null;
    if (side === null) return;
    if (link === null) log.warn(`${side} device missing; waiting for it`, { device: name });
    else if (fresh && previous !== undefined) log.info(`${side} device appeared`, { device: name, ifindex: link.ifindex });
    if (side === 'downstream' && link !== null && fresh) {
      if (previous !== undefined) {
        rulesStale = true; // outputs were resolved to the old device
        mdb?.invalidate();
      }
      if (s.membership !== 'file' && s.bridgeSetup) void ensureBridgeSnooping(host, log, link).then(() => mdb?.refresh());
    }
    scheduleReconcile();
    scheduleStatus();
  };
  const devices = createDeviceWatch({ host, log, onChange: onDevice });

  // ---- reconcile -----------------------------------------------------------

  const scheduleReconcile = (): void => {
    if (stopped) return;
    if (running) {
      pending = true;
      return;
    }
    if (retryTimer) {
      host.clearTimeout(retryTimer);
      retryTimer = null;
    }
    running = true;
    pass = reconcile().finally(() => {
      running = false;
      if (pending && !stopped) {
        pending = false;
        scheduleReconcile();
      }
    });
  };

  /** Leaves (best effort) every join on a device that went away or was replaced. */
  const forgetJoins = async (device: string): Promise<void> => {
    for (const j of joiner.joined()) if (j.device === device) await joiner.leave(j.channel, j.device).catch(() => undefined);
  };

  let current = ''; // the kernel change in progress, for the watchdog
  const idOf = (action: EgressAction): string => `${action.kind} ${describeAction(action)}`;
  /** Logs a change that took effect, once, with its reason. */
  const done = (action: EgressAction): void => {
    stats.actions++;
    failing.delete(idOf(action));
    log.info(describeAction(action), { reason: action.reason });
  };
  const apply = async (action: EgressAction): Promise<boolean> => {
    const what = describeAction(action);
    current = what;
    try {
      if (action.kind === 'upsert-rule') {
        await translator.upsert({ from: action.rule.from, to: action.rule.to, outputs: [...action.rule.outputs] });
        rules.set(channelKey(action.rule.from), action.rule);
      } else if (action.kind === 'remove-rule') {
        await translator.remove(action.from);
        rules.delete(channelKey(action.from));
      } else if (action.kind === 'join') {
        await joiner.join(action.channel, action.device);
      } else {
        await joiner.leave(action.channel, action.device);
      }
      done(action);
      return true;
    } catch (err) {
      fail(action, err as Error);
      return false;
    }
  };
  const fail = (action: EgressAction, err: Error): void => {
    stats.failures++;
    // Once at warn per failing change; retries stay at debug until it works.
    const id = idOf(action);
    (failing.has(id) ? log.debug : log.warn)(`failed: ${describeAction(action)}`, { reason: action.reason, error: err.message });
    failing.add(id);
  };

  const applyEach = async (actions: readonly EgressAction[]): Promise<boolean> => {
    let ok = true;
    for (const a of actions) if (!stopped && !(await apply(a))) ok = false;
    return ok;
  };

  /** Side by side: each is its own tool exec (a joiner that runs one at a time still queues them in order). */
  const applyAll = async (actions: readonly EgressAction[]): Promise<boolean> =>
    (await Promise.all(actions.map((a) => (stopped ? true : apply(a))))).every(Boolean);

  /** WAN joins of a pass: one joinMany batch when the joiner has it (smcroutectl execs overlap). */
  const applyJoins = async (actions: readonly JoinAction[]): Promise<boolean> => {
    if (actions.length < 2 || !joiner.joinMany) return applyAll(actions);
    current = `${actions.length} WAN joins`;
    let errors: Array<Error | null>;
    try {
      errors = await joiner.joinMany(actions.map((a) => ({ channel: a.channel, device: a.device })));
    } catch {
      return applyAll(actions);
    }
    let ok = true;
    actions.forEach((a, i) => {
      const e = errors[i];
      if (e) {
        ok = false;
        fail(a, e);
      } else done(a);
    });
    return ok;
  };

  /**
   * A pass's rule changes: several go to the kernel as one translator sync (one
   * bpftool exec instead of one per rule, so a burst of joins converges in one
   * step). When the batch fails, each change is applied on its own, so one bad
   * rule (or a missing output) holds back only itself and its line names it.
   */
  const applyRules = async (actions: readonly EgressAction[]): Promise<boolean> => {
    if (actions.length < 2 || !translator.sync) return applyEach(actions);
    const next = new Map(rules);
    for (const a of actions) {
      if (a.kind === 'upsert-rule') next.set(channelKey(a.rule.from), a.rule);
      else if (a.kind === 'remove-rule') next.delete(channelKey(a.from));
    }
    current = `${actions.length} translator changes in one batch`;
    try {
      await translator.sync([...next.values()].map((r) => ({ from: r.from, to: r.to, outputs: [...r.outputs] })));
    } catch (err) {
      stats.failures++;
      log.warn(`failed: ${current}; applying them one by one`, { error: (err as Error).message });
      return applyEach(actions);
    }
    rules.clear();
    for (const [k, r] of next) rules.set(k, r);
    for (const a of actions) done(a);
    return true;
  };

  const reconcile = async (): Promise<void> => {
    // A tool that never returns would stall every later change: say which.
    const watchdog = host.setTimeout(() => log.error('a kernel change has been running for 20 s; later changes wait for it', { action: current || 'attach' }), 20_000);
    try {
      await reconcileNow();
    } finally {
      host.clearTimeout(watchdog);
    }
  };

  const reconcileNow = async (): Promise<void> => {
    const s = settings;
    const up = devices.get(s.upstream);
    const down = devices.get(s.downstream);
    stats.reconciles++;
    let failed = false;

    if (up === null) {
      // The device is gone, and with it the tc filter and the memberships.
      if (attached !== null) {
        const gone = attached.device;
        attached = null;
        rules.clear();
        await translator.detach().catch((err: Error) => log.warn('detaching the translator failed', { error: err.message }));
        await forgetJoins(gone);
      }
    } else if (attached === null || attached.ifindex !== up.ifindex || attached.device !== s.upstream) {
      try {
        if (attached !== null) {
          // Re-created or renamed: the Translator attaches by name, so start over.
          const old = attached.device;
          attached = null;
          rules.clear();
          await translator.detach();
          await forgetJoins(old);
        }
        await translator.attach(s.upstream);
        attached = { device: s.upstream, ifindex: up.ifindex };
        rules.clear(); // attach starts from an empty table
        stats.actions++;
      } catch (err) {
        failed = true;
        stats.failures++;
        log.error('cannot attach the translator', { device: s.upstream, error: (err as Error).message });
      }
    }
    if (rulesStale && down !== null) {
      rules.clear(); // re-upsert resolves outputs to the new device
      rulesStale = false;
    }

    const plan = planEgress({
      desired: accepted,
      assignments,
      rules: [...rules.values()],
      joins: joiner.joined(),
      upstream: s.upstream,
      downstream: s.downstream,
    });
    mappings = plan.mappings;
    const of = (kind: EgressAction['kind']): EgressAction[] => plan.actions.filter((a) => a.kind === kind);
    const ready = attached !== null && down !== null;
    // 1. WAN leaves, side by side: packets stop arriving while their rules still translate.
    if (!(await applyAll(of('leave')))) failed = true;
    if (stopped) return;
    // 2. Rule changes of the pass, in one translator batch when there are several.
    const changes = attached === null ? [] : [...of('remove-rule'), ...(ready ? of('upsert-rule') : [])];
    if (attached === null) for (const a of of('remove-rule')) if (a.kind === 'remove-rule') rules.delete(channelKey(a.from));
    if (!(await applyRules(changes))) failed = true;
    if (stopped) return;
    // 3. WAN joins, side by side, only where the rule is in place: the first
    // packet after the join is already translated. A join whose rule failed
    // waits for the retry.
    if (ready) {
      const joins = of('join').filter((a): a is JoinAction => a.kind === 'join' && rules.has(channelKey(a.channel)));
      if (!(await applyJoins(joins)) || joins.length < of('join').length) failed = true;
    }
    if (rejectedKeys.size > 0) updateDesired(); // the cap prefers active channels
    // Failures retry with backoff; waits for a device are ended by DeviceWatch events.
    if (failed) scheduleRetry();
    else backoff.reset();
    armCounters();
    scheduleStatus();
  };

  const scheduleRetry = (): void => {
    if (stopped || retryTimer) return;
    const delay = backoff.next();
    log.debug('retrying kernel changes', { inMs: delay });
    retryTimer = host.setTimeout(() => {
      retryTimer = null;
      scheduleReconcile();
    }, delay);
  };

  // ---- status --------------------------------------------------------------

  const armCounters = (): void => {
    if (stopped || countersTimer || rules.size === 0) return;
    countersTimer = host.setTimeout(() => {
      countersTimer = null;
      void readCounters().finally(armCounters);
    }, opts.countersMs ?? 30_000);
  };

  const readCounters = async (): Promise<void> => {
    if (attached === null) return;
    try {
      const list = await translator.counters();
      counters = new Map(list.map((c) => [channelKey(c.from), { packets: c.packets, bytes: c.bytes }]));
      drops = list.drops;
      scheduleStatus();
    } catch (err) {
      log.debug('reading translator counters failed', { error: (err as Error).message });
    }
  };

  const scheduleStatus = (): void => {
    if (stopped || statusTimer) return;
    statusTimer = host.setTimeout(() => {
      statusTimer = null;
      writeStatus();
    }, 100);
  };

  const status = (): EgressStatus => {
    const s = settings;
    const byGlobal = new Map(mappings.map((m) => [channelKey(m.global), m]));
    const channels: EgressStatusChannel[] = [];
    for (const c of table.channels()) {
      const key = channelKey(c);
      const m = byGlobal.get(key);
      const local = m?.local ? channelKey(m.local) : null;
      const count = local !== null && m?.status !== 'waiting' ? counters.get(local) : undefined;
      let st: string = m?.status ?? 'waiting';
      if (rejectedKeys.has(key)) st = 'over-limit';
      else if (st === 'active' && !rules.has(local ?? '')) st = attached === null ? 'no-device' : 'pending';
      channels.push({
        global: key,
        holders: table.holders(c),
        local,
        id: m?.id ?? null,
        status: st,
        ...(m?.note ? { note: m.note } : {}),
        ...(count ? { packets: count.packets, bytes: count.bytes } : {}),
      });
    }
    const up = devices.get(s.upstream);
    const down = devices.get(s.downstream);
    const fs = feedStatus;
    return {
      component: 'mnat-egress',
      version: 1,
      runtime: host.runtime,
      pid: opts.pid ?? null,
      startedAt,
      updatedAt: new Date(host.wallClock()).toISOString(),
      server: {
        origin: s.target.origin,
        connected: fs.connected,
        watcher: redactWatcherId(fs.watcherId),
        mode: fs.mode,
        ...(fs.lastError ? { lastError: fs.lastError } : {}),
      },
      upstream: { name: s.upstream, present: up !== null, ifindex: up?.ifindex ?? null, attached: attached !== null },
      downstream: {
        name: s.downstream,
        present: down !== null,
        ifindex: down?.ifindex ?? null,
        membership: s.membership === 'mdb' ? 'snooping table' : s.membership === 'file' ? `control file ${s.controlFile}` : `snooping table + control file ${s.controlFile}`,
      },
      channels,
      counters: { ...stats, ignoredAsm, ...(drops ? { drops } : {}) },
    };
  };

  const writeStatus = (): void => {
    const file = settings.statusFile;
    try {
      const dir = file.slice(0, file.lastIndexOf('/'));
      if (dir) host.makeDirectory(dir);
      host.writeFileAtomic(file, JSON.stringify(status(), null, 1) + '\n');
      statusWriteFailed = false;
    } catch (err) {
      if (!statusWriteFailed) log.warn('cannot write the status file', { file, error: (err as Error).message });
      statusWriteFailed = true;
    }
  };

  // ---- lifecycle -----------------------------------------------------------

  return {
    stats,
    status,

    async start() {
      const s = settings;
      log.info('mnat-egress starting', {
        runtime: host.runtime,
        upstream: s.upstream,
        downstream: s.downstream,
        server: s.target.origin,
        membership: s.membership,
        controlFile: s.controlFile ?? undefined,
        joinBackend: s.joinBackend,
        maxChannels: s.maxChannels,
      });
      devices.setDevices([s.upstream, s.downstream]);
      await devices.start();
      // The first pass attaches the translator before the first request to the
      // server: adding the clsact qdisc briefly stops the WAN's transmit path
      // (the kernel's dev_deactivate), and a SYN sent then is lost and resent
      // only after 1 s.
      await pass;
      startSources();
      feed.start();
      scheduleStatus();
    },

    async reload(next) {
      const prev = settings;
      settings = next;
      const changed: string[] = [];
      if (next.logLevel !== prev.logLevel) {
        log.setLevel(next.logLevel);
        changed.push(`log level ${prev.logLevel} -> ${next.logLevel}`);
      }
      if (next.joinBackend !== prev.joinBackend) {
        log.warn('changing the join backend needs a restart; keeping the current one', { current: prev.joinBackend, requested: next.joinBackend });
      }
      if (next.upstream !== prev.upstream || next.downstream !== prev.downstream) {
        changed.push(`interfaces ${prev.upstream}/${prev.downstream} -> ${next.upstream}/${next.downstream}`);
        devices.setDevices([next.upstream, next.downstream]);
      }
      if (next.membership !== prev.membership || next.controlFile !== prev.controlFile || next.downstream !== prev.downstream) {
        changed.push('membership sources');
        stopSources();
        if (next.membership === 'file') applyMembership('mdb', []);
        if (next.membership === 'mdb') applyMembership('control-file', []);
        startSources();
      } else {
        control?.reload();
        mdb?.refresh();
      }
      if (JSON.stringify(next.target) !== JSON.stringify(prev.target) || next.apiRoot !== prev.apiRoot || next.push !== prev.push) {
        changed.push(`server ${prev.target.origin} -> ${next.target.origin}`);
        const old = feed;
        feed = makeFeed();
        assignments = []; // current translations are held until the new server lists them
        lastPut = null;
        await old.stop();
        updateDesired();
        feed.start();
      }
      if (next.maxChannels !== prev.maxChannels) {
        changed.push(`max channels ${prev.maxChannels} -> ${next.maxChannels}`);
        updateDesired();
      }
      if (next.statusFile !== prev.statusFile) {
        host.removeFile(prev.statusFile);
        statusWriteFailed = false;
      }
      log.info('configuration reloaded', { changes: changed.length > 0 ? changed.join('; ') : 'none' });
      scheduleReconcile();
      scheduleStatus();
    },

    async stop() {
      if (stopped) return true;
      stopped = true;
      stopSources();
      devices.stop();
      for (const t of [retryTimer, statusTimer, countersTimer]) if (t) host.clearTimeout(t);
      retryTimer = statusTimer = countersTimer = null;
      // A stuck tool must not keep the agent from exiting: every step is bounded.
      const deadline = host.now() + 10_000;
      while (running && host.now() < deadline) await new Promise<void>((resolve) => host.setTimeout(resolve, 5));
      if (running) log.error('a kernel change is still running; cleaning up anyway', { action: current });
      const left = joiner.joined().length;
      let clean = true;
      const step = async (what: string, run: () => Promise<void>): Promise<void> => {
        let timer: TimerHandle | null = null;
        const limit = new Promise<never>((_, reject) => {
          timer = host.setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
        });
        try {
          await Promise.race([run(), limit]);
        } catch (err) {
          clean = false;
          log.warn(`${what} failed`, { error: (err as Error).message });
        } finally {
          if (timer) host.clearTimeout(timer);
        }
      };
      // The kernel state first: procd kills 10 s after SIGTERM (term_timeout), and a
      // server that does not answer (WAN down) would use all of that before it.
      await step('leaving upstream', () => joiner.close());
      await step('detaching the translator', () => translator.detach());
      await step('stopping the server client', () => feed.stop());
      host.removeFile(settings.statusFile);
      log.info('mnat-egress stopped', { left, rules: rules.size, clean });
      rules.clear();
      return clean;
    },
  };
}
