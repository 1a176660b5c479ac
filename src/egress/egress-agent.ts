// The egress agent: the LAN's joins (membership/lan-membership.ts), capped at
// max channels, kept on the server as egress-global-joined (the feed's
// setDesired); the server's assignments followed; and the kernel made equal
// to them: translator rules (Sl,Gl)->(Sg,Gg) toward the LAN bridge on the WAN
// device, and WAN joins of (Sl,Gl). Passes run one at a time (changes during
// one fold into the next, agent/serial-pass.ts); a pass plans
// (egress-reconcile.ts) and hands the changes to the shared applier
// (agent/kernel-applier.ts) in the egress's make-before-break order,
// EGRESS_PHASES. Failed changes are retried with backoff. Devices may vanish
// and come back (re-attach, re-join, re-upsert) without a restart.
// Written as a closure rather than a class: locals minify, `this.` members do
// not, and the QuickJS bundle has a size budget.
import { createBackoff } from '../core/backoff.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import type { LinkInfo } from '../dataplane/link-info.ts';
import type { Host, TimerHandle } from '../host/host.ts';
import type { LevelLogger } from '../host/level-log.ts';
import type { MappedChannel } from '../protocol/model.ts';
import { createKernelApplier, type ApplyPhase } from '../agent/kernel-applier.ts';
import { show } from '../agent/kernel-change.ts';
import type { AssignmentFeed, FeedStatus, Joiner, RuleTable } from '../agent/ports.ts';
import { createSerialPass } from '../agent/serial-pass.ts';
import { createStatusFile } from '../agent/status-file.ts';
import { redactWatcherId } from '../agent/status-format.ts';
import type { EgressSettings } from './config/egress-options.ts';
import { ensureBridgeSnooping } from './bridge-setup.ts';
import { createDeviceWatch } from './device-watch.ts';
import { planEgress, selectDesired, type EgressMapping } from './egress-reconcile.ts';
import { buildEgressStatus, type EgressStatus } from './egress-status.ts';
import { createLanMembership } from './membership/lan-membership.ts';

/**
 * The egress's order, make-before-break: the WAN leaves first, side by side
 * (packets stop arriving while their rules still translate); then the rule
 * changes, from two on as one translator batch (a burst of LAN joins costs
 * one exec, not one per channel); then the WAN joins, from two on as one
 * joiner batch, each only where its rule is in place.
 */
export const EGRESS_PHASES: readonly ApplyPhase[] = [
  { kinds: ['leave'], together: true },
  { kinds: ['remove', 'upsert'], batchFrom: 2 },
  { kinds: ['join'], batchFrom: 2, together: true },
];

/**
 * How long a stop may take in all: leave upstream, remove the translator, tell
 * the server. Under procd's term_timeout for the service (openwrt/etc/init.d),
 * which then kills. An exec costs a good part of a second on a slow router.
 */
export const STOP_BUDGET_MS = 20_000;

/**
 * A re-mapped channel's old local channel stays joined and translated this
 * long beside the new one, so no packet is lost whichever of the ingress and
 * this egress moves first (make-before-break). Well inside the server's grace
 * period (250 s by default), during which nobody else gets that local channel.
 */
export const REMAP_OVERLAP_MS = 20_000;

export interface EgressAgentOptions {
  readonly host: Host;
  readonly log: LevelLogger;
  readonly settings: EgressSettings;
  /** A feed (watcher client) for these settings' server; a reload to another server makes a new one. */
  readonly createFeed: (settings: EgressSettings) => AssignmentFeed<Channel>;
  readonly translator: RuleTable;
  readonly joiner: Joiner;
  /** Re-read translator counters this often while channels are active (default 30 s). */
  readonly countersMs?: number;
  /** Control-file stat period (default 1 s). */
  readonly controlCheckMs?: number;
  /** Snooping table safety re-read (default 30 s). */
  readonly mdbSafetyMs?: number;
}

export interface EgressStats {
  reconciles: number;
  actions: number;
  failures: number;
  lanJoins: number;
  lanLeaves: number;
  /** ASM joins in the snooping table now. */
  ignoredAsm: number;
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

/**
 * What the feed is made from (a change makes a new one): the servers as a set,
 * since DNS-SD shuffles SRV records of equal priority on every lookup.
 */
const feedOf = (s: EgressSettings): string => JSON.stringify([{ ...s.target, origin: s.target.origin.split(',').sort() }, s.apiRoot, s.push, s.mqtt?.url]);

export function createEgressAgent(opts: EgressAgentOptions): EgressAgent {
  const { host, log, translator, joiner } = opts;
  let settings = opts.settings;
  const stats: EgressStats = { reconciles: 0, actions: 0, failures: 0, lanJoins: 0, lanLeaves: 0, ignoredAsm: 0 };
  const applier = createKernelApplier({ log, translator, joiner, phases: EGRESS_PHASES, stats });
  const rules = applier.rules; // what the translator holds, by local key
  let feedStatus: FeedStatus = { connected: false, watcherId: null, mode: 'push' };
  let assignments: MappedChannel[] = [];
  /** Old local key of a re-mapped channel → until when it is kept (forgotten once its rule is gone). */
  const moved = new Map<string, number>();
  let accepted: Channel[] = [];
  let rejectedKeys = new Set<string>();
  let attached: { device: string; ifindex: number } | null = null;
  let rulesStale = false;
  let mappings: EgressMapping[] = [];
  let countersTimer: TimerHandle | null = null;
  let counters = new Map<string, { packets: number; bytes: number }>();
  let drops: Record<string, number> | undefined;
  const startedAt = new Date(host.wallClock()).toISOString();
  let stopped = false;
  /** The server has sent assignments once: until then, joins a dead predecessor left (adopted) are not left. */
  let heard = false;

  // ---- membership and the server -------------------------------------------

  const membership = createLanMembership({
    host,
    log,
    stats,
    onChange(joinedOrLeft) {
      if (stopped) return;
      updateDesired();
      if (joinedOrLeft) passes.request();
      statusFile.changed();
    },
    controlCheckMs: opts.controlCheckMs,
    mdbSafetyMs: opts.mdbSafetyMs,
  });

  /** Cap, then give the feed the full set (it sends it when it changed). */
  const updateDesired = (): void => {
    const active = new Set([...rules.values()].map((r) => channelKey(r.to)));
    const sel = selectDesired(membership.channels(), active, settings.maxChannels);
    const nextRejected = new Set(sel.rejected.map(channelKey));
    for (const c of sel.rejected) {
      if (!rejectedKeys.has(channelKey(c))) log.warn('channel not carried: max channels reached', { channel: show(c), maxChannels: settings.maxChannels });
    }
    rejectedKeys = nextRejected;
    accepted = sel.accepted;
    feed.setDesired(accepted);
  };

  const makeFeed = (): AssignmentFeed<Channel> => {
    const f = opts.createFeed(settings);
    f.on('assignments', (channels) => {
      if (f !== feed || stopped) return;
      assignments = channels;
      heard = true;
      log.debug('assignments', { count: channels.length });
      for (const r of rules.values()) {
        const from = channelKey(r.from);
        const a = channels.find((c) => channelKey(c.global) === channelKey(r.to));
        if (a?.local && !moved.has(from) && channelKey(a.local as Channel) !== from) {
          moved.set(from, host.now() + REMAP_OVERLAP_MS);
          host.setTimeout(() => passes.request(), REMAP_OVERLAP_MS);
        }
      }
      passes.request();
      statusFile.changed();
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
      statusFile.changed();
    });
    return f;
  };
  let feed = makeFeed();

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
        membership.refresh(true);
      }
      if (s.membership !== 'file' && s.bridgeSetup) void ensureBridgeSnooping(host, log, link).then(() => membership.refresh());
    }
    passes.request();
    statusFile.changed();
  };
  const devices = createDeviceWatch(host, log, onDevice);

  // ---- the kernel ----------------------------------------------------------

  /** Leaves (best effort) every join on a device that went away or was replaced. */
  const forgetJoins = async (device: string): Promise<void> => {
    for (const j of joiner.joined()) if (j.device === device) await joiner.leave(j.channel, j.device).catch(() => undefined);
  };

  /** Detaches (the device is gone or replaced): the tc filter and the memberships went with it. */
  const detach = async (): Promise<void> => {
    const gone = attached!.device;
    attached = null;
    rules.clear();
    try {
      await translator.detach();
    } finally {
      await forgetJoins(gone);
    }
  };

  /** One pass; false when something failed (retried with backoff; a wait for a device ends by its event). */
  const reconcile = async (): Promise<boolean> => {
    const s = settings;
    const up = devices.get(s.upstream);
    const down = devices.get(s.downstream);
    stats.reconciles++;
    let ok = true;

    if (up === null) {
      if (attached !== null) await detach().catch((err: Error) => log.warn('detaching the translator failed', { error: err.message }));
    } else if (attached === null || attached.ifindex !== up.ifindex || attached.device !== s.upstream) {
      try {
        // Re-created or renamed: the Translator attaches by name, so start over.
        if (attached !== null) await detach();
        await translator.attach(s.upstream);
        attached = { device: s.upstream, ifindex: up.ifindex };
        rules.clear(); // attach starts from an empty table
        stats.actions++;
        // The WAN joins a killed predecessor left in smcrouted: ours now, so the plan
        // keeps those still wanted (no second join) and leaves the rest.
        const stale = translator.takeStaleRules?.() ?? [];
        if (stale.length > 0) await joiner.adopt?.(stale, s.upstream).catch((err: Error) => log.warn('cannot list the upstream joins a dead run left', { error: err.message }));
      } catch (err) {
        ok = false;
        stats.failures++;
        log.error('cannot attach the translator', { device: s.upstream, error: (err as Error).message });
      }
    }
    if (rulesStale && down !== null) {
      // Outputs were resolved to the old device: outputs no plan names make every
      // rule still wanted upserted again (resolving the new one), and the others
      // still removed from the kernel (forgetting them would leave them there).
      for (const [k, r] of rules) rules.set(k, { ...r, outputs: r.outputs.map((o) => `${o} (re-created)`) });
      rulesStale = false;
    }

    const now = host.now();
    for (const k of moved.keys()) if (!rules.has(k)) moved.delete(k);
    const plan = planEgress({
      keep: new Set([...moved.keys()].filter((k) => moved.get(k)! > now)),
      desired: accepted,
      assignments,
      rules: [...rules.values()],
      joins: joiner.joined(),
      upstream: s.upstream,
      downstream: s.downstream,
    });
    mappings = plan.mappings;
    // Without the translator a rule is gone with it; without both devices
    // nothing is added (the device events bring the next pass).
    const ready = attached !== null && down !== null;
    const changes = plan.actions.filter((a) => {
      if (a.kind === 'remove' && attached === null) rules.delete(channelKey(a.from));
      // Before the server's first answer the only joins are adopted ones: kept until it says what is wanted.
      return a.kind === 'leave' ? heard : a.kind === 'remove' ? attached !== null : ready;
    });
    if (!(await applier.apply(changes))) ok = false;
    if (stopped) return true;
    if (rejectedKeys.size > 0) updateDesired(); // the cap prefers active channels
    armCounters();
    statusFile.changed();
    return ok;
  };

  const passes = createSerialPass(host, reconcile, {
    backoff: createBackoff({ initialMs: 250, maxMs: 15_000 }),
    onRetry: (ms) => log.debug('retrying kernel changes', { inMs: ms }),
    onStall: () => log.error('a kernel change has been running for 20 s; later changes wait for it', { action: applier.current() || 'attach' }),
  });

  // ---- status --------------------------------------------------------------

  const armCounters = (): void => {
    if (stopped || countersTimer || rules.size === 0) return;
    countersTimer = host.setTimeout(() => {
      countersTimer = null;
      void readCounters().finally(armCounters);
    }, opts.countersMs ?? 30_000);
  };

  const readCounters = async (): Promise<void> => {
    if (attached === null || !translator.counters) return;
    try {
      const list = await translator.counters();
      counters = new Map(list.map((c) => [channelKey(c.from), { packets: c.packets, bytes: c.bytes }]));
      drops = list.drops;
      statusFile.changed();
    } catch (err) {
      log.debug('reading translator counters failed', { error: (err as Error).message });
    }
  };

  const status = (): EgressStatus =>
    buildEgressStatus({
      host,
      settings,
      startedAt,
      feed: feedStatus,
      devices,
      lan: membership,
      attached: attached !== null,
      mappings,
      rejected: rejectedKeys,
      rules,
      counters,
      stats: { ...stats, ...(drops ? { drops } : {}) },
    });
  const statusFile = createStatusFile(host, settings.statusFile, status);

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
      // A stop (SIGTERM) while starting has cleaned up already: start nothing after it.
      if (stopped) return;
      // The first pass attaches the translator before the first request to the
      // server: adding the clsact qdisc briefly stops the WAN's transmit path
      // (the kernel's dev_deactivate), and a SYN sent then is lost and resent
      // only after 1 s.
      await passes.idle();
      if (stopped) return;
      membership.start(s);
      feed.start();
      statusFile.changed();
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
      if (membership.reload(prev, next)) changed.push('membership sources');
      if (feedOf(next) !== feedOf(prev)) {
        changed.push(`server ${prev.target.origin} -> ${next.target.origin}`);
        const old = feed;
        feed = makeFeed();
        assignments = []; // current translations are held until the new server lists them
        await old.stop();
        updateDesired();
        feed.start();
      }
      if (next.maxChannels !== prev.maxChannels) {
        changed.push(`max channels ${prev.maxChannels} -> ${next.maxChannels}`);
        updateDesired();
      }
      if (next.statusFile !== prev.statusFile) statusFile.moveTo(next.statusFile);
      log.info('configuration reloaded', { changes: changed.length > 0 ? changed.join('; ') : 'none' });
      passes.request();
      statusFile.changed();
    },

    async stop() {
      if (stopped) return true;
      stopped = true;
      membership.stop();
      devices.stop();
      passes.stop();
      applier.stop();
      if (countersTimer) host.clearTimeout(countersTimer);
      countersTimer = null;
      // A stuck tool must not keep the agent from exiting: the whole stop has a
      // budget (STOP_BUDGET_MS), inside procd's term_timeout, after which it kills.
      const deadline = host.now() + STOP_BUDGET_MS;
      const bounded = async (run: () => Promise<void>): Promise<void> => {
        let timer: TimerHandle | null = null;
        const ms = Math.max(0, deadline - host.now());
        try {
          await Promise.race([run(), new Promise<never>((_, reject) => (timer = host.setTimeout(() => reject(new Error(`no answer within the stop's ${STOP_BUDGET_MS / 1000} s`)), ms)))]);
        } finally {
          if (timer) host.clearTimeout(timer);
        }
      };
      await bounded(() => passes.idle()).catch(() => log.error('a kernel change is still running; cleaning up anyway', { action: applier.current() }));
      let clean = true;
      const step = (what: string, run: () => Promise<void>): Promise<void> =>
        bounded(run).catch((err: Error) => {
          clean = false;
          log.warn(`${what} failed`, { error: err.message });
        });
      const left = joiner.joined().length;
      // The kernel state first (a server that does not answer, WAN down, would
      // use the budget before it); each step in one or two execs.
      await step('leaving upstream', () => joiner.close());
      await step('detaching the translator', () => translator.detach());
      await step('stopping the server client', () => feed.stop());
      statusFile.close();
      log.info('mnat-egress stopped', { left, rules: rules.size, clean });
      rules.clear();
      return clean;
    },
  };
}
