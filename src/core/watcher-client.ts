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
//     server lost it), gets a new id and re-PUTs.
// Stale results from an old id or connection are dropped by an epoch counter.
import { createBackoff, type Backoff } from './backoff.ts';
import { channelKey, type Channel } from './channel.ts';
import {
  decodeAssignedChannels,
  decodeGetNewWatcherIdOutput,
  decodeMappedSg,
  decodeRefreshWatcherIdOutput,
  encodeEgressWatcher,
  encodeIngressWatcher,
  encodeMappedSg,
  encodeRefreshWatcherIdInput,
} from './ietf-mnat-codec.ts';
import type { JoinedSg, MappedChannel, Monitor } from './mnat-state.ts';
import { SseParser } from './sse-parser.ts';
import { applyKeyedListEdits, encodeKey, type YangPatchEdit } from './yang-patch.ts';
import type { Host, HttpResponse, HttpStream, HttpTransport, TimerHandle } from '../host/host.ts';

export type FollowMode = 'push' | 'long-poll' | 'poll';

export interface WatcherStatus {
  connected: boolean;
  watcherId: string | null;
  mode: FollowMode;
  lastError?: string;
}

export interface WatcherClientOptions {
  host: Host;
  transport: HttpTransport;
  role: 'egress' | 'ingress';
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

export class WatcherClient {
  readonly #host: Host;
  readonly #transport: HttpTransport;
  readonly #role: 'egress' | 'ingress';
  readonly #root: string;
  readonly #wantPush: boolean;
  readonly #longPollWaitS: number;
  readonly #requestTimeoutMs: number;
  readonly #pushIdleMs: number;
  readonly #pollIntervalMs: number | undefined;
  readonly #backoff: Backoff;
  readonly #assignmentListeners: AssignmentsListener[] = [];
  readonly #statusListeners: StatusListener[] = [];

  #running = false;
  #epoch = 0; // bumps on every new watcher id and on stop()
  #watcherId: string | null = null;
  #refreshPeriodS = 10;
  #mode: FollowMode;
  #connected = false;
  #lastError: string | undefined;
  #lastStatusText = '';

  #desiredJoins: Channel[] = [];
  #desiredMonitors: string[] = [];
  #desiredVersion = 0;
  #putVersion = -1; // desiredVersion last PUT successfully for the current id
  #putInFlight = false;

  #assigned: MappedChannel[] = [];
  #assignedJson: Array<Record<string, unknown>> = [];
  #emittedText: string | null = null;
  #etag: string | null = null;

  /** At most one pending timer per job; see #arm. */
  readonly #timers: Partial<Record<TimerName, TimerHandle>> = {};
  #sse: HttpStream | null = null;
  #subscriptionId: number | null = null;
  #gettingId = false;

  constructor(options: WatcherClientOptions) {
    this.#host = options.host;
    this.#transport = options.transport;
    this.#role = options.role;
    this.#root = (options.apiRoot ?? '/restconf').replace(/\/+$/, '');
    this.#wantPush = options.push !== false;
    this.#mode = this.#wantPush ? 'push' : 'long-poll';
    this.#longPollWaitS = options.longPollWaitS ?? 25;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#pushIdleMs = options.pushIdleMs ?? PUSH_IDLE_MS;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#backoff = createBackoff({ initialMs: options.backoffInitialMs ?? 500, maxMs: options.backoffMaxMs ?? 30_000, random: options.random });
  }

  on(event: 'assignments', fn: AssignmentsListener): void;
  on(event: 'status', fn: StatusListener): void;
  on(event: 'assignments' | 'status', fn: AssignmentsListener | StatusListener): void {
    if (event === 'assignments') this.#assignmentListeners.push(fn as AssignmentsListener);
    else this.#statusListeners.push(fn as StatusListener);
  }

  /** The current watcher id (null before the first one arrives). */
  get id(): string | null {
    return this.#watcherId;
  }

  /** The last full assignment list. */
  get assignments(): MappedChannel[] {
    return this.#assigned.slice();
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#newId();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#epoch++;
    this.#disarm('refresh', 'follow', 'put', 'id', 'watchdog');
    this.#sse?.close();
    this.#sse = null;
    const sub = this.#subscriptionId;
    this.#subscriptionId = null;
    if (sub !== null) {
      try {
        await this.#transport.request({
          method: 'POST',
          path: `${this.#root}/operations/ietf-subscribed-notifications:delete-subscription`,
          headers: { 'content-type': YANG_JSON, accept: YANG_JSON },
          body: JSON.stringify({ 'ietf-subscribed-notifications:input': { id: sub } }),
          timeoutMs: 2000,
        });
      } catch {
        // the server may be gone; the subscription dies with its stream anyway
      }
    }
  }

  setJoins(channels: Channel[]): void {
    const norm = dedupe(channels.map((c) => ({ source: c.source, group: c.group })), channelKey);
    if (sameList(norm.map(channelKey), this.#desiredJoins.map(channelKey))) return;
    this.#desiredJoins = norm;
    this.#desiredVersion++;
    this.#schedulePut(0);
  }

  setMonitors(prefixes: string[]): void {
    const norm = dedupe(prefixes.slice(), (p) => p);
    if (sameList(norm, this.#desiredMonitors)) return;
    this.#desiredMonitors = norm;
    this.#desiredVersion++;
    this.#schedulePut(0);
  }

  // ------------------------------------------------------------ status

  #setStatus(patch: Partial<{ connected: boolean; mode: FollowMode; lastError: string | undefined }>): void {
    if (patch.connected !== undefined) this.#connected = patch.connected;
    if (patch.mode !== undefined) this.#mode = patch.mode;
    if ('lastError' in patch) this.#lastError = patch.lastError;
    const status: WatcherStatus = { connected: this.#connected, watcherId: this.#watcherId, mode: this.#mode };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    const text = JSON.stringify(status);
    if (text === this.#lastStatusText) return;
    this.#lastStatusText = text;
    for (const fn of this.#statusListeners) fn(status);
  }

  #ok(): void {
    this.#backoff.reset();
    this.#setStatus({ connected: true, lastError: undefined });
  }

  #transportFailed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#host.log.warn('MNAT server unreachable', { error: message });
    this.#setStatus({ connected: false, lastError: message });
  }

  #emitIfChanged(): void {
    const text = JSON.stringify(this.#assignedJson);
    if (text === this.#emittedText) return;
    this.#emittedText = text;
    const list = this.#assigned.slice();
    for (const fn of this.#assignmentListeners) fn(list);
  }

  #setAssigned(channels: MappedChannel[]): void {
    this.#assigned = channels;
    this.#assignedJson = channels.map((c) => encodeMappedSg(c) as Record<string, unknown>);
    this.#emitIfChanged();
  }

  // ------------------------------------------------------------ timers

  /** (Re)arms one job's timer; `fn` runs only if no new id or stop() came in between. */
  #arm(name: TimerName, delayMs: number, fn: (epoch: number) => void): void {
    this.#disarm(name);
    const epoch = this.#epoch;
    this.#timers[name] = this.#host.setTimeout(() => {
      delete this.#timers[name];
      if (epoch === this.#epoch) fn(epoch);
    }, delayMs);
  }

  #disarm(...names: TimerName[]): void {
    for (const name of names) {
      const t = this.#timers[name];
      if (t !== undefined) this.#host.clearTimeout(t);
      delete this.#timers[name];
    }
  }

  // ------------------------------------------------------------ requests

  async #call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, extra?: Record<string, string>, timeoutMs?: number): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: YANG_JSON, ...(extra ?? {}) };
    if (body !== undefined) headers['content-type'] = YANG_JSON;
    return this.#transport.request({
      method,
      path: this.#root + path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: timeoutMs ?? this.#requestTimeoutMs,
    });
  }

  // ------------------------------------------------------------ id + refresh

  /** Forget the current id (it is unknown or never existed) and get a new one. */
  #newId(): void {
    if (!this.#running) return;
    this.#epoch++;
    this.#watcherId = null;
    this.#etag = null;
    this.#putVersion = -1;
    this.#disarm('refresh', 'follow', 'watchdog');
    this.#sse?.close();
    this.#sse = null;
    this.#subscriptionId = null;
    this.#setStatus({});
    void this.#getId(this.#epoch);
  }

  async #getId(epoch: number): Promise<void> {
    if (this.#gettingId) return;
    this.#gettingId = true;
    try {
      const res = await this.#call('POST', '/operations/ietf-mnat:get-new-watcher-id');
      if (epoch !== this.#epoch || !this.#running) return;
      if (res.status !== 200) throw new Error(`get-new-watcher-id: ${describeError(res)}`);
      const out = decodeGetNewWatcherIdOutput(parseBody(res));
      this.#watcherId = out.watcherId;
      this.#refreshPeriodS = Math.max(1, out.refreshPeriodS);
      this.#host.log.info('got watcher id', { refreshPeriod: this.#refreshPeriodS });
      this.#ok();
      this.#scheduleRefresh();
      this.#schedulePut(0);
      this.#scheduleFollow(0);
    } catch (err) {
      if (epoch !== this.#epoch || !this.#running) return;
      this.#transportFailed(err);
      this.#arm('id', this.#backoff.next(), (e) => void this.#getId(e));
    } finally {
      this.#gettingId = false;
    }
  }

  #scheduleRefresh(delayMs = this.#refreshPeriodS * 1000): void {
    this.#arm('refresh', delayMs, (e) => void this.#refresh(e));
  }

  async #refresh(epoch: number): Promise<void> {
    const id = this.#watcherId;
    if (id === null) return;
    try {
      const res = await this.#call('POST', '/operations/ietf-mnat:refresh-watcher-id', encodeRefreshWatcherIdInput(id));
      if (epoch !== this.#epoch) return;
      requireKnownWatcher(res);
      if (res.status !== 200 && res.status !== 204) throw new Error(`refresh-watcher-id: ${describeError(res)}`);
      const period = res.status === 200 ? decodeRefreshWatcherIdOutput(parseBody(res)).refreshPeriodS : this.#refreshPeriodS;
      this.#refreshPeriodS = Math.max(1, period);
      this.#ok();
      this.#scheduleRefresh();
    } catch (err) {
      if (epoch !== this.#epoch) return;
      if (err instanceof UnknownWatcher) {
        this.#host.log.warn('server forgot our watcher id; getting a new one');
        this.#newId();
        return;
      }
      this.#transportFailed(err);
      // Retry well within the 3-period expiry window.
      this.#scheduleRefresh(Math.min(this.#backoff.next(), this.#refreshPeriodS * 1000));
    }
  }

  // ------------------------------------------------------------ desired set

  #schedulePut(delayMs: number): void {
    if (!this.#running || this.#watcherId === null) return;
    this.#arm('put', delayMs, (e) => void this.#put(e));
  }

  async #put(epoch: number): Promise<void> {
    const id = this.#watcherId;
    if (id === null || this.#putInFlight || this.#putVersion === this.#desiredVersion) return;
    this.#putInFlight = true;
    const version = this.#desiredVersion;
    const key = encodeKey(id);
    try {
      let res: HttpResponse;
      if (this.#role === 'egress') {
        const joins: JoinedSg[] = this.#desiredJoins.map((channel) => ({ id: channelKey(channel), channel }));
        res = await this.#call('PUT', `/data/ietf-mnat:egress-global-joined/watcher=${key}`, encodeEgressWatcher(id, joins));
      } else {
        const monitors: Monitor[] = this.#desiredMonitors.map((p) => ({ id: p, globalSourcePrefix: p }));
        res = await this.#call('PUT', `/data/ietf-mnat:ingress-watching/watcher=${key}`, encodeIngressWatcher(id, monitors));
      }
      if (epoch !== this.#epoch) return;
      requireKnownWatcher(res);
      if (res.status >= 400 && res.status < 500) {
        // The server refused the content itself (bad address, join limit): retrying
        // the same set will not help; report it and wait for the next change.
        this.#putVersion = version;
        const message = `PUT ${this.#role === 'egress' ? 'joins' : 'monitors'} refused: ${describeError(res)}`;
        this.#host.log.error(message);
        this.#setStatus({ lastError: message });
        return;
      }
      if (res.status !== 200 && res.status !== 201 && res.status !== 204) throw new Error(`PUT: ${describeError(res)}`);
      this.#putVersion = version;
      this.#ok();
    } catch (err) {
      if (epoch !== this.#epoch) return;
      if (err instanceof UnknownWatcher) {
        this.#newId();
        return;
      }
      this.#transportFailed(err);
      this.#schedulePut(this.#backoff.next());
      return;
    } finally {
      this.#putInFlight = false;
    }
    if (this.#putVersion !== this.#desiredVersion) this.#schedulePut(0);
  }

  // ------------------------------------------------------------ following

  #scheduleFollow(delayMs: number): void {
    if (!this.#running || this.#watcherId === null) return;
    this.#arm('follow', delayMs, (e) => void (this.#mode === 'push' ? this.#subscribe(e) : this.#poll(e)));
  }

  #followFailed(epoch: number, err: unknown): void {
    if (epoch !== this.#epoch) return;
    if (err instanceof UnknownWatcher) {
      this.#newId();
      return;
    }
    this.#transportFailed(err);
    this.#scheduleFollow(this.#backoff.next());
  }

  #fallBack(from: FollowMode, reason: string): void {
    const to: FollowMode = from === 'push' ? 'long-poll' : 'poll';
    this.#host.log.info(`server does not support ${from}; falling back to ${to}`, { reason });
    this.#setStatus({ mode: to });
  }

  async #subscribe(epoch: number): Promise<void> {
    const id = this.#watcherId;
    if (id === null) return;
    try {
      const res = await this.#call('POST', '/operations/ietf-subscribed-notifications:establish-subscription', {
        'ietf-subscribed-notifications:input': {
          'ietf-yang-push:datastore': 'ietf-datastores:operational',
          'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']`,
          'ietf-yang-push:on-change': {},
        },
      });
      if (epoch !== this.#epoch) return;
      requireKnownWatcher(res);
      if (res.status !== 200) {
        if (res.status >= 500) throw new Error(`establish-subscription: ${describeError(res)}`);
        this.#fallBack('push', describeError(res));
        this.#scheduleFollow(0);
        return;
      }
      const out = (parseBody(res) as Record<string, Record<string, unknown>> | undefined)?.['ietf-subscribed-notifications:output'];
      const subId = out?.id;
      const uri = out?.['ietf-restconf-subscribed-notifications:uri'];
      if (typeof subId !== 'number' || typeof uri !== 'string') {
        this.#fallBack('push', 'establish-subscription output has no id/uri');
        this.#scheduleFollow(0);
        return;
      }
      this.#subscriptionId = subId;
      this.#openStream(epoch, id, subId, pathOfUri(uri));
    } catch (err) {
      this.#followFailed(epoch, err);
    }
  }

  #openStream(epoch: number, watcherId: string, subId: number, path: string): void {
    const listPath = `/ietf-mnat:assigned-channels/watcher=${encodeKey(watcherId)}/mapped-sg`;
    let status = 0;
    let failed: Error | null = null;
    let terminated = false;
    let gotUpdate = false;
    const parser = new SseParser((event) => {
      if (epoch !== this.#epoch || failed) return;
      try {
        const msg = JSON.parse(event.data) as Record<string, Record<string, unknown>>;
        const n = msg['ietf-restconf:notification'];
        if (!n) return;
        const update = n['ietf-yang-push:push-update'] as Record<string, unknown> | undefined;
        const change = n['ietf-yang-push:push-change-update'] as Record<string, unknown> | undefined;
        const term = n['ietf-subscribed-notifications:subscription-terminated'];
        if (update) {
          const decoded = decodeAssignedChannels((update['datastore-contents'] as unknown) ?? {});
          const mine = decoded.find((w) => w.id === watcherId) ?? decoded[0];
          gotUpdate = true;
          this.#ok();
          this.#setAssigned(mine ? mine.channels : []);
        } else if (change) {
          const patch = (change['datastore-changes'] as Record<string, Record<string, unknown>> | undefined)?.['ietf-yang-patch:yang-patch'];
          const edits = (patch?.edit ?? []) as YangPatchEdit[];
          const next = applyKeyedListEdits(listPath, 'ietf-mnat:mapped-sg', this.#assignedJson, edits);
          this.#setAssigned(next.map((v, i) => decodeMappedSg(v, `/edit[${i}]`)));
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
      if (epoch !== this.#epoch || (this.#sse !== null && this.#sse !== stream)) return; // a stream we already replaced
      this.#disarm('watchdog');
      this.#sse = null;
      if (this.#subscriptionId === subId) this.#subscriptionId = null;
      if (status !== 200 && status !== 0 && status !== 404 && !gotUpdate) {
        // The server offers establish-subscription but not the stream: long-poll instead.
        this.#fallBack('push', `subscription stream answered HTTP ${status}`);
        this.#scheduleFollow(0);
        return;
      }
      if (terminated) {
        // The server ends a subscription when its watcher is gone: check by refreshing.
        this.#host.log.info('push subscription terminated by the server');
        void this.#refresh(epoch);
        this.#scheduleFollow(this.#backoff.next());
        return;
      }
      const reason = failed ? failed.message : error ? error.message : status === 404 ? 'subscription vanished (HTTP 404)' : 'push stream ended';
      this.#followFailed(epoch, new Error(reason));
    };
    const armWatchdog = (): void =>
      this.#arm('watchdog', this.#pushIdleMs, () => {
        stream.close();
        finish(new Error(`no data on the push stream for ${this.#pushIdleMs / 1000} s`));
      });
    const stream: HttpStream = this.#transport.stream(
      { method: 'GET', path, headers: { accept: 'text/event-stream' } },
      {
        onResponse: (s) => {
          status = s;
        },
        onData: (chunk) => {
          if (done || status !== 200 || epoch !== this.#epoch) return;
          if (this.#sse === stream) armWatchdog();
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
      this.#sse = stream;
      armWatchdog();
    }
  }

  async #poll(epoch: number): Promise<void> {
    const id = this.#watcherId;
    if (id === null) return;
    const longPoll = this.#mode === 'long-poll' && this.#etag !== null;
    const headers: Record<string, string> = {};
    if (this.#etag !== null) headers['if-none-match'] = this.#etag;
    if (longPoll) headers.prefer = `wait=${this.#longPollWaitS}`;
    const startedMs = this.#host.now();
    try {
      const res = await this.#call(
        'GET',
        `/data/ietf-mnat:assigned-channels/watcher=${encodeKey(id)}`,
        undefined,
        headers,
        longPoll ? (this.#longPollWaitS + 15) * 1000 : undefined,
      );
      if (epoch !== this.#epoch) return;
      requireKnownWatcher(res);
      if (res.status === 304) {
        this.#ok();
        if (longPoll && this.#host.now() - startedMs < 500) {
          // Asked to hold but answered at once: the server does not long-poll.
          this.#fallBack('long-poll', 'a matching If-None-Match was answered at once');
        }
      } else if (res.status === 200) {
        const decoded = decodeAssignedChannels(parseBody(res));
        const mine = decoded.find((w) => w.id === id) ?? decoded[0];
        this.#ok();
        this.#setAssigned(mine ? mine.channels : []);
        const etag = res.headers.etag;
        if (!etag) {
          if (this.#mode === 'long-poll') this.#fallBack('long-poll', 'no ETag on assigned-channels');
        } else if (longPoll && etag === this.#etag && this.#host.now() - startedMs < 500) {
          // The same ETag we sent came back at once: If-None-Match is ignored, so do not spin.
          this.#fallBack('long-poll', 'If-None-Match is ignored by the server');
        }
        if (etag) this.#etag = etag;
      } else {
        throw new Error(`GET assigned-channels: ${describeError(res)}`);
      }
      // Long polls follow each other at once; plain polls wait an interval.
      this.#scheduleFollow(this.#mode === 'long-poll' ? 0 : (this.#pollIntervalMs ?? this.#refreshPeriodS * 1000));
    } catch (err) {
      this.#followFailed(epoch, err);
    }
  }
}

function dedupe<T>(items: T[], key: (t: T) => string): T[] {
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
