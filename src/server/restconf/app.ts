// The RESTCONF application of mnat-server: takes compat request/response
// objects from listener.ts (HTTP/2 or HTTP/1.1), reads and changes state only
// through the store seam (store/store.ts), and delivers changes by push and
// long poll once the store reports them durable.
//
// Refreshes and plain assigned-channels GETs are most of the traffic, so they
// take a direct path: no routing, no promise, but the same identity, Accept,
// body, access and resource code as the general path. Anything unusual
// (including every error) goes on to the general path, with the body already
// read handed over explicitly.
import { serverNow } from '../clock.ts';
import { encodeMappedSg } from '../../protocol/ietf-mnat-codec.ts';
import type { Logger } from '../../host/host.ts';
import { BodyReader, parseJsonBody, RequestBody, type BodyDone, type ReadBody } from '../http/body.ts';
import type { ClientTable } from '../http/limits.ts';
import type { AnyRequest, AnyResponse } from '../http/request.ts';
import { checkAccept, contentTypeOf, isJsonBodyType, YANG_JSON } from '../http/media-type.ts';
import { errors } from '../http/restconf-error.ts';
import { collectStats, type MemoryUsage, type MqttStats, type ServerStats } from '../ops/stats.ts';
import { PushHub } from '../push/push-hub.ts';
import type { MnatStore } from '../store/store.ts';
import { identify, WatcherAccess, type AdminPolicy } from './access.ts';
import { AssignedChannels, type LongPollConfig } from './assigned-channels.ts';
import { toRestconfError } from './error-map.ts';
import { Operations } from './operations.ts';
import { plainRefreshWatcherId } from './refresh-body.ts';
import type { PreparedJson } from './respond.ts';
import { Responder } from './respond.ts';
import { RESTCONF_ROOT, Router } from './router.ts';
import { Subscriptions } from './subscriptions.ts';
import { WatcherData } from './watcher-data.ts';

/** The RESTCONF layer's per-client limits (0: none). */
export interface RestconfLimits {
  /** Most watchers a container GET lists (more: 413, GET them one by one). */
  maxContainerWatchers: number;
  /** Push subscriptions one client (certificate, or address) may hold. */
  maxSubscriptionsPerClient: number;
  /** The store's joins/monitors per watcher, checked for every entry of a container POST before any is applied. */
  maxJoinsPerWatcher: number;
}

export interface AppConfig extends AdminPolicy, LongPollConfig, RestconfLimits {
  /** Extra API roots served with the prototype's quirks, e.g. "/mnat-ds". */
  aliasRoots: readonly string[];
  /** Memory figures for /metrics (the entry point reads them from the process). */
  memoryUsage: () => MemoryUsage;
  /** Connections and body bytes per client, shared with the listener (http/limits.ts). */
  clients: ClientTable;
  /** The MQTT fan-out's counters, with --mqtt. */
  mqttStats?: () => MqttStats;
  /** The server certificate in use (null: plaintext), for /metrics and the status page. */
  tlsCertificate?: () => { subject: string; validTo: string } | null;
}

export class RestconfApp {
  readonly push: PushHub;
  private readonly respond = new Responder();
  private readonly assigned: AssignedChannels;
  private readonly operations: Operations;
  private readonly router: Router;
  private readonly bodies: BodyReader;
  private readonly startedMs = Date.now();
  /** Refresh operation paths → whether the root has the prototype's quirks. */
  private readonly refreshPaths = new Map<string, boolean>();
  private readonly assignedPrefixes: string[];
  private closing = false;

  constructor(
    private readonly store: MnatStore,
    private readonly log: Logger,
    private readonly config: AppConfig,
    now: () => number = serverNow,
  ) {
    const roots = [RESTCONF_ROOT, ...config.aliasRoots];
    for (const r of roots) this.refreshPaths.set(`${r}/operations/ietf-mnat:refresh-watcher-id`, r !== RESTCONF_ROOT);
    this.assignedPrefixes = roots.map((r) => `${r}/data/ietf-mnat:assigned-channels/watcher=`);
    const closing = (): boolean => this.closing;
    const refusals = config.clients.refusals;
    this.bodies = new BodyReader(config.clients);
    const access = new WatcherAccess(store, config, config.maxContainerWatchers, refusals);
    this.push = new PushHub({
      exists: (id) => store.hasWatcher(id),
      entries: (id) => store.assignedChannels(id).map((c) => encodeMappedSg(c) as Record<string, unknown>),
      etag: (id) => this.assigned.etagOf(id),
    });
    this.push.onAttach = () => this.respond.count(200);
    this.assigned = new AssignedChannels(store, access, this.push, this.respond, config, closing);
    const subscriptions = new Subscriptions(store, access, this.push, this.respond, now, config.maxSubscriptionsPerClient, refusals);
    this.operations = new Operations(store, access, subscriptions, this.respond, log, now, refusals);
    const data = new WatcherData(store, access, this.respond, now, config.maxJoinsPerWatcher);
    this.router = new Router(
      { store, access, respond: this.respond, operations: this.operations, subscriptions, assigned: this.assigned, data, stats: (c) => this.stats(c), closing },
      config.aliasRoots,
    );
    // The store reports changes only once they are durable.
    store.onWatcherRemoved((id) => this.assigned.forget(id));
    store.onWatchersChanged((ids) => this.push.deliver(ids));
  }

  handle(req: AnyRequest, res: AnyResponse): void {
    if (req.stream && !this.closing) {
      if (req.method === 'POST') {
        if (this.refreshPaths.has(req.url as string)) return this.fastRefresh(req, res);
      } else if (req.method === 'GET' && this.fastAssignedGet(req, res)) {
        return;
      }
    }
    this.general(req, res);
  }

  /** Ends push streams and long polls; requests still arriving get Connection: close. */
  beginShutdown(): void {
    this.closing = true;
    this.push.closeAll();
    this.bodies.close();
  }

  /** The counters /metrics and the status page render. */
  stats(withChannels = false): ServerStats {
    const sources = {
      store: this.store,
      requestsByStatus: this.respond.byStatus,
      push: this.push,
      clients: this.config.clients,
      bodiesInProgress: this.bodies.inProgress,
      startedMs: this.startedMs,
      nowMs: Date.now(),
      memory: this.config.memoryUsage(),
      ...(this.config.mqttStats ? { mqtt: this.config.mqttStats } : {}),
      ...(this.config.tlsCertificate ? { tlsCertificate: this.config.tlsCertificate } : {}),
    };
    return collectStats(sources, withChannels);
  }

  private general(req: AnyRequest, res: AnyResponse, read?: ReadBody): void {
    this.router.dispatch(req, res, new RequestBody(this.bodies, req, read)).catch((err: unknown) => this.fail(req, res, err));
  }

  private fastRefresh(req: AnyRequest, res: AnyResponse): void {
    this.bodies.read(req, this.refreshBodyRead, res);
  }

  /** fastRefresh's body has been read (one function for every request: no closure each). */
  private readonly refreshBodyRead: BodyDone<AnyResponse> = (error, body, req, res) => {
    if (error === null && this.refreshNow(req, res, body, this.refreshPaths.get(req.url as string) === true)) return;
    this.general(req, res, { error, body });
  };

  /** A refresh the general path would answer 200; false leaves the request for it. */
  private refreshNow(req: AnyRequest, res: AnyResponse, body: Buffer, prototype: boolean): boolean {
    let answer: PreparedJson;
    try {
      const owner = identify(req)?.owner;
      checkAccept(req);
      const id = plainRefreshWatcherId(body);
      answer =
        id !== undefined && isJsonBodyType(contentTypeOf(req), prototype)
          ? this.operations.refreshWatcher(id, owner)
          : this.operations.refresh(parseJsonBody(req, body, prototype, false), owner);
    } catch {
      return false;
    }
    this.respond.sendPrepared(res, answer);
    return true;
  }

  /** GET …/assigned-channels/watcher=ID without a body, query, escapes or If-None-Match; false: use the general path. */
  private fastAssignedGet(req: AnyRequest, res: AnyResponse): boolean {
    const url = req.url as string;
    let id: string | undefined;
    for (const p of this.assignedPrefixes) {
      if (url.startsWith(p)) {
        id = url.slice(p.length);
        break;
      }
    }
    if (id === undefined || id === '' || id.length > 256 || /[%/?]/.test(id)) return false;
    if (!(req.stream as NonNullable<AnyRequest['stream']>).endAfterHeaders || req.headers['if-none-match'] !== undefined) return false;
    try {
      const owner = identify(req)?.owner;
      const held = this.assigned.entry(req, res, id, owner, false);
      held?.catch((err: unknown) => this.fail(req, res, err));
    } catch {
      return false;
    }
    return true;
  }

  private fail(req: AnyRequest, res: AnyResponse, err: unknown): void {
    let rc = toRestconfError(err);
    if (rc === null) {
      // Watcher ids are secrets: keep them out of the log.
      const path = (req.url ?? '').replace(/watcher=[^/?]*/g, 'watcher=…').replace(/\[id=[^\]]*\]/g, '[id=…]');
      this.log.error('request failed', { method: req.method, path, error: (err as Error)?.stack ?? String(err) });
      rc = errors.operationFailed('internal error; the request was not applied (see the server log)');
    }
    if (res.headersSent) {
      if (!res.writableEnded) res.end();
      return;
    }
    // A body never read is reset by Node itself once the answer is out (NO_ERROR).
    this.respond.error(req, res, rc);
  }
}
