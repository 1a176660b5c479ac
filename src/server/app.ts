// The RESTCONF application of mnat-server: routing, media types, access
// control, the ietf-mnat operations and data resources, push and long polling,
// /metrics and the status page. Transport-independent: it gets compat
// request/response objects from listener.ts (HTTP/2 or HTTP/1.1).
import { randomBytes } from 'node:crypto';
import {
  CodecError,
  decodeEgressWatcher,
  decodeEgressWatchers,
  decodeIngressWatcher,
  decodeIngressWatchers,
  decodeRefreshWatcherIdInput,
  encodeAssignedChannels,
  encodeAssignedChannelsWatcher,
  encodeEgressGlobalJoined,
  encodeEgressWatcher,
  encodeGetNewWatcherIdOutput,
  encodeIngressWatcher,
  encodeIngressWatching,
  encodeMappedSg,
  encodeRefreshWatcherIdOutput,
  type Json,
} from '../protocol/ietf-mnat-codec.ts';
import type { JoinedSg, Monitor } from '../protocol/model.ts';
import { MnatError, type MnatState } from './state/mnat-state.ts';
import type { Logger } from '../host/host.ts';
import type { Journal } from './store/journal.ts';
import { peerIdentity, type AnyRequest, type AnyResponse, type PeerIdentity } from './http/listener.ts';
import { PushHub } from './push/push-hub.ts';
import { errorBody, errors, RestconfError } from './http/restconf-error.ts';
import { renderMetrics } from './ops/metrics.ts';
import { renderStatusPage } from './ops/status-page.ts';

export const MAX_BODY_BYTES = 64 * 1024;
const BODY_CACHE_ENTRIES = 4096;
const MAX_SUBSCRIPTIONS_PER_WATCHER = 8;
const MAX_LONG_POLLS_PER_WATCHER = 16;
const YANG_JSON = 'application/yang-data+json';
const RESTCONF_ROOT = '/restconf';

export interface AppConfig {
  /** Extra API roots served with the prototype's quirks, e.g. "/mnat-ds". */
  aliasRoots: readonly string[];
  /** mTLS configured (--client-ca): the status page needs an admin certificate. */
  mtls: boolean;
  /** Subject CNs of client certificates allowed to see the status page under mTLS. */
  adminCns: readonly string[];
  /** Longest a long poll is held (ms). */
  longPollMaxMs: number;
  /** Default hold of a long poll without Prefer: wait=N (ms). */
  longPollDefaultMs: number;
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

interface Ctx {
  req: AnyRequest;
  res: AnyResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  root: string;
  prototype: boolean;
  identity: PeerIdentity | null;
  owner: string | undefined;
}

/** What differs between the two per-watcher data containers; the RESTCONF handling is the same. */
interface WatcherDataKind<T> {
  role: 'egress' | 'ingress';
  container: 'egress-global-joined' | 'ingress-watching';
  /** Plural noun of the entries, for the 404 hint. */
  items: string;
  decodeList(body: unknown): Array<{ id: string | undefined; items: T[] }>;
  decodeOne(body: unknown, watcherId: string): T[];
  encodeList(watchers: Array<{ id: string; items: T[] }>): Json;
  encodeOne(watcherId: string, items: T[]): Json;
  get(state: MnatState, id: string): T[];
  set(state: MnatState, id: string, items: T[], nowMs: number): void;
  merge(state: MnatState, id: string, items: T[], nowMs: number): void;
  remove(state: MnatState, id: string, nowMs: number): void;
}

const EGRESS_DATA: WatcherDataKind<JoinedSg> = {
  role: 'egress',
  container: 'egress-global-joined',
  items: 'joins',
  decodeList: (body) => decodeEgressWatchers(body).map((w) => ({ id: w.id, items: w.joins })),
  decodeOne: decodeEgressWatcher,
  encodeList: (watchers) => encodeEgressGlobalJoined(watchers.map((w) => ({ id: w.id, joins: w.items }))),
  encodeOne: encodeEgressWatcher,
  get: (state, id) => state.egressJoins(id),
  set: (state, id, items, nowMs) => state.setEgressJoins(id, items, nowMs),
  merge: (state, id, items, nowMs) => state.mergeEgressJoins(id, items, nowMs),
  remove: (state, id, nowMs) => state.deleteEgressJoins(id, nowMs),
};

const INGRESS_DATA: WatcherDataKind<Monitor> = {
  role: 'ingress',
  container: 'ingress-watching',
  items: 'monitors',
  decodeList: (body) => decodeIngressWatchers(body).map((w) => ({ id: w.id, items: w.monitors })),
  decodeOne: decodeIngressWatcher,
  encodeList: (watchers) => encodeIngressWatching(watchers.map((w) => ({ id: w.id, monitors: w.items }))),
  encodeOne: encodeIngressWatcher,
  get: (state, id) => state.ingressMonitors(id),
  set: (state, id, items, nowMs) => state.setIngressMonitors(id, items, nowMs),
  merge: (state, id, items, nowMs) => state.mergeIngressMonitors(id, items, nowMs),
  remove: (state, id, nowMs) => state.deleteIngressMonitors(id, nowMs),
};

function decodeSegment(segment: string): string {
  if (segment.indexOf('%') < 0) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw errors.malformed(`bad percent-encoding in path segment "${segment}"`);
  }
}

export class MnatApp {
  readonly push: PushHub;
  readonly requestsByStatus = new Map<number, number>();
  private readonly started = Date.now();
  private readonly instance = randomBytes(4).toString('hex');
  private readonly bodyCache = new Map<string, { version: number; body: string }>();
  private readonly refreshBodies = new Map<number, string>();
  private readonly refreshPaths: Set<string>;
  private readonly assignedPrefixes: string[];
  /** Watchers by client certificate, so container GETs do not scan every watcher. */
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly ownerOfId = new Map<string, string>();
  private pendingNotify = new Set<string>();
  private notifyScheduled = false;
  private closing = false;

  constructor(
    readonly state: MnatState,
    private readonly journal: Journal | null,
    private readonly log: Logger,
    private readonly config: AppConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.assignedPrefixes = [RESTCONF_ROOT, ...config.aliasRoots].map((r) => `${r}/data/ietf-mnat:assigned-channels/watcher=`);
    this.refreshPaths = new Set([RESTCONF_ROOT, ...config.aliasRoots].map((r) => `${r}/operations/ietf-mnat:refresh-watcher-id`));
    this.push = new PushHub({
      exists: (id) => state.hasWatcher(id),
      entries: (id) => state.assignedChannels(id).map((c) => encodeMappedSg(c) as Record<string, unknown>),
      etag: (id) => this.etagOf(id),
    });
    this.push.onAttach = () => this.count(200);
    state.onWatchersChanged((ids) => this.queueNotify(ids));
    state.onWatcherRemoved((id) => {
      this.bodyCache.delete(id);
      this.unindexOwner(id);
      this.queueNotify([id]);
    });
    // Watchers restored from the state directory keep their certificate binding.
    for (const id of state.watcherIds()) {
      const owner = state.ownerOf(id);
      if (owner !== undefined) this.indexOwner(id, owner);
    }
  }

  /** Notify only after the journal holds the change: a client is never told what a crash could undo. */
  private queueNotify(ids: readonly string[]): void {
    for (const id of ids) {
      // keep first-seen order (ingress watchers come first from the state machine)
      this.pendingNotify.add(id);
    }
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    const run = (): void => {
      this.notifyScheduled = false;
      const batch = Array.from(this.pendingNotify);
      this.pendingNotify = new Set();
      this.push.deliver(batch);
    };
    if (this.journal) {
      this.journal.sync().then(run, (err: Error) => {
        this.notifyScheduled = false;
        this.log.error('not notifying watchers: journal failed', { error: err.message });
      });
    } else {
      queueMicrotask(run);
    }
  }

  /**
   * The ETag is the watcher's version (bumped by the state machine on every
   * change of its assigned-channels) qualified by this process's instance tag,
   * so an ETag from before a restart never matches after it.
   */
  private etagOf(id: string): string {
    return `"${this.instance}.${this.state.version(id).toString(36)}"`;
  }

  private assignedBody(id: string): { etag: string; body: string } {
    const version = this.state.version(id);
    const cached = this.bodyCache.get(id);
    if (cached && cached.version === version) return { etag: this.etagOf(id), body: cached.body };
    const body = JSON.stringify(encodeAssignedChannelsWatcher(id, this.state.assignedChannels(id)));
    // Pollers ask for the same unchanged list again and again; keep a bounded
    // number of encoded bodies (oldest inserted evicted first).
    if (cached) this.bodyCache.delete(id);
    else if (this.bodyCache.size >= BODY_CACHE_ENTRIES) {
      const oldest = this.bodyCache.keys().next().value;
      if (oldest !== undefined) this.bodyCache.delete(oldest);
    }
    this.bodyCache.set(id, { version, body });
    return { etag: this.etagOf(id), body };
  }

  beginShutdown(): void {
    this.closing = true;
    this.push.closeAll();
  }

  // ---------------------------------------------------------------- entry

  handle(req: AnyRequest, res: AnyResponse): void {
    // Refreshes are most of the traffic (every watcher, every period): a
    // direct path for the well-formed HTTP/2 case; anything unusual goes the
    // general way with the body already read.
    if (req.method === 'POST' && req.stream && this.refreshPaths.has(req.url as string)) {
      this.fastRefresh(req, res);
      return;
    }
    if (req.method === 'GET' && req.stream && this.tryAssignedGet(req, res)) return;
    this.general(req, res);
  }

  /** Plain GET …/assigned-channels/watcher=ID (no long poll) of an existing watcher; false: use the general path. */
  private tryAssignedGet(req: AnyRequest, res: AnyResponse): boolean {
    const url = req.url as string;
    let prefixLength = 0;
    for (const p of this.assignedPrefixes) {
      if (url.startsWith(p)) {
        prefixLength = p.length;
        break;
      }
    }
    if (prefixLength === 0 || this.closing) return false;
    const h = req.headers;
    if (h['if-none-match'] !== undefined || (h.accept !== undefined && h.accept !== '*/*' && h.accept !== YANG_JSON)) return false;
    const id = url.slice(prefixLength);
    if (id === '' || id.length > 256 || /[%/?]/.test(id) || !(req.stream as NonNullable<AnyRequest['stream']>).endAfterHeaders) return false;
    if (!this.state.hasWatcher(id)) return false;
    const ident = peerIdentity(req);
    if (ident === 'untrusted') return false;
    const owner = this.state.ownerOf(id);
    if (owner !== undefined && owner !== (ident ? ident.owner : undefined)) return false;
    const current = this.assignedBody(id);
    this.send(res, 200, current.body, { 'content-type': YANG_JSON, etag: current.etag, 'cache-control': 'no-cache' });
    return true;
  }

  private general(req: AnyRequest, res: AnyResponse): void {
    this.dispatch(req, res).catch((err: unknown) => this.fail(req, res, err));
  }

  private fastRefresh(req: AnyRequest, res: AnyResponse): void {
    const stream = req.stream as NonNullable<AnyRequest['stream']>;
    const declared = req.headers['content-length'];
    if (stream.endAfterHeaders || (declared !== undefined && Number(declared) > MAX_BODY_BYTES)) {
      this.general(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) over = true;
      else chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => {
      stream.off('data', onData);
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const slot = req as AnyRequest & { __body?: Promise<Buffer> };
      slot.__body = over ? Promise.reject(errors.tooBig(MAX_BODY_BYTES)) : Promise.resolve(body);
      slot.__body.catch(() => undefined);
      if (over || !this.tryRefresh(req, res, body)) this.general(req, res);
    });
  }

  /** The happy path of refresh-watcher-id; false leaves the request untouched for the general path. */
  private tryRefresh(req: AnyRequest, res: AnyResponse, body: Buffer): boolean {
    const contentType = req.headers['content-type'];
    if (contentType !== YANG_JSON || this.closing) return false;
    const accept = req.headers.accept;
    if (accept !== undefined && accept !== '*/*' && accept !== YANG_JSON) return false;
    const ident = peerIdentity(req);
    if (ident === 'untrusted') return false;
    let watcherId: string;
    try {
      watcherId = decodeRefreshWatcherIdInput(JSON.parse(body.toString('utf8'))).watcherId;
    } catch {
      return false;
    }
    if (!this.state.hasWatcher(watcherId)) return false;
    const owner = this.state.ownerOf(watcherId);
    if (owner !== undefined && owner !== (ident ? ident.owner : undefined)) return false;
    const period = this.state.refreshWatcher(watcherId, this.now());
    let text = this.refreshBodies.get(period);
    if (text === undefined) {
      text = JSON.stringify(encodeRefreshWatcherIdOutput(period));
      this.refreshBodies.set(period, text);
    }
    this.send(res, 200, text, { 'content-type': YANG_JSON });
    return true;
  }

  private count(status: number): void {
    this.requestsByStatus.set(status, (this.requestsByStatus.get(status) ?? 0) + 1);
  }

  private fail(req: AnyRequest, res: AnyResponse, err: unknown): void {
    let rc: RestconfError;
    if (err instanceof RestconfError) rc = err;
    else if (err instanceof CodecError) rc = codecToRestconf(err);
    else if (err instanceof MnatError) rc = mnatToRestconf(err, false);
    else {
      // Watcher ids are secrets: keep them out of the log.
      const path = (req.url ?? '').replace(/watcher=[^/?]*/g, 'watcher=…').replace(/\[id=[^\]]*\]/g, '[id=…]');
      this.log.error('request failed', { method: req.method, path, error: (err as Error)?.stack ?? String(err) });
      rc = errors.operationFailed('internal error; the request was not applied (see the server log)');
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.end();
      return;
    }
    this.sendError(req, res, rc);
  }

  private sendError(req: AnyRequest, res: AnyResponse, rc: RestconfError): void {
    const headers: Record<string, string> = { 'content-type': YANG_JSON, ...(rc.headers ?? {}) };
    if (rc.status === 413 && !req.stream) headers.connection = 'close';
    this.send(res, rc.status, errorBody(rc), headers, req.method === 'HEAD');
  }

  private send(res: AnyResponse, status: number, body: string | undefined, headers: Record<string, string> = {}, head = false): void {
    if (res.writableEnded) return;
    this.count(status);
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    if (head || body === undefined) res.end();
    else res.end(body);
  }

  private sendJson(ctx: Ctx, status: number, value: unknown, headers: Record<string, string> = {}): void {
    this.send(ctx.res, status, JSON.stringify(value), { 'content-type': ctx.prototype ? 'application/yang-data+json' : YANG_JSON, ...headers }, ctx.method === 'HEAD');
  }

  private async dispatch(req: AnyRequest, res: AnyResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    if (url.length > 8192) throw new RestconfError(414, 'transport', 'too-big', 'request URI is longer than 8192 bytes');
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? EMPTY_QUERY : new URLSearchParams(url.slice(q + 1));
    const ident = peerIdentity(req);
    if (ident === 'untrusted') throw errors.accessDenied('client certificate is not signed by the configured client CA');
    if (this.closing) {
      res.setHeader('connection', 'close');
    }

    if (path === '/.well-known/host-meta' || path === '/.well-known/host-meta.json') {
      this.allow(method, ['GET', 'HEAD']);
      await drain(req);
      if (path.endsWith('.json')) {
        this.send(res, 200, JSON.stringify({ links: [{ rel: 'restconf', href: RESTCONF_ROOT }] }), { 'content-type': 'application/json' }, method === 'HEAD');
      } else {
        const xrd = `<?xml version="1.0" encoding="UTF-8"?>\n<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n  <Link rel="restconf" href="${RESTCONF_ROOT}"/>\n</XRD>\n`;
        this.send(res, 200, xrd, { 'content-type': 'application/xrd+xml' }, method === 'HEAD');
      }
      return;
    }
    if (path === '/metrics') {
      this.allow(method, ['GET', 'HEAD']);
      await drain(req);
      this.send(res, 200, renderMetrics(this), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, method === 'HEAD');
      return;
    }
    if (path === '/' || path === '/status') {
      this.allow(method, ['GET', 'HEAD']);
      await drain(req);
      if (this.config.mtls && !(ident && ident.subjectCn !== undefined && this.config.adminCns.includes(ident.subjectCn))) {
        throw errors.accessDenied(`the status page needs a client certificate with an admin subject CN (${this.config.adminCns.join(', ')})`);
      }
      this.send(res, 200, renderStatusPage(this), { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, method === 'HEAD');
      return;
    }

    let root: string | null = null;
    for (const r of [RESTCONF_ROOT, ...this.config.aliasRoots]) {
      if (path === r || path.startsWith(r + '/')) {
        root = r;
        break;
      }
    }
    if (root === null) {
      await drain(req);
      throw errors.notFound(path);
    }
    const ctx: Ctx = {
      req,
      res,
      method,
      path,
      query,
      root,
      prototype: root !== RESTCONF_ROOT,
      identity: ident,
      owner: ident ? ident.owner : undefined,
    };
    for (const name of query.keys()) {
      if (!['depth', 'content', 'with-defaults'].includes(name)) {
        await drain(req);
        throw new RestconfError(400, 'protocol', 'invalid-value', `query parameter "${name}" is not supported here`);
      }
    }
    const rest = path.slice(root.length).replace(/\/$/, '');
    const segments = rest === '' ? [] : rest.slice(1).split('/');
    await this.route(ctx, segments);
  }

  private allow(method: string, allowed: readonly Method[]): void {
    if (method === 'OPTIONS') return;
    if (!allowed.includes(method as Method)) throw errors.methodNotAllowed(method, [...allowed, 'OPTIONS']);
  }

  private options(ctx: Ctx, allowed: readonly Method[]): boolean {
    if (ctx.method !== 'OPTIONS') return false;
    this.send(ctx.res, 200, undefined, { allow: [...allowed, 'OPTIONS'].join(', '), 'content-length': '0' });
    return true;
  }

  private async route(ctx: Ctx, seg: string[]): Promise<void> {
    const [first, second, third, ...more] = seg;
    if (first === undefined) {
      const allowed: Method[] = ['GET', 'HEAD'];
      this.allow(ctx.method, allowed);
      await drain(ctx.req);
      if (this.options(ctx, allowed)) return;
      this.checkAccept(ctx);
      this.sendJson(ctx, 200, {
        'ietf-restconf:restconf': { data: {}, operations: {}, 'yang-library-version': '2019-01-04' },
      });
      return;
    }
    if (first === 'yang-library-version' && second === undefined) {
      this.allow(ctx.method, ['GET', 'HEAD']);
      await drain(ctx.req);
      if (this.options(ctx, ['GET', 'HEAD'])) return;
      this.sendJson(ctx, 200, { 'ietf-restconf:yang-library-version': '2019-01-04' });
      return;
    }
    if (first === 'operations') {
      if (second === undefined) {
        this.allow(ctx.method, ['GET', 'HEAD']);
        await drain(ctx.req);
        if (this.options(ctx, ['GET', 'HEAD'])) return;
        this.sendJson(ctx, 200, {
          'ietf-restconf:operations': {
            'ietf-mnat:get-new-watcher-id': [null],
            'ietf-mnat:refresh-watcher-id': [null],
            'ietf-subscribed-notifications:establish-subscription': [null],
            'ietf-subscribed-notifications:delete-subscription': [null],
          },
        });
        return;
      }
      if (third !== undefined) {
        await drain(ctx.req);
        throw errors.notFound(ctx.path);
      }
      return this.operation(ctx, decodeSegment(second));
    }
    if (first === 'data') {
      if (second === undefined) {
        this.allow(ctx.method, ['GET', 'HEAD']);
        await drain(ctx.req);
        if (this.options(ctx, ['GET', 'HEAD'])) return;
        this.checkAccept(ctx);
        this.sendJson(ctx, 200, { 'ietf-restconf:data': this.ownedData(ctx) });
        return;
      }
      const container = decodeSegment(second);
      if (more.length > 0) {
        await drain(ctx.req);
        throw errors.notFound(`${ctx.path} (only a container and its watcher=ID entries are addressable)`);
      }
      let watcherId: string | undefined;
      if (third !== undefined) {
        // RFC 8040 §3.5.3: the key is percent-encoded after "watcher="
        if (!third.startsWith('watcher=')) {
          await drain(ctx.req);
          throw errors.notFound(ctx.path);
        }
        watcherId = decodeSegment(third.slice('watcher='.length));
        if (watcherId === '' || watcherId.length > 256) {
          await drain(ctx.req);
          throw errors.unknownWatcher(`/${container}/watcher`);
        }
      }
      switch (container) {
        case 'ietf-mnat:egress-global-joined':
          return this.watcherDataResource(ctx, watcherId, EGRESS_DATA);
        case 'ietf-mnat:ingress-watching':
          return this.watcherDataResource(ctx, watcherId, INGRESS_DATA);
        case 'ietf-mnat:assigned-channels':
          return this.assignedResource(ctx, watcherId);
        default:
          await drain(ctx.req);
          throw errors.notFound(ctx.path);
      }
    }
    if (first === 'subscriptions' && second !== undefined && third === undefined) {
      return this.subscriptionStream(ctx, second);
    }
    await drain(ctx.req);
    throw errors.notFound(ctx.path);
  }

  // ------------------------------------------------------------ helpers

  private checkAccept(ctx: Ctx): void {
    const accept = headerOf(ctx.req, 'accept');
    if (!accept) return;
    const ok = accept
      .split(',')
      .map((p) => (p.split(';')[0] ?? '').trim().toLowerCase())
      .some((t) => t === '*/*' || t === 'application/*' || t === YANG_JSON || t === 'application/json' || t === '');
    if (!ok) throw errors.notAcceptable(accept);
  }

  /** Reads a JSON body: media type, size limit, syntax. Returns undefined when empty. */
  private async readJson(ctx: Ctx, required: boolean): Promise<unknown> {
    const contentType = (headerOf(ctx.req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const declared = headerOf(ctx.req, 'content-length');
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > MAX_BODY_BYTES) {
      // Not reading a body we refuse; HTTP/1.1 closes the connection after the reply.
      ctx.req.resume();
      throw errors.tooBig(MAX_BODY_BYTES);
    }
    const body = await readBody(ctx.req, MAX_BODY_BYTES);
    if (body.length === 0) {
      if (required) throw errors.malformed('request body is empty; send an RFC 7951 JSON document');
      return undefined;
    }
    const acceptable = ctx.prototype ? [YANG_JSON, 'application/json'] : [YANG_JSON];
    if (!acceptable.includes(contentType)) throw errors.unsupportedMedia(contentType || '(none)', YANG_JSON);
    const text = body.toString('utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw errors.malformed(`request body is not valid JSON: ${(err as Error).message}`);
    }
  }

  /** The watcher exists and this requester may use it; otherwise the same answer as an unknown id. */
  private checkWatcher(ctx: Ctx, id: string, path: string, status = 404): void {
    if (!this.state.hasWatcher(id)) throw errors.unknownWatcher(path, status);
    const owner = this.state.ownerOf(id);
    if (owner !== undefined && owner !== ctx.owner) throw errors.unknownWatcher(path, status);
  }

  private async commit(): Promise<void> {
    if (!this.journal) return;
    try {
      await this.journal.sync();
    } catch (err) {
      throw errors.operationFailed(`state could not be stored durably: ${(err as Error).message}`, 500);
    }
  }

  private ownedIds(ctx: Ctx): string[] {
    // Without a client certificate nothing identifies the caller's watchers, so nothing is listed.
    if (ctx.owner === undefined) return [];
    const ids = this.byOwner.get(ctx.owner);
    return ids ? Array.from(ids).filter((id) => this.state.hasWatcher(id)) : [];
  }

  private indexOwner(id: string, owner: string): void {
    let set = this.byOwner.get(owner);
    if (!set) this.byOwner.set(owner, (set = new Set()));
    set.add(id);
    this.ownerOfId.set(id, owner);
  }

  private unindexOwner(id: string): void {
    const owner = this.ownerOfId.get(id);
    if (owner === undefined) return;
    this.ownerOfId.delete(id);
    const set = this.byOwner.get(owner);
    set?.delete(id);
    if (set && set.size === 0) this.byOwner.delete(owner);
  }

  /** GET /data: the three ietf-mnat containers, limited to the caller's own watchers. */
  private ownedData(ctx: Ctx): Record<string, unknown> {
    const ids = this.ownedIds(ctx);
    const out: Record<string, unknown> = {};
    const merge = (json: unknown): void => {
      if (typeof json === 'object' && json !== null) Object.assign(out, json);
    };
    merge(encodeEgressGlobalJoined(ids.filter((id) => this.state.roleOf(id) === 'egress').map((id) => ({ id, joins: this.state.egressJoins(id) }))));
    merge(encodeIngressWatching(ids.filter((id) => this.state.roleOf(id) === 'ingress').map((id) => ({ id, monitors: this.state.ingressMonitors(id) }))));
    merge(encodeAssignedChannels(ids.map((id) => ({ id, channels: this.state.assignedChannels(id) }))));
    return out;
  }

  // --------------------------------------------------------- operations

  private async operation(ctx: Ctx, name: string): Promise<void> {
    const known = [
      'ietf-mnat:get-new-watcher-id',
      'ietf-mnat:refresh-watcher-id',
      'ietf-subscribed-notifications:establish-subscription',
      'ietf-subscribed-notifications:delete-subscription',
    ];
    if (!known.includes(name)) {
      await drain(ctx.req);
      throw errors.notFound(`operation ${name}`);
    }
    this.allow(ctx.method, ['POST']);
    if (this.options(ctx, ['POST'])) {
      await drain(ctx.req);
      return;
    }
    this.checkAccept(ctx);
    const input = await this.readJson(ctx, false);
    const now = this.now();
    switch (name) {
      case 'ietf-mnat:get-new-watcher-id': {
        if (input !== undefined) checkEmptyInput(input, 'ietf-mnat:input');
        const { id, refreshPeriodS } = this.state.createWatcher(now, ctx.owner);
        if (ctx.owner !== undefined) this.indexOwner(id, ctx.owner);
        await this.commit();
        if (ctx.identity) this.log.debug('watcher created', { owner: ctx.identity.subjectCn });
        this.sendJson(ctx, 200, encodeGetNewWatcherIdOutput(id, refreshPeriodS, { prototype: ctx.prototype }));
        return;
      }
      case 'ietf-mnat:refresh-watcher-id': {
        if (input === undefined) throw errors.missingElement('refresh-watcher-id needs {"ietf-mnat:input":{"watcher-id":…}}', '/ietf-mnat:input');
        const { watcherId } = decodeRefreshWatcherIdInput(input);
        this.checkWatcher(ctx, watcherId, '/ietf-mnat:input/watcher-id', 400);
        const period = this.state.refreshWatcher(watcherId, now);
        // Refreshes are not journaled (A's state machine keeps expiry clocks out of
        // the durable record; restartClocks() covers a restart), so no fsync here.
        this.sendJson(ctx, 200, encodeRefreshWatcherIdOutput(period));
        return;
      }
      case 'ietf-subscribed-notifications:establish-subscription': {
        if (input === undefined) throw errors.missingElement('establish-subscription needs input', '/ietf-subscribed-notifications:input');
        const watcherId = parseEstablishInput(input);
        this.checkWatcher(ctx, watcherId, '/ietf-subscribed-notifications:input/ietf-yang-push:datastore-xpath-filter', 400);
        if (this.push.countFor(watcherId) >= MAX_SUBSCRIPTIONS_PER_WATCHER) {
          throw errors.resourceDenied(`watcher already has ${MAX_SUBSCRIPTIONS_PER_WATCHER} subscriptions; delete one first`, '/ietf-subscribed-notifications:input');
        }
        const token = randomBytes(12).toString('base64url');
        const id = this.push.create(watcherId, ctx.owner, connectionOf(ctx.req), token, now);
        const authority = headerOf(ctx.req, ':authority') ?? headerOf(ctx.req, 'host') ?? 'localhost';
        const scheme = isTls(ctx.req) ? 'https' : 'http';
        this.sendJson(ctx, 200, {
          'ietf-subscribed-notifications:output': {
            id,
            'ietf-restconf-subscribed-notifications:uri': `${scheme}://${authority}${ctx.root}/subscriptions/${id}.${token}`,
          },
        });
        return;
      }
      case 'ietf-subscribed-notifications:delete-subscription': {
        if (input === undefined) throw errors.missingElement('delete-subscription needs {"ietf-subscribed-notifications:input":{"id":N}}', '/ietf-subscribed-notifications:input');
        const id = parseSubscriptionIdInput(input);
        if (!this.push.delete(id, ctx.owner, connectionOf(ctx.req))) {
          throw new RestconfError(400, 'application', 'invalid-value', `no subscription ${id}`, 'ietf-subscribed-notifications:no-such-subscription', '/ietf-subscribed-notifications:input/id');
        }
        this.send(ctx.res, 204, undefined);
        return;
      }
    }
  }

  private async subscriptionStream(ctx: Ctx, idText: string): Promise<void> {
    this.allow(ctx.method, ['GET']);
    await drain(ctx.req);
    if (this.options(ctx, ['GET'])) return;
    const m = /^(\d{1,10})\.([A-Za-z0-9_-]{16})$/.exec(idText);
    const id = m ? Number(m[1]) : NaN;
    const sub = m ? this.push.lookup(id, m[2] as string, ctx.owner) : null;
    if (!sub) throw errors.notFound('subscription stream (use the URI establish-subscription returned)');
    if (sub.attached) throw new RestconfError(409, 'application', 'in-use', `subscription ${id} already has a stream`);
    const accept = headerOf(ctx.req, 'accept') ?? '';
    if (accept && !/text\/event-stream|\*\/\*/.test(accept)) throw errors.notAcceptable(accept);
    if (!this.state.hasWatcher(sub.watcherId)) {
      this.push.watcherGone(sub.watcherId);
      throw errors.unknownWatcher(undefined, 404);
    }
    this.push.attach(id, ctx.res);
  }

  // ------------------------------------------------------------- data

  /** egress-global-joined and ingress-watching: one handling, the kind supplies the codec and state calls. */
  private async watcherDataResource<T>(ctx: Ctx, watcherId: string | undefined, kind: WatcherDataKind<T>): Promise<void> {
    const base = `/ietf-mnat:${kind.container}/watcher`;
    if (watcherId === undefined) {
      const allowed: Method[] = ['GET', 'HEAD', 'POST'];
      this.allow(ctx.method, allowed);
      if (this.options(ctx, allowed)) return void (await drain(ctx.req));
      if (ctx.method === 'POST') {
        const body = await this.readJson(ctx, true);
        const entries = kind.decodeList(body);
        if (entries.length === 0) throw errors.missingElement('no watcher entry in the body', '/ietf-mnat:watcher');
        for (const [i, e] of entries.entries()) {
          if (e.id === undefined) throw errors.missingElement('watcher entry without id', `/ietf-mnat:watcher[${i}]/id`);
          this.checkWatcher(ctx, e.id, `/ietf-mnat:watcher[${i}]/id`);
        }
        const now = this.now();
        for (const e of entries) kind.set(this.state, e.id as string, e.items, now);
        await this.commit();
        const first = entries[0]?.id as string;
        this.send(ctx.res, 201, undefined, { location: `${ctx.root}/data/ietf-mnat:${kind.container}/watcher=${encodeURIComponent(first)}` });
        return;
      }
      await drain(ctx.req);
      this.checkAccept(ctx);
      const ids = this.ownedIds(ctx).filter((id) => this.state.roleOf(id) === kind.role);
      this.sendJson(ctx, 200, kind.encodeList(ids.map((id) => ({ id, items: kind.get(this.state, id) }))));
      return;
    }
    const allowed: Method[] = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'];
    this.allow(ctx.method, allowed);
    if (this.options(ctx, allowed)) return void (await drain(ctx.req));
    if (ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.method === 'DELETE') await drain(ctx.req);
    else await this.peekMediaType(ctx);
    this.checkWatcher(ctx, watcherId, base);
    const now = this.now();
    switch (ctx.method) {
      case 'GET':
      case 'HEAD':
        this.checkAccept(ctx);
        if (this.state.roleOf(watcherId) !== kind.role) throw errors.notFound(`${kind.container} entry for this watcher (it has not PUT ${kind.items})`);
        this.sendJson(ctx, 200, kind.encodeOne(watcherId, kind.get(this.state, watcherId)));
        return;
      case 'PUT':
      case 'PATCH': {
        const body = await this.readJson(ctx, true);
        const items = kind.decodeOne(body, watcherId);
        const existed = this.state.roleOf(watcherId) === kind.role;
        try {
          if (ctx.method === 'PUT') kind.set(this.state, watcherId, items, now);
          else kind.merge(this.state, watcherId, items, now);
        } catch (err) {
          if (err instanceof MnatError) throw mnatToRestconf(err, true);
          throw err;
        }
        await this.commit();
        this.send(ctx.res, ctx.method === 'PUT' && !existed ? 201 : 204, undefined);
        return;
      }
      case 'DELETE':
        if (this.state.roleOf(watcherId) !== kind.role) throw errors.notFound(`${kind.container} entry for this watcher`);
        kind.remove(this.state, watcherId, now);
        await this.commit();
        this.send(ctx.res, 204, undefined);
        return;
    }
  }

  /** PUT/PATCH: the media type is checked before the watcher, so a wrong type is 415 whatever the id. */
  private async peekMediaType(ctx: Ctx): Promise<void> {
    const contentType = (headerOf(ctx.req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const acceptable = ctx.prototype ? [YANG_JSON, 'application/json'] : [YANG_JSON];
    if (contentType !== '' && !acceptable.includes(contentType)) {
      await drain(ctx.req);
      if (ctx.method === 'PATCH' && contentType === 'application/yang-patch+json') {
        throw errors.unsupportedMedia(contentType, `${YANG_JSON} (plain PATCH merge; YANG Patch is not supported)`);
      }
      throw errors.unsupportedMedia(contentType, YANG_JSON);
    }
  }

  private async assignedResource(ctx: Ctx, watcherId: string | undefined): Promise<void> {
    const allowed: Method[] = ['GET', 'HEAD'];
    this.allow(ctx.method, allowed);
    await drain(ctx.req);
    if (this.options(ctx, allowed)) return;
    this.checkAccept(ctx);
    if (watcherId === undefined) {
      const ids = this.ownedIds(ctx);
      this.sendJson(ctx, 200, encodeAssignedChannels(ids.map((id) => ({ id, channels: this.state.assignedChannels(id) }))));
      return;
    }
    this.checkWatcher(ctx, watcherId, '/ietf-mnat:assigned-channels/watcher');
    const current = { etag: this.etagOf(watcherId) };
    const ifNoneMatch = headerOf(ctx.req, 'if-none-match');
    if (ifNoneMatch === undefined || !etagMatches(ifNoneMatch, current.etag) || ctx.method === 'HEAD') {
      if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, current.etag)) {
        this.send(ctx.res, 304, undefined, { etag: current.etag });
        return;
      }
      const body = this.assignedBody(watcherId).body;
      this.send(ctx.res, 200, body, { 'content-type': YANG_JSON, etag: current.etag, 'cache-control': 'no-cache' }, ctx.method === 'HEAD');
      return;
    }
    // Long poll: hold until the content changes or the wait ends.
    const waitMs = Math.min(this.config.longPollMaxMs, preferWaitMs(headerOf(ctx.req, 'prefer')) ?? this.config.longPollDefaultMs);
    if (waitMs <= 0 || this.closing) {
      this.send(ctx.res, 304, undefined, { etag: current.etag });
      return;
    }
    if (this.push.waitingFor(watcherId) >= MAX_LONG_POLLS_PER_WATCHER) {
      throw errors.resourceDenied(`watcher already has ${MAX_LONG_POLLS_PER_WATCHER} long polls waiting`, '/ietf-mnat:assigned-channels/watcher');
    }
    await new Promise<void>((resolve) => {
      const cancel = this.push.wait(watcherId, current.etag, waitMs, (outcome) => {
        ctx.res.off('close', onClose);
        if (outcome === 'gone') {
          this.sendError(ctx.req, ctx.res, errors.unknownWatcher('/ietf-mnat:assigned-channels/watcher'));
        } else if (outcome === 'changed' && this.state.hasWatcher(watcherId)) {
          const now = this.assignedBody(watcherId);
          this.send(ctx.res, 200, now.body, { 'content-type': YANG_JSON, etag: now.etag, 'cache-control': 'no-cache' });
        } else {
          this.send(ctx.res, 304, undefined, { etag: this.state.hasWatcher(watcherId) ? this.etagOf(watcherId) : current.etag });
        }
        resolve();
      });
      const onClose = (): void => {
        cancel();
        resolve();
      };
      ctx.res.on('close', onClose);
    });
  }

  uptimeS(): number {
    return (Date.now() - this.started) / 1000;
  }

  journalStats(): Journal['stats'] | null {
    return this.journal ? this.journal.stats : null;
  }
}

// ------------------------------------------------------------------ utils

function headerOf(req: AnyRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** The transport connection of a request (an HTTP/2 session's socket, or the HTTP/1.1 socket). */
function connectionOf(req: AnyRequest): unknown {
  return req.stream ? req.stream.session : req.socket;
}

function isTls(req: AnyRequest): boolean {
  const socket = req.socket as { encrypted?: boolean } | undefined;
  return socket?.encrypted === true;
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** RFC 7240 "Prefer: wait=N" in seconds → ms. */
function preferWaitMs(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const m = /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6})"?/i.exec(header);
  return m ? Number(m[1]) * 1000 : undefined;
}


export function newWatcherId(): string {
  return randomBytes(16).toString('base64url');
}

const EMPTY_QUERY = new URLSearchParams();

/** True when the request cannot have a body (saves reading an empty stream). */
function bodyless(req: AnyRequest): boolean {
  if (req.stream) return req.stream.endAfterHeaders === true;
  const h = req.headers;
  return (h['content-length'] === undefined || h['content-length'] === '0') && h['transfer-encoding'] === undefined;
}

async function drain(req: AnyRequest): Promise<void> {
  if (bodyless(req)) {
    // HTTP/1.1 must consume the (empty) message; an HTTP/2 stream that ended
    // with its headers has nothing to read, and resuming it costs an error
    // object per request inside Node's stream machinery.
    if (!req.stream) req.resume();
    return;
  }
  await readBody(req, MAX_BODY_BYTES).catch(() => undefined);
}

function readBody(req: AnyRequest, limit: number): Promise<Buffer> {
  const stash = req as AnyRequest & { __body?: Promise<Buffer> };
  if (stash.__body) return stash.__body;
  stash.__body = new Promise((resolve, reject) => {
    if (req.readableEnded || bodyless(req)) {
      if (!req.stream) req.resume();
      resolve(Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(errors.tooBig(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) {
        failed = true;
        reject(errors.malformed(`request body could not be read: ${err.message}`));
      }
    });
    req.on('aborted', () => {
      if (!failed) {
        failed = true;
        reject(errors.malformed('request aborted'));
      }
    });
  });
  return stash.__body;
}

function checkEmptyInput(input: unknown, name: string): void {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw errors.malformed(`input must be a JSON object`);
  const keys = Object.keys(input);
  if (keys.length === 0) return;
  if (keys.length === 1 && keys[0] === name) {
    const inner = (input as Record<string, unknown>)[name];
    if (inner === null || (typeof inner === 'object' && !Array.isArray(inner) && Object.keys(inner as object).length === 0)) return;
    throw new RestconfError(400, 'application', 'unknown-element', `get-new-watcher-id takes no input parameters`, undefined, `/${name}`);
  }
  throw new RestconfError(400, 'application', 'unknown-element', `unexpected member "${keys.find((k) => k !== name)}"; get-new-watcher-id takes no input`, undefined, '/');
}

const SN = 'ietf-subscribed-notifications';
const YP = 'ietf-yang-push';

function member(obj: Record<string, unknown>, local: string, module: string): unknown {
  if (local in obj) return obj[local];
  return obj[`${module}:${local}`];
}

/** establish-subscription input → the one watcher id its filter selects. */
export function parseEstablishInput(body: unknown): string {
  const invalid = (message: string, path: string, appTag?: string) => new RestconfError(400, 'application', 'invalid-value', message, appTag, path);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.malformed('establish-subscription input must be a JSON object');
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== `${SN}:input`) throw invalid(`expected {"${SN}:input":{…}}`, '/');
  const input = (body as Record<string, unknown>)[`${SN}:input`];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('input must be an object', `/${SN}:input`);
  const inp = input as Record<string, unknown>;
  const p = `/${SN}:input`;
  const allowedKeys = new Set([
    `${YP}:datastore`, 'datastore',
    `${YP}:datastore-xpath-filter`, 'datastore-xpath-filter',
    `${YP}:datastore-subtree-filter`, 'datastore-subtree-filter',
    `${YP}:on-change`, 'on-change',
    'encoding', `${SN}:encoding`, 'stop-time', `${SN}:stop-time`,
  ]);
  for (const k of Object.keys(inp)) {
    if (k === `${YP}:periodic` || k === 'periodic') throw invalid('only on-change subscriptions are offered', `${p}/${k}`, `${YP}:period-unsupported`);
    if (k === 'stream' || k === `${SN}:stream`) throw invalid('event streams are not offered; subscribe to the operational datastore', `${p}/${k}`, `${SN}:stream-unavailable`);
    if (!allowedKeys.has(k)) throw new RestconfError(400, 'application', 'unknown-element', `unexpected member "${k}"`, undefined, `${p}/${k}`);
  }
  const datastore = member(inp, 'datastore', YP);
  if (datastore !== 'ietf-datastores:operational') throw invalid('datastore must be "ietf-datastores:operational"', `${p}/${YP}:datastore`);
  const encoding = member(inp, 'encoding', SN);
  if (encoding !== undefined && encoding !== `${SN}:encode-json` && encoding !== 'encode-json') {
    throw invalid('only encode-json is offered', `${p}/encoding`, `${SN}:encoding-unsupported`);
  }
  const onChange = member(inp, 'on-change', YP);
  if (typeof onChange !== 'object' || onChange === null || Array.isArray(onChange)) {
    throw invalid('an on-change subscription ({"ietf-yang-push:on-change":{}}) is required', `${p}/${YP}:on-change`, `${YP}:on-change-unsupported`);
  }
  const xpath = member(inp, 'datastore-xpath-filter', YP);
  const subtree = member(inp, 'datastore-subtree-filter', YP);
  if ((xpath === undefined) === (subtree === undefined)) {
    throw invalid('give exactly one of datastore-xpath-filter and datastore-subtree-filter selecting one watcher of ietf-mnat:assigned-channels', p);
  }
  if (xpath !== undefined) {
    const m = typeof xpath === 'string'
      ? /^\s*\/ietf-mnat:assigned-channels\/(?:ietf-mnat:)?watcher\s*\[\s*(?:ietf-mnat:)?id\s*=\s*(?:'([^']*)'|"([^"]*)")\s*\]\s*$/.exec(xpath)
      : null;
    if (!m) throw invalid(`xpath filter must be /ietf-mnat:assigned-channels/watcher[id='WATCHER-ID']`, `${p}/${YP}:datastore-xpath-filter`);
    return (m[1] ?? m[2]) as string;
  }
  const tree = subtree as Record<string, unknown>;
  const ac = typeof tree === 'object' && tree !== null && !Array.isArray(tree) ? tree['ietf-mnat:assigned-channels'] : undefined;
  let watcher = typeof ac === 'object' && ac !== null ? (ac as Record<string, unknown>).watcher : undefined;
  if (Array.isArray(watcher)) watcher = watcher.length === 1 ? watcher[0] : undefined;
  const id = typeof watcher === 'object' && watcher !== null ? (watcher as Record<string, unknown>).id : undefined;
  if (typeof id !== 'string' || id === '') {
    throw invalid('subtree filter must be {"ietf-mnat:assigned-channels":{"watcher":[{"id":"WATCHER-ID"}]}}', `${p}/${YP}:datastore-subtree-filter`);
  }
  return id;
}

function parseSubscriptionIdInput(body: unknown): number {
  const input = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[`${SN}:input`] : undefined;
  const id = typeof input === 'object' && input !== null ? (input as Record<string, unknown>).id : undefined;
  const n = typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RestconfError(400, 'application', 'invalid-value', 'expected {"ietf-subscribed-notifications:input":{"id":N}} with a uint32 id', undefined, `/${SN}:input/id`);
  }
  return n;
}

function codecToRestconf(err: CodecError): RestconfError {
  const status = 400;
  const type = err.tag === 'malformed-message' ? 'protocol' : 'application';
  return new RestconfError(status, type, err.tag, err.message, undefined, err.path);
}

function mnatToRestconf(err: MnatError, dataResource: boolean): RestconfError {
  switch (err.kind) {
    case 'unknown-watcher':
      return errors.unknownWatcher(err.path, dataResource ? 404 : 400);
    case 'too-many-joins':
      return errors.resourceDenied(err.message, err.path);
    case 'wrong-role':
      return errors.invalidValue(err.message, err.path);
    default:
      return errors.invalidValue(err.message, err.path);
  }
}

