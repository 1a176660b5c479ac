// The per-watcher configuration containers: ietf-mnat:egress-global-joined
// (joined channels) and ietf-mnat:ingress-watching (source-prefix monitors).
// One handling for both; a WatcherDataKind supplies the codec and store calls.
import {
  decodeEgressWatcher,
  decodeEgressWatchers,
  decodeIngressWatcher,
  decodeIngressWatchers,
  encodeEgressGlobalJoined,
  encodeEgressWatcher,
  encodeIngressWatcher,
  encodeIngressWatching,
  type Json,
} from '../../protocol/ietf-mnat-codec.ts';
import type { JoinedSg, Monitor } from '../../protocol/model.ts';
import { parseJsonBody } from '../http/body.ts';
import { checkAccept, contentTypeOf, isJsonBodyType, YANG_JSON } from '../http/media-type.ts';
import { errors } from '../http/restconf-error.ts';
import { MnatError, wrongRoleError } from '../state/state-types.ts';
import { validateJoins, validateMonitors } from '../state/validate.ts';
import type { MnatStore, StoreReads } from '../store/store.ts';
import type { WatcherAccess } from './access.ts';
import { allow, type Ctx, type Method } from './context.ts';
import { mnatToRestconf } from './error-map.ts';
import type { Responder } from './respond.ts';

export interface WatcherDataKind<T> {
  role: 'egress' | 'ingress';
  container: 'egress-global-joined' | 'ingress-watching';
  /** Plural noun of the entries, for the 404 hint. */
  items: string;
  /** The state machine's input checks (throws its MnatError). */
  validate(items: T[], limit: number): void;
  decodeList(body: unknown): Array<{ id: string | undefined; items: T[] }>;
  decodeOne(body: unknown, watcherId: string): T[];
  encodeList(watchers: Array<{ id: string; items: T[] }>): Json;
  encodeOne(watcherId: string, items: T[]): Json;
  get(store: StoreReads, id: string): T[];
  set(store: MnatStore, id: string, items: T[], at: number): Promise<void>;
  merge(store: MnatStore, id: string, items: T[], at: number): Promise<void>;
  remove(store: MnatStore, id: string, at: number): Promise<void>;
}

export const EGRESS_DATA: WatcherDataKind<JoinedSg> = {
  role: 'egress',
  container: 'egress-global-joined',
  items: 'joins',
  validate: (joins, limit) => void validateJoins(joins, limit, () => undefined),
  decodeList: (body) => decodeEgressWatchers(body).map((w) => ({ id: w.id, items: w.joins })),
  decodeOne: decodeEgressWatcher,
  encodeList: (watchers) => encodeEgressGlobalJoined(watchers.map((w) => ({ id: w.id, joins: w.items }))),
  encodeOne: encodeEgressWatcher,
  get: (store, id) => store.egressJoins(id),
  set: (store, id, joins, at) => store.setJoins({ id, joins, at }),
  merge: (store, id, joins, at) => store.mergeJoins({ id, joins, at }),
  remove: (store, id, at) => store.deleteJoins({ id, at }),
};

export const INGRESS_DATA: WatcherDataKind<Monitor> = {
  role: 'ingress',
  container: 'ingress-watching',
  items: 'monitors',
  validate: (monitors, limit) => void validateMonitors(monitors, limit),
  decodeList: (body) => decodeIngressWatchers(body).map((w) => ({ id: w.id, items: w.monitors })),
  decodeOne: decodeIngressWatcher,
  encodeList: (watchers) => encodeIngressWatching(watchers.map((w) => ({ id: w.id, monitors: w.items }))),
  encodeOne: encodeIngressWatcher,
  get: (store, id) => store.ingressMonitors(id),
  set: (store, id, monitors, at) => store.setMonitors({ id, monitors, at }),
  merge: (store, id, monitors, at) => store.mergeMonitors({ id, monitors, at }),
  remove: (store, id, at) => store.deleteMonitors({ id, at }),
};

const CONTAINER_METHODS: Method[] = ['GET', 'HEAD', 'POST'];
const ENTRY_METHODS: Method[] = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'];

export class WatcherData {
  constructor(
    private readonly store: MnatStore,
    private readonly access: WatcherAccess,
    private readonly respond: Responder,
    private readonly now: () => number,
    /** Joins or monitors per watcher (the store's limit). */
    private readonly maxItems: number,
  ) {}

  async handle<T>(ctx: Ctx, watcherId: string | undefined, kind: WatcherDataKind<T>): Promise<void> {
    if (watcherId === undefined) return this.container(ctx, kind);
    const base = `/ietf-mnat:${kind.container}/watcher`;
    allow(ctx.method, ENTRY_METHODS);
    if (this.respond.options(ctx, ENTRY_METHODS)) return void (await ctx.body.drain());
    if (ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.method === 'DELETE') await ctx.body.drain();
    else await this.checkBodyType(ctx);
    this.access.check(watcherId, ctx.owner, base);
    const now = this.now();
    switch (ctx.method) {
      case 'GET':
      case 'HEAD':
        checkAccept(ctx.req);
        if (this.store.roleOf(watcherId) !== kind.role) throw errors.notFound(`${kind.container} entry for this watcher (it has not PUT ${kind.items})`);
        this.respond.json(ctx, 200, kind.encodeOne(watcherId, kind.get(this.store, watcherId)));
        return;
      case 'PUT':
      case 'PATCH': {
        const items = kind.decodeOne(parseJsonBody(ctx.req, await ctx.body.read(), ctx.prototype, true), watcherId);
        const role = this.store.roleOf(watcherId);
        const existed = role === kind.role;
        // RFC 8040 §4.6.1: PATCH must not create the target; answered as a GET of it is (another role: wrong-role, as PUT).
        if (ctx.method === 'PATCH' && role === 'none') throw errors.notFound(`${kind.container} entry for this watcher (PUT ${kind.items} to create it)`);
        try {
          await (ctx.method === 'PUT' ? kind.set(this.store, watcherId, items, now) : kind.merge(this.store, watcherId, items, now));
        } catch (err) {
          if (err instanceof MnatError) throw mnatToRestconf(err, true);
          throw err;
        }
        this.respond.send(ctx.res, ctx.method === 'PUT' && !existed ? 201 : 204, undefined);
        return;
      }
      case 'DELETE':
        if (this.store.roleOf(watcherId) !== kind.role) throw errors.notFound(`${kind.container} entry for this watcher`);
        await kind.remove(this.store, watcherId, now);
        this.respond.send(ctx.res, 204, undefined);
        return;
    }
  }

  /** The container: GET lists the caller's own watchers; POST sets the listed watchers' entries. */
  private async container<T>(ctx: Ctx, kind: WatcherDataKind<T>): Promise<void> {
    allow(ctx.method, CONTAINER_METHODS);
    if (this.respond.options(ctx, CONTAINER_METHODS)) return void (await ctx.body.drain());
    if (ctx.method === 'POST') {
      const entries = kind.decodeList(parseJsonBody(ctx.req, await ctx.body.read(), ctx.prototype, true));
      if (entries.length === 0) throw errors.missingElement('no watcher entry in the body', '/ietf-mnat:watcher');
      const checked = entries.map((e, i) => ({ id: this.checkEntry(ctx, kind, e.id, e.items, i), items: e.items }));
      const now = this.now();
      // Each entry is its own durable change: every refusal known beforehand is checked above.
      for (const e of checked) await kind.set(this.store, e.id, e.items, now);
      const first = checked[0]?.id as string;
      this.respond.send(ctx.res, 201, undefined, { location: `${ctx.root}/data/ietf-mnat:${kind.container}/watcher=${encodeURIComponent(first)}` });
      return;
    }
    await ctx.body.drain();
    checkAccept(ctx.req);
    const ids = this.access.ownedIds(ctx.owner).filter((id) => this.store.roleOf(id) === kind.role);
    this.respond.json(ctx, 200, kind.encodeList(ids.map((id) => ({ id, items: kind.get(this.store, id) }))));
  }

  /**
   * One entry of a container POST, as kind.set would refuse it. The container
   * exists, so an unknown watcher is a fault of the body: 400, as in operation input.
   */
  private checkEntry<T>(ctx: Ctx, kind: WatcherDataKind<T>, id: string | undefined, items: T[], i: number): string {
    const path = `/ietf-mnat:watcher[${i}]`;
    if (id === undefined) throw errors.missingElement('watcher entry without id', `${path}/id`);
    this.access.check(id, ctx.owner, `${path}/id`, 400);
    const role = this.store.roleOf(id);
    if (role !== 'none' && role !== kind.role) {
      throw mnatToRestconf(wrongRoleError(kind.role, `${path}/id`), false);
    }
    try {
      kind.validate(items, this.maxItems);
    } catch (err) {
      if (err instanceof MnatError) throw mnatToRestconf(new MnatError(err.kind, err.message, err.path === undefined ? path : `${path}/${err.path}`), false);
      throw err;
    }
    return id;
  }

  /** PUT/PATCH: the media type is checked before the watcher, so a wrong type is 415 whatever the id. */
  private async checkBodyType(ctx: Ctx): Promise<void> {
    const type = contentTypeOf(ctx.req);
    if (type === '' || isJsonBodyType(type, ctx.prototype)) return;
    await ctx.body.drain();
    if (ctx.method === 'PATCH' && type === 'application/yang-patch+json') {
      throw errors.unsupportedMedia(type, `${YANG_JSON} (plain PATCH merge; YANG Patch is not supported)`);
    }
    throw errors.unsupportedMedia(type, YANG_JSON);
  }
}
