// Paths → resources. /restconf is served strictly; alias roots (--api-root,
// e.g. /mnat-ds) serve the same resources with the prototype's quirks
// (ctx.prototype). Also root discovery (/.well-known/host-meta), /metrics and
// the status page.
import { encodeAssignedChannels, encodeEgressGlobalJoined, encodeIngressWatching } from '../../protocol/ietf-mnat-codec.ts';
import type { RequestBody } from '../http/body.ts';
import type { AnyRequest, AnyResponse } from '../http/request.ts';
import { checkAccept } from '../http/media-type.ts';
import { errors, RestconfError } from '../http/restconf-error.ts';
import type { ServerStats } from '../ops/stats.ts';
import { renderMetrics } from '../ops/metrics.ts';
import { renderStatusPage } from '../ops/status-page.ts';
import type { StoreReads } from '../store/store.ts';
import { identify, type WatcherAccess } from './access.ts';
import type { AssignedChannels } from './assigned-channels.ts';
import { allow, type Ctx, type Method } from './context.ts';
import { OPERATIONS, type Operations } from './operations.ts';
import type { Responder } from './respond.ts';
import type { Subscriptions } from './subscriptions.ts';
import { EGRESS_DATA, INGRESS_DATA, type WatcherData } from './watcher-data.ts';

export const RESTCONF_ROOT = '/restconf';
const YANG_LIBRARY_VERSION = '2019-01-04';
const READ_ONLY: Method[] = ['GET', 'HEAD'];
/** RFC 8040 §4.8's retrieval parameters this server takes (GET and HEAD only), with their valid values. */
const QUERY_PARAMETERS: Record<string, (value: string) => boolean> = {
  content: (v) => v === 'config' || v === 'nonconfig' || v === 'all',
  depth: (v) => v === 'unbounded' || (/^[1-9]\d{0,4}$/.test(v) && Number(v) <= 65535),
  'with-defaults': (v) => ['report-all', 'trim', 'explicit', 'report-all-tagged'].includes(v),
};

/** Why a request's query is refused (RFC 8040 §4.8: 400 invalid-value), or null. */
export function queryFault(query: string, method: string): string | null {
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(query)) {
    const valid = Object.hasOwn(QUERY_PARAMETERS, name) ? QUERY_PARAMETERS[name] : undefined;
    if (valid === undefined) return `query parameter "${name}" is not supported here`;
    if (method !== 'GET' && method !== 'HEAD') return `query parameter "${name}" is allowed only with GET and HEAD`;
    if (seen.has(name)) return `query parameter "${name}" appears more than once`;
    seen.add(name);
    if (!valid(value)) return `query parameter ${name}=${JSON.stringify(value)} has no such value`;
  }
  return null;
}

export interface Resources {
  store: StoreReads;
  access: WatcherAccess;
  respond: Responder;
  operations: Operations;
  subscriptions: Subscriptions;
  assigned: AssignedChannels;
  data: WatcherData;
  /** The counters /metrics and the status page render. */
  stats(withChannels: boolean): ServerStats;
  closing(): boolean;
}

function decodeSegment(segment: string): string {
  if (segment.indexOf('%') < 0) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw errors.malformed(`bad percent-encoding in path segment "${segment}"`);
  }
}

export class Router {
  private readonly roots: readonly string[];

  constructor(
    private readonly r: Resources,
    aliasRoots: readonly string[],
  ) {
    this.roots = [RESTCONF_ROOT, ...aliasRoots];
  }

  async dispatch(req: AnyRequest, res: AnyResponse, body: RequestBody): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    if (url.length > 8192) throw new RestconfError(414, 'transport', 'too-big', 'request URI is longer than 8192 bytes');
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const identity = identify(req);
    if (this.r.closing()) res.setHeader('connection', 'close');
    if (path === '/.well-known/host-meta' || path === '/.well-known/host-meta.json') {
      allow(method, READ_ONLY);
      await body.drain();
      if (path.endsWith('.json')) {
        this.r.respond.send(res, 200, JSON.stringify({ links: [{ rel: 'restconf', href: RESTCONF_ROOT }] }), { 'content-type': 'application/json' }, method === 'HEAD');
      } else {
        const xrd = `<?xml version="1.0" encoding="UTF-8"?>\n<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n  <Link rel="restconf" href="${RESTCONF_ROOT}"/>\n</XRD>\n`;
        this.r.respond.send(res, 200, xrd, { 'content-type': 'application/xrd+xml' }, method === 'HEAD');
      }
      return;
    }
    if (path === '/metrics') {
      allow(method, READ_ONLY);
      await body.drain();
      this.r.respond.send(res, 200, renderMetrics(this.r.stats(false)), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, method === 'HEAD');
      return;
    }
    if (path === '/' || path === '/status') {
      allow(method, READ_ONLY);
      await body.drain();
      this.r.access.checkStatusPage(identity);
      this.r.respond.send(res, 200, renderStatusPage(this.r.stats(true)), { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, method === 'HEAD');
      return;
    }
    const root = this.roots.find((r) => path === r || path.startsWith(r + '/'));
    if (root === undefined) {
      await body.drain();
      throw errors.notFound(path);
    }
    const ctx: Ctx = { req, res, method, path, root, prototype: root !== RESTCONF_ROOT, identity, owner: identity ? identity.owner : undefined, body };
    const fault = q >= 0 ? queryFault(url.slice(q + 1), method) : null;
    if (fault !== null) {
      await body.drain();
      throw new RestconfError(400, 'protocol', 'invalid-value', fault);
    }
    const rest = path.slice(root.length).replace(/\/$/, '');
    await this.route(ctx, rest === '' ? [] : rest.slice(1).split('/'));
  }

  private async route(ctx: Ctx, seg: string[]): Promise<void> {
    const [first, second, third, ...more] = seg;
    if (first === undefined) {
      return this.readOnly(ctx, true, () => ({ 'ietf-restconf:restconf': { data: {}, operations: {}, 'yang-library-version': YANG_LIBRARY_VERSION } }));
    }
    if (first === 'yang-library-version' && second === undefined) {
      return this.readOnly(ctx, false, () => ({ 'ietf-restconf:yang-library-version': YANG_LIBRARY_VERSION }));
    }
    if (first === 'operations') {
      if (second === undefined) {
        return this.readOnly(ctx, false, () => ({ 'ietf-restconf:operations': Object.fromEntries(OPERATIONS.map((name) => [name, [null]])) }));
      }
      if (third !== undefined) {
        await ctx.body.drain();
        throw errors.notFound(ctx.path);
      }
      return this.r.operations.handle(ctx, decodeSegment(second));
    }
    if (first === 'data') {
      if (second === undefined) return this.readOnly(ctx, true, () => ({ 'ietf-restconf:data': this.ownedData(ctx) }));
      const container = decodeSegment(second);
      if (more.length > 0) {
        await ctx.body.drain();
        throw errors.notFound(`${ctx.path} (only a container and its watcher=ID entries are addressable)`);
      }
      let watcherId: string | undefined;
      if (third !== undefined) {
        // RFC 8040 §3.5.3: the key is percent-encoded after "watcher="
        if (!third.startsWith('watcher=')) {
          await ctx.body.drain();
          throw errors.notFound(ctx.path);
        }
        watcherId = decodeSegment(third.slice('watcher='.length));
        if (watcherId === '' || watcherId.length > 256) {
          await ctx.body.drain();
          throw errors.unknownWatcher(`/${container}/watcher`);
        }
      }
      switch (container) {
        case 'ietf-mnat:egress-global-joined':
          return this.r.data.handle(ctx, watcherId, EGRESS_DATA);
        case 'ietf-mnat:ingress-watching':
          return this.r.data.handle(ctx, watcherId, INGRESS_DATA);
        case 'ietf-mnat:assigned-channels':
          return this.r.assigned.handle(ctx, watcherId);
        default:
          await ctx.body.drain();
          throw errors.notFound(ctx.path);
      }
    }
    if (first === 'subscriptions' && second !== undefined && third === undefined) {
      return this.r.subscriptions.stream(ctx, second);
    }
    await ctx.body.drain();
    throw errors.notFound(ctx.path);
  }

  /** A GET/HEAD-only JSON resource; `negotiate`: 406 unless the client accepts JSON. */
  private async readOnly(ctx: Ctx, negotiate: boolean, value: () => unknown): Promise<void> {
    allow(ctx.method, READ_ONLY);
    await ctx.body.drain();
    if (this.r.respond.options(ctx, READ_ONLY)) return;
    if (negotiate) checkAccept(ctx.req);
    this.r.respond.json(ctx, 200, value());
  }

  /** GET /data: the three ietf-mnat containers, limited to the caller's own watchers. */
  private ownedData(ctx: Ctx): Record<string, unknown> {
    const { store } = this.r;
    const ids = this.r.access.ownedIds(ctx.owner);
    const out: Record<string, unknown> = {};
    const merge = (json: unknown): void => {
      if (typeof json === 'object' && json !== null) Object.assign(out, json);
    };
    merge(encodeEgressGlobalJoined(ids.filter((id) => store.roleOf(id) === 'egress').map((id) => ({ id, joins: store.egressJoins(id) }))));
    merge(encodeIngressWatching(ids.filter((id) => store.roleOf(id) === 'ingress').map((id) => ({ id, monitors: store.ingressMonitors(id) }))));
    merge(encodeAssignedChannels(ids.map((id) => ({ id, channels: store.assignedChannels(id) }))));
    return out;
  }
}
