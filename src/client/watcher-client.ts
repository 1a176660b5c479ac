// The MNAT watcher client shared by mnat-egress and mnat-ingress, on Node and
// QuickJS alike (it touches the machine only through Host timers and an
// HttpTransport). It keeps one watcher alive on the server:
//   - gets a watcher id, refreshes it every refresh-period;
//   - PUTs the desired joins (egress) or monitors (ingress) whenever they
//     change, and again after it had to get a new id;
//   - follows assigned-channels: yang-push over SSE first, then long polling
//     (If-None-Match + Prefer: wait), then plain polling, whichever the server
//     supports;
//   - on transport errors retries with exponential backoff and full jitter;
//   - when the server answers ietf-mnat:unknown-watcher-id (expired, or the
//     server lost it), gets a new id and re-PUTs;
//   - on stop, with `withdraw`, deletes what it PUT (the server releases the
//     egress's mappings now rather than when the watcher expires).
// Stale results from an old id or connection are dropped by an epoch counter.
// It is the agents' AssignmentFeed (src/agent/ports.ts).
import { createBackoff } from '../core/backoff.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import {
  decodeAssignedChannels,
  decodeGetNewWatcherIdOutput,
  decodeMappedSg,
  decodeRefreshWatcherIdOutput,
  encodeEgressWatcher,
  encodeIngressWatcher,
  encodeMappedSg,
  encodeRefreshWatcherIdInput,
} from '../protocol/ietf-mnat-codec.ts';
import type { MappedChannel } from '../protocol/model.ts';
import { SseParser } from '../protocol/sse.ts';
import { applyKeyedListEdits, encodeKey, type YangPatchEdit } from '../protocol/yang-patch.ts';
import { RequestInterrupted, type Host, type HttpResponse, type HttpStream, type HttpTransport, type TimerHandle } from '../host/host.ts';
import type { AssignmentFeed, FeedStatus } from '../agent/ports.ts';
import { createSerialPass } from '../agent/serial-pass.ts';

export type FollowMode = 'push' | 'long-poll' | 'poll';

export interface WatcherStatus extends FeedStatus {
  mode: FollowMode;
}

/** What a watcher keeps on the server: the egress's joins or the ingress's monitors. */
export interface WatcherRole<T> {
  /** For log lines: "joins" or "monitors". */
  readonly what: string;
  /** An item's canonical key: dedupes and compares desired sets. */
  key(item: T): string;
  /** The path under /data that holds watcher `id`'s items. */
  path(id: string): string;
  /** The body that stores `items` for watcher `id`. */
  body(id: string, items: readonly T[]): unknown;
}

/** mnat-egress: the (S,G)s joined on the LAN, stored in egress-global-joined. */
export const EGRESS_ROLE: WatcherRole<Channel> = {
  what: 'joins',
  key: channelKey,
  path: (id) => `/ietf-mnat:egress-global-joined/watcher=${encodeKey(id)}`,
  body: (id, channels) => encodeEgressWatcher(id, channels.map((c) => ({ id: channelKey(c), channel: { source: c.source, group: c.group } }))),
};

/** mnat-ingress: the global source prefixes to monitor, stored in ingress-watching. */
export const INGRESS_ROLE: WatcherRole<string> = {
  what: 'monitors',
  key: (prefix) => prefix,
  path: (id) => `/ietf-mnat:ingress-watching/watcher=${encodeKey(id)}`,
  body: (id, prefixes) => encodeIngressWatcher(id, prefixes.map((p) => ({ id: p, globalSourcePrefix: p }))),
};

export interface WatcherClientOptions<T> {
  host: Host;
  transport: HttpTransport;
  role: WatcherRole<T>;
  /** Default '/restconf'. */
  apiRoot?: string;
  /** Default true: SSE push, falling back to long polling. */
  push?: boolean;
  /** Seconds a long poll asks the server to hold (default 25). */
  longPollWaitS?: number;
  /** Plain polling interval in ms (default: the refresh period). */
  pollIntervalMs?: number;
  /** Per-request timeout in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** A push stream silent this long is reconnected (default 45 000; the server sends keep-alives every 15 s). */
  pushIdleMs?: number;
  /** Backoff bounds (defaults 500 ms .. 30 s) and randomness (tests). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
  /** stop() deletes the role's items on the server (the egress's joins). */
  withdraw?: boolean;
  /** stop() closes the transport (a client made for one server, replaced on reload). */
  closeTransport?: boolean;
  /** Default true: follow assigned-channels; false while mappings come another way (MQTT), see setFollow. */
  follow?: boolean;
}

type AssignmentsListener = (channels: MappedChannel[]) => void;
type StatusListener = (status: WatcherStatus) => void;
/** The client's timed jobs; `watchdog` reconnects a silent push stream. */
type TimerName = 'refresh' | 'follow' | 'put' | 'id' | 'watchdog';

const YANG_JSON = 'application/yang-data+json';
const UNKNOWN_WATCHER = 'ietf-mnat:unknown-watcher-id';
/** A push stream with no bytes (not even the server's 15 s keep-alive) for this long is dead. */
const PUSH_IDLE_MS = 45_000;

class UnknownWatcher extends Error {}

/**
 * 408 (the body came too slowly) and 429 (a per-address limit, shared by every
 * CPE behind one carrier NAT) are passing conditions, retried with backoff
 * rather than taken as a refusal of what was sent.
 */
const isTransient = (status: number): boolean => status === 408 || status === 429;

function parseBody(res: HttpResponse): unknown {
  if (res.body.trim() === '') return undefined;
  return JSON.parse(res.body);
}

/** Throws UnknownWatcher when the server answered that it does not know our id. */
function requireKnownWatcher(res: HttpResponse): void {
  if ((res.status === 400 || res.status === 404) && res.body.indexOf(UNKNOWN_WATCHER) >= 0) throw new UnknownWatcher();
}

function describeError(res: HttpResponse): string {
  try {
    const body = JSON.parse(res.body) as { 'ietf-restconf:errors'?: { error?: Array<Record<string, string>> } };
    const e = body['ietf-restconf:errors']?.error?.[0];
    if (e) return `HTTP ${res.status} ${e['error-tag'] ?? ''}${e['error-path'] ? ` at ${e['error-path']}` : ''}: ${e['error-message'] ?? ''}`;
  } catch {
    // not a RESTCONF error body
  }
  return `HTTP ${res.status}${res.body ? `: ${res.body.slice(0, 200)}` : ''}`;
}

/** The path part of an absolute or relative URI (QuickJS has no URL class). */
function pathOfUri(uri: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(uri);
  if (m) return m[1] ?? '/';
  return uri.startsWith('/') ? uri : `/${uri}`;
}

export interface WatcherClient<T> extends AssignmentFeed<T> {
  on(event: 'assignments', fn: AssignmentsListener): void;
  on(event: 'status', fn: StatusListener): void;
  /** The current watcher id (null before the first one arrives). */
  readonly id: string | null;
  /** The last full assignment list. */
  readonly assignments: MappedChannel[];
  /** Stops following and deletes the push subscription (best effort); with `withdraw`, the items too. */
  stop(): Promise<void>;
  /** Follows assigned-channels (push, long poll, poll) or not; the id, refreshes and PUTs go on either way. */
  setFollow(on: boolean): void;
  /** The servers changed (a new DNS-SD list): while disconnected, jobs waiting out a backoff run now. */
  retryNow(): void;
}

// A closure rather than a class: its state is locals, which minify in the
// QuickJS bundle (`this.#x` members do not), and the bundle has a size budget.
export function createWatcherClient<T>(options: WatcherClientOptions<T>): WatcherClient<T> {
  const { host, transport, role, pollIntervalMs } = options;
  const root = (options.apiRoot ?? '/restconf').replace(/\/+$/, '');
  const longPollWaitS = options.longPollWaitS ?? 25;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const pushIdleMs = options.pushIdleMs ?? PUSH_IDLE_MS;
  const backoff = createBackoff({ initialMs: options.backoffInitialMs ?? 500, maxMs: options.backoffMaxMs ?? 30_000, random: options.random });
  const assignmentListeners: AssignmentsListener[] = [];
  const statusListeners: StatusListener[] = [];

  let running = false;
  let currentEpoch = 0; // bumps on every new watcher id and on stop(): older results are dropped
  let watcherId: string | null = null;
  let refreshPeriodS = 10;
  let mode: FollowMode = options.push !== false ? 'push' : 'long-poll';
  let connected = false;
  let lastError: string | undefined;
  let lastStatusText = '';

  let desired: T[] = [];
  let desiredVersion = 0;
  let putVersion = -1; // desiredVersion last PUT successfully for the current id
  // One PUT at a time; a change during one is PUT right after it.
  const puts = createSerialPass(host, () => put(currentEpoch));

  let assigned: MappedChannel[] = [];
  let assignedJson: Array<Record<string, unknown>> = [];
  let emittedText: string | null = null;
  let etag: string | null = null;

  /** At most one pending timer per job, with what it runs (retryNow runs it early); see arm(). */
  const armed: Partial<Record<TimerName, { handle: TimerHandle; fn: (epoch: number) => void }>> = {};
  let sse: HttpStream | null = null;
  let subscriptionId: number | null = null;
  let gettingId = false;
  let following = options.follow !== false;

  // ------------------------------------------------------------ status

  function setStatus(patch: Partial<{ connected: boolean; mode: FollowMode; lastError: string | undefined }>): void {
    if (patch.connected !== undefined) connected = patch.connected;
    if (patch.mode !== undefined) mode = patch.mode;
    if ('lastError' in patch) lastError = patch.lastError;
    const status: WatcherStatus = { connected: connected, watcherId: watcherId, mode: mode };
    if (lastError !== undefined) status.lastError = lastError;
    const text = JSON.stringify(status);
    if (text === lastStatusText) return;
    lastStatusText = text;
    for (const fn of statusListeners) fn(status);
  }

  function ok(): void {
    backoff.reset();
    setStatus({ connected: true, lastError: undefined });
  }

  function transportFailed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof RequestInterrupted) host.log.info('request to the MNAT server interrupted by a stop signal; retrying unless stopping', { error: message });
    else host.log.warn('MNAT server unreachable', { error: message });
    setStatus({ connected: false, lastError: message });
  }

  function emitIfChanged(): void {
    const text = JSON.stringify(assignedJson);
    if (text === emittedText) return;
    emittedText = text;
    const list = assigned.slice();
    for (const fn of assignmentListeners) fn(list);
  }

  function setAssigned(channels: MappedChannel[]): void {
    assigned = channels;
    assignedJson = channels.map((c) => encodeMappedSg(c) as Record<string, unknown>);
    emitIfChanged();
  }

  // ------------------------------------------------------------ timers

  /** (Re)arms one job's timer; `fn` runs only if no new id or stop() came in between. */
  function arm(name: TimerName, delayMs: number, fn: (epoch: number) => void): void {
    disarm(name);
    const epoch = currentEpoch;
    const handle = host.setTimeout(() => {
      delete armed[name];
      if (epoch === currentEpoch) fn(epoch);
    }, delayMs);
    armed[name] = { handle, fn };
  }

  function disarm(...names: TimerName[]): void {
    for (const name of names) {
      const job = armed[name];
      if (job) host.clearTimeout(job.handle);
      delete armed[name];
    }
  }

  // ------------------------------------------------------------ requests

  async function call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, extra?: Record<string, string>, timeoutMs?: number): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: YANG_JSON, ...(extra ?? {}) };
    if (body !== undefined) headers['content-type'] = YANG_JSON;
    return transport.request({
      method,
      path: root + path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: timeoutMs ?? requestTimeoutMs,
    });
  }

  // ------------------------------------------------------------ id + refresh

  /** Forget the current id (it is unknown or never existed) and get a new one. */
  function newId(): void {
    if (!running) return;
    currentEpoch++;
    watcherId = null;
    etag = null;
    putVersion = -1;
    disarm('refresh', 'follow', 'watchdog');
    sse?.close();
    sse = null;
    subscriptionId = null;
    setStatus({});
    void getId(currentEpoch);
  }

  async function getId(epoch: number): Promise<void> {
    if (gettingId) return;
    gettingId = true;
    try {
      const res = await call('POST', '/operations/ietf-mnat:get-new-watcher-id');
      if (epoch !== currentEpoch || !running) return;
      if (res.status !== 200) throw new Error(`get-new-watcher-id: ${describeError(res)}`);
      const out = decodeGetNewWatcherIdOutput(parseBody(res));
      watcherId = out.watcherId;
      refreshPeriodS = Math.max(1, out.refreshPeriodS);
      host.log.info('got watcher id', { refreshPeriod: refreshPeriodS });
      ok();
      scheduleRefresh();
      schedulePut(0);
      scheduleFollow(0);
    } catch (err) {
      if (epoch !== currentEpoch || !running) return;
      transportFailed(err);
      arm('id', backoff.next(), (e) => void getId(e));
    } finally {
      gettingId = false;
    }
  }

  function scheduleRefresh(delayMs = refreshPeriodS * 1000): void {
    arm('refresh', delayMs, (e) => void refresh(e));
  }

  async function refresh(epoch: number): Promise<void> {
    const id = watcherId;
    if (id === null) return;
    try {
      const res = await call('POST', '/operations/ietf-mnat:refresh-watcher-id', encodeRefreshWatcherIdInput(id));
      if (epoch !== currentEpoch) return;
      requireKnownWatcher(res);
      if (res.status !== 200 && res.status !== 204) throw new Error(`refresh-watcher-id: ${describeError(res)}`);
      const period = res.status === 200 ? decodeRefreshWatcherIdOutput(parseBody(res)).refreshPeriodS : refreshPeriodS;
      refreshPeriodS = Math.max(1, period);
      ok();
      scheduleRefresh();
    } catch (err) {
      if (epoch !== currentEpoch) return;
      if (err instanceof UnknownWatcher) {
        host.log.warn('server forgot our watcher id; getting a new one');
        newId();
        return;
      }
      transportFailed(err);
      // Retry well within the 3-period expiry window.
      scheduleRefresh(Math.min(backoff.next(), refreshPeriodS * 1000));
    }
  }

  // ------------------------------------------------------------ desired set

  function schedulePut(delayMs: number): void {
    if (!running || watcherId === null) return;
    arm('put', delayMs, () => puts.request());
  }

  async function put(epoch: number): Promise<void> {
    const id = watcherId;
    if (!running || id === null || putVersion === desiredVersion) return;
    const version = desiredVersion;
    try {
      const res = await call('PUT', `/data${role.path(id)}`, role.body(id, desired));
      if (epoch !== currentEpoch) return;
      requireKnownWatcher(res);
      if (res.status >= 400 && res.status < 500 && !isTransient(res.status)) {
        // The server refused the content itself (bad address, join limit): retrying
        // the same set will not help; report it and wait for the next change.
        putVersion = version;
        const message = `PUT ${role.what} refused: ${describeError(res)}`;
        host.log.error(message);
        setStatus({ lastError: message });
        return;
      }
      if (res.status !== 200 && res.status !== 201 && res.status !== 204) throw new Error(`PUT: ${describeError(res)}`);
      putVersion = version;
      ok();
    } catch (err) {
      if (epoch !== currentEpoch) return;
      if (err instanceof UnknownWatcher) {
        newId();
        return;
      }
      transportFailed(err);
      schedulePut(backoff.next());
    }
  }

  // ------------------------------------------------------------ following

  function scheduleFollow(delayMs: number): void {
    if (!running || watcherId === null || !following) return;
    arm('follow', delayMs, (e) => void (mode === 'push' ? subscribe(e) : poll(e)));
  }

  function followFailed(epoch: number, err: unknown): void {
    if (epoch !== currentEpoch || !following) return;
    if (err instanceof UnknownWatcher) {
      newId();
      return;
    }
    transportFailed(err);
    scheduleFollow(backoff.next());
  }

  function fallBack(from: FollowMode, reason: string): void {
    const to: FollowMode = from === 'push' ? 'long-poll' : 'poll';
    host.log.info(`server does not support ${from}; falling back to ${to}`, { reason });
    setStatus({ mode: to });
  }

  async function subscribe(epoch: number): Promise<void> {
    const id = watcherId;
    if (id === null) return;
    try {
      const res = await call('POST', '/operations/ietf-subscribed-notifications:establish-subscription', {
        'ietf-subscribed-notifications:input': {
          'ietf-yang-push:datastore': 'ietf-datastores:operational',
          'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']`,
          'ietf-yang-push:on-change': {},
        },
      });
      if (epoch !== currentEpoch || !following) return;
      requireKnownWatcher(res);
      if (res.status !== 200) {
        // Busy or failing, not unsupported: try push again (with backoff) rather than give it up.
        if (res.status >= 500 || isTransient(res.status)) throw new Error(`establish-subscription: ${describeError(res)}`);
        fallBack('push', describeError(res));
        scheduleFollow(0);
        return;
      }
      const out = (parseBody(res) as Record<string, Record<string, unknown>> | undefined)?.['ietf-subscribed-notifications:output'];
      const subId = out?.id;
      const uri = out?.['ietf-restconf-subscribed-notifications:uri'];
      if (typeof subId !== 'number' || typeof uri !== 'string') {
        fallBack('push', 'establish-subscription output has no id/uri');
        scheduleFollow(0);
        return;
      }
      subscriptionId = subId;
      openStream(epoch, id, subId, pathOfUri(uri));
    } catch (err) {
      followFailed(epoch, err);
    }
  }

  function openStream(epoch: number, forId: string, subId: number, path: string): void {
    const listPath = `/ietf-mnat:assigned-channels/watcher=${encodeKey(forId)}/mapped-sg`;
    let status = 0;
    let failed: Error | null = null;
    let terminated = false;
    let gotUpdate = false;
    const parser = new SseParser((event) => {
      if (epoch !== currentEpoch || failed) return;
      try {
        const msg = JSON.parse(event.data) as Record<string, Record<string, unknown>>;
        const n = msg['ietf-restconf:notification'];
        if (!n) return;
        const update = n['ietf-yang-push:push-update'] as Record<string, unknown> | undefined;
        const change = n['ietf-yang-push:push-change-update'] as Record<string, unknown> | undefined;
        const term = n['ietf-subscribed-notifications:subscription-terminated'];
        if (update) {
          const decoded = decodeAssignedChannels((update['datastore-contents'] as unknown) ?? {});
          const mine = decoded.find((w) => w.id === forId) ?? decoded[0];
          gotUpdate = true;
          ok();
          setAssigned(mine ? mine.channels : []);
        } else if (change) {
          // RFC 8641's yang-patch container is ietf-yang-push's own (`uses`), so RFC 7951 JSON
          // names it "yang-patch"; older mnat-servers sent "ietf-yang-patch:yang-patch".
          const changes = change['datastore-changes'] as Record<string, Record<string, unknown>> | undefined;
          const patch = changes?.['yang-patch'] ?? changes?.['ietf-yang-patch:yang-patch'];
          const edits = (patch?.edit ?? []) as YangPatchEdit[];
          const next = applyKeyedListEdits(listPath, 'ietf-mnat:mapped-sg', assignedJson, edits);
          setAssigned(next.map((v, i) => decodeMappedSg(v, `/edit[${i}]`)));
        } else if (term) {
          terminated = true;
        }
      } catch (err) {
        failed = err instanceof Error ? err : new Error(String(err));
      }
    });
    // One way out, whoever notices first: the transport ending the stream, a
    // bad event, or the watchdog (the server sends a keep-alive every 15 s).
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      if (epoch !== currentEpoch || (sse !== null && sse !== stream) || !following) return; // a stream we replaced or closed
      disarm('watchdog');
      sse = null;
      if (subscriptionId === subId) subscriptionId = null;
      if (status !== 200 && status !== 0 && status !== 404 && !gotUpdate) {
        // The server offers establish-subscription but not the stream: long-poll instead.
        fallBack('push', `subscription stream answered HTTP ${status}`);
        scheduleFollow(0);
        return;
      }
      if (terminated) {
        // The server ends a subscription when its watcher is gone: check by refreshing.
        host.log.info('push subscription terminated by the server');
        void refresh(epoch);
        scheduleFollow(backoff.next());
        return;
      }
      // The transport's own error as it is: it may say the stream was interrupted (RequestInterrupted).
      followFailed(epoch, failed ?? error ?? new Error(status === 404 ? 'subscription vanished (HTTP 404)' : 'push stream ended'));
    };
    const armWatchdog = (): void =>
      arm('watchdog', pushIdleMs, () => {
        stream.close();
        finish(new Error(`no data on the push stream for ${pushIdleMs / 1000} s`));
      });
    const stream: HttpStream = transport.stream(
      { method: 'GET', path, headers: { accept: 'text/event-stream' } },
      {
        onResponse: (s) => {
          host.log.debug('push stream answered', { status: s, subscription: subId });
          status = s;
        },
        onData: (chunk) => {
          if (done || status !== 200 || epoch !== currentEpoch) return;
          if (sse === stream) armWatchdog();
          try {
            parser.push(chunk);
          } catch (err) {
            failed = err as Error;
          }
          if (failed) {
            stream.close();
            finish();
          }
        },
        onEnd: (error) => finish(error),
      },
    );
    if (!done) {
      sse = stream;
      armWatchdog();
    }
  }

  async function poll(epoch: number): Promise<void> {
    const id = watcherId;
    if (id === null) return;
    const longPoll = mode === 'long-poll' && etag !== null;
    const headers: Record<string, string> = {};
    if (etag !== null) headers['if-none-match'] = etag;
    if (longPoll) headers.prefer = `wait=${longPollWaitS}`;
    const startedMs = host.now();
    try {
      const res = await call(
        'GET',
        `/data/ietf-mnat:assigned-channels/watcher=${encodeKey(id)}`,
        undefined,
        headers,
        longPoll ? (longPollWaitS + 15) * 1000 : undefined,
      );
      if (epoch !== currentEpoch) return;
      requireKnownWatcher(res);
      if (res.status === 304) {
        ok();
        if (longPoll && host.now() - startedMs < 500) {
          // Asked to hold but answered at once: the server does not long-poll.
          fallBack('long-poll', 'a matching If-None-Match was answered at once');
        }
      } else if (res.status === 200) {
        const decoded = decodeAssignedChannels(parseBody(res));
        const mine = decoded.find((w) => w.id === id) ?? decoded[0];
        ok();
        setAssigned(mine ? mine.channels : []);
        const tag = res.headers.etag;
        if (!tag) {
          if (mode === 'long-poll') fallBack('long-poll', 'no ETag on assigned-channels');
        } else if (longPoll && tag === etag && host.now() - startedMs < 500) {
          // The same ETag we sent came back at once: If-None-Match is ignored, so do not spin.
          fallBack('long-poll', 'If-None-Match is ignored by the server');
        }
        if (tag) etag = tag;
      } else {
        throw new Error(`GET assigned-channels: ${describeError(res)}`);
      }
      // Long polls follow each other at once; plain polls wait an interval.
      scheduleFollow(mode === 'long-poll' ? 0 : (pollIntervalMs ?? refreshPeriodS * 1000));
    } catch (err) {
      followFailed(epoch, err);
    }
  }

  return {
    on(event: 'assignments' | 'status', fn: AssignmentsListener | StatusListener): void {
      if (event === 'assignments') assignmentListeners.push(fn as AssignmentsListener);
      else statusListeners.push(fn as StatusListener);
    },
    get id() {
      return watcherId;
    },
    get assignments() {
      return assigned.slice();
    },
    start(): void {
      if (running) return;
      running = true;
      newId();
    },
    async stop(): Promise<void> {
      if (!running) return;
      running = false;
      currentEpoch++;
      disarm('refresh', 'follow', 'put', 'id', 'watchdog');
      sse?.close();
      sse = null;
      const sub = subscriptionId;
      subscriptionId = null;
      if (sub !== null) {
        try {
          await transport.request({
            method: 'POST',
            path: `${root}/operations/ietf-subscribed-notifications:delete-subscription`,
            headers: { 'content-type': YANG_JSON, accept: YANG_JSON },
            body: JSON.stringify({ 'ietf-subscribed-notifications:input': { id: sub } }),
            timeoutMs: 2000,
          });
        } catch {
          // the server may be gone; the subscription dies with its stream anyway
        }
      }
      if (options.withdraw && watcherId !== null) {
        await transport.request({ method: 'DELETE', path: `${root}/data${role.path(watcherId)}`, timeoutMs: 2000 }).then(
          (r) => host.log.debug(`${role.what} withdrawn from the server`, { status: r.status }),
          (err: Error) => host.log.debug(`could not withdraw the ${role.what} (server away?)`, { error: err.message }),
        );
      }
      if (options.closeTransport) transport.close();
    },
    retryNow(): void {
      if (!running || connected) return;
      backoff.reset();
      // Not the watchdog: it is armed only while a push stream is up.
      for (const name of ['id', 'put', 'refresh', 'follow'] as const) {
        const job = armed[name];
        if (job) arm(name, 0, job.fn);
      }
    },
    setFollow(on: boolean): void {
      if (on === following) return;
      following = on;
      emittedText = null; // the first full update after this is told, even if it equals an old one
      if (on) return scheduleFollow(0);
      disarm('follow', 'watchdog');
      sse?.close(); // the server deletes a subscription whose stream closes
      sse = null;
      subscriptionId = null;
    },
    setDesired(items: readonly T[]): void {
      const next = dedupe(items, role.key);
      if (sameList(next.map(role.key), desired.map(role.key))) return;
      desired = next;
      desiredVersion++;
      schedulePut(0);
    },
  };
}

function dedupe<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(item);
  }
  return out;
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = a.slice().sort();
  const sb = b.slice().sort();
  return sa.every((v, i) => v === sb[i]);
}
