// yang-push over RESTCONF (RFC 8639, RFC 8641, RFC 8650): the
// establish-subscription and delete-subscription operations and the SSE
// stream a subscription's URI opens. The streams themselves are PushHub's.
import { randomBytes } from 'node:crypto';
import type { Refusals } from '../http/limits.ts';
import { connectionOf, type AnyRequest } from '../http/request.ts';
import { headerOf } from '../http/media-type.ts';
import { errors, RestconfError } from '../http/restconf-error.ts';
import type { PushHub } from '../push/push-hub.ts';
import type { StoreReads } from '../store/store.ts';
import type { WatcherAccess } from './access.ts';
import { allow, type Ctx, type Method } from './context.ts';
import type { Responder } from './respond.ts';
import { parseEstablishInput, parseSubscriptionIdInput, SN } from './subscription-input.ts';

const MAX_SUBSCRIPTIONS_PER_WATCHER = 8;
const STREAM_METHODS: Method[] = ['GET', 'HEAD'];

/** The transport connection of a request (an HTTP/2 session's socket, or the HTTP/1.1 socket). */
function transportOf(req: AnyRequest): unknown {
  return req.stream ? req.stream.session : req.socket;
}

function isTls(req: AnyRequest): boolean {
  const socket = req.socket as { encrypted?: boolean } | undefined;
  return socket?.encrypted === true;
}

export class Subscriptions {
  constructor(
    private readonly store: StoreReads,
    private readonly access: WatcherAccess,
    private readonly push: PushHub,
    private readonly respond: Responder,
    private readonly now: () => number,
    /** Subscriptions one client (certificate, or address without one) may hold; 0: no limit. */
    private readonly maxPerClient = 0,
    private readonly refusals?: Refusals,
  ) {}

  establish(ctx: Ctx, input: unknown): void {
    if (input === undefined) throw errors.missingElement('establish-subscription needs input', `/${SN}:input`);
    const watcherId = parseEstablishInput(input);
    this.access.check(watcherId, ctx.owner, `/${SN}:input/ietf-yang-push:datastore-xpath-filter`, 400);
    if (this.push.countFor(watcherId) >= MAX_SUBSCRIPTIONS_PER_WATCHER) {
      throw errors.resourceDenied(`watcher already has ${MAX_SUBSCRIPTIONS_PER_WATCHER} subscriptions; delete one first`, `/${SN}:input`);
    }
    const client = ctx.owner ?? connectionOf(ctx.req)?.client.key ?? 'unknown';
    const held = this.push.countForClient(client);
    if (this.maxPerClient > 0 && held >= this.maxPerClient) {
      this.refusals?.count('subscriptions-per-client');
      throw errors.limit('subscriptions-per-client', `you hold ${held} push subscriptions, the most one client may hold; delete one (delete-subscription) or close a stream first`);
    }
    const token = randomBytes(12).toString('base64url');
    const id = this.push.create(watcherId, ctx.owner, client, transportOf(ctx.req), token, this.now());
    const authority = headerOf(ctx.req, ':authority') ?? headerOf(ctx.req, 'host') ?? 'localhost';
    const scheme = isTls(ctx.req) ? 'https' : 'http';
    this.respond.json(ctx, 200, {
      [`${SN}:output`]: {
        id,
        'ietf-restconf-subscribed-notifications:uri': `${scheme}://${authority}${ctx.root}/subscriptions/${id}.${token}`,
      },
    });
  }

  delete(ctx: Ctx, input: unknown): void {
    if (input === undefined) throw errors.missingElement(`delete-subscription needs {"${SN}:input":{"id":N}}`, `/${SN}:input`);
    const id = parseSubscriptionIdInput(input);
    if (!this.push.delete(id, ctx.owner, transportOf(ctx.req))) {
      throw new RestconfError(400, 'application', 'invalid-value', `no subscription ${id}`, `${SN}:no-such-subscription`, `/${SN}:input/id`);
    }
    this.respond.send(ctx.res, 204, undefined);
  }

  /** GET …/subscriptions/ID.TOKEN: the SSE stream of an established subscription. */
  async stream(ctx: Ctx, idText: string): Promise<void> {
    allow(ctx.method, STREAM_METHODS);
    await ctx.body.drain();
    if (this.respond.options(ctx, STREAM_METHODS)) return;
    const m = /^(\d{1,10})\.([A-Za-z0-9_-]{16})$/.exec(idText);
    const id = m ? Number(m[1]) : NaN;
    const sub = m ? this.push.lookup(id, m[2] as string, ctx.owner) : null;
    if (!sub) throw errors.notFound('subscription stream (use the URI establish-subscription returned)');
    if (sub.attached) throw new RestconfError(409, 'application', 'in-use', `subscription ${id} already has a stream`);
    const accept = headerOf(ctx.req, 'accept') ?? '';
    if (accept && !/text\/event-stream|\*\/\*/.test(accept)) throw errors.notAcceptable(accept);
    if (!this.store.hasWatcher(sub.watcherId)) {
      this.push.watcherGone(sub.watcherId);
      throw errors.unknownWatcher(undefined, 404);
    }
    // HEAD (RFC 8040 §4.2): the headers PushHub.attach sends, without attaching
    // (that would use up the subscription's one stream).
    if (ctx.method === 'HEAD') return this.respond.send(ctx.res, 200, undefined, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    this.push.attach(id, ctx.res);
  }
}
