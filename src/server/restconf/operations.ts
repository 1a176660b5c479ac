// POST …/operations/NAME: the ietf-mnat watcher operations here
// (get-new-watcher-id, refresh-watcher-id); the yang-push ones are in
// subscriptions.ts.
import { randomBytes } from 'node:crypto';
import { decodeRefreshWatcherIdInput, encodeGetNewWatcherIdOutput, encodeRefreshWatcherIdOutput } from '../../protocol/ietf-mnat-codec.ts';
import type { Logger } from '../../host/host.ts';
import { parseJsonBody } from '../http/body.ts';
import type { Refusals } from '../http/limits.ts';
import { connectionOf } from '../http/request.ts';
import { checkAccept, YANG_JSON } from '../http/media-type.ts';
import { errors, RestconfError } from '../http/restconf-error.ts';
import { MnatError } from '../state/state-types.ts';
import type { MnatStore } from '../store/store.ts';
import type { WatcherAccess } from './access.ts';
import { allow, type Ctx } from './context.ts';
import { mnatToRestconf, quotaOf } from './error-map.ts';
import { prepareJson, type PreparedJson, type Responder } from './respond.ts';
import type { Subscriptions } from './subscriptions.ts';

export const OPERATIONS = [
  'ietf-mnat:get-new-watcher-id',
  'ietf-mnat:refresh-watcher-id',
  'ietf-subscribed-notifications:establish-subscription',
  'ietf-subscribed-notifications:delete-subscription',
] as const;

/** 128-bit crypto-random, base64url: watcher ids are bearer secrets. */
export function newWatcherId(): string {
  return randomBytes(16).toString('base64url');
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

export class Operations {
  /** Encoded refresh answers by period (there is one period per server). */
  private readonly refreshAnswers = new Map<number, PreparedJson>();

  constructor(
    private readonly store: MnatStore,
    private readonly access: WatcherAccess,
    private readonly subscriptions: Subscriptions,
    private readonly respond: Responder,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly refusals?: Refusals,
  ) {}

  async handle(ctx: Ctx, name: string): Promise<void> {
    if (!(OPERATIONS as readonly string[]).includes(name)) {
      await ctx.body.drain();
      throw errors.notFound(`operation ${name}`);
    }
    allow(ctx.method, ['POST']);
    if (this.respond.options(ctx, ['POST'])) {
      await ctx.body.drain();
      return;
    }
    checkAccept(ctx.req);
    const input = parseJsonBody(ctx.req, await ctx.body.read(), ctx.prototype, false);
    switch (name) {
      case 'ietf-mnat:get-new-watcher-id':
        return this.getNewWatcherId(ctx, input);
      case 'ietf-mnat:refresh-watcher-id':
        this.respond.send(ctx.res, 200, this.refresh(input, ctx.owner).body, { 'content-type': YANG_JSON });
        return;
      case 'ietf-subscribed-notifications:establish-subscription':
        return this.subscriptions.establish(ctx, input);
      case 'ietf-subscribed-notifications:delete-subscription':
        return this.subscriptions.delete(ctx, input);
    }
  }

  private async getNewWatcherId(ctx: Ctx, input: unknown): Promise<void> {
    if (input !== undefined) checkEmptyInput(input, 'ietf-mnat:input');
    const at = this.now();
    // The id is chosen here, not by the store, so the change is a plain intent.
    // Without a certificate the client's address is recorded: the per-address
    // quota and rate are kept in the (replicated) state.
    const creator = ctx.owner === undefined ? connectionOf(ctx.req)?.client.key : undefined;
    let id = newWatcherId();
    for (let tries = 1; ; tries++) {
      try {
        await this.store.createWatcher(ctx.owner !== undefined ? { id, owner: ctx.owner, at } : creator !== undefined ? { id, creator, at } : { id, at });
        break;
      } catch (err) {
        const quota = quotaOf(err);
        if (quota !== null) {
          this.refusals?.count(quota);
          throw mnatToRestconf(err as MnatError, false);
        }
        if (!(err instanceof MnatError && err.kind === 'id-in-use') || tries >= 3) throw err;
        id = newWatcherId();
      }
    }
    if (ctx.identity) this.log.debug('watcher created', { owner: ctx.identity.subjectCn });
    this.respond.json(ctx, 200, encodeGetNewWatcherIdOutput(id, this.store.refreshPeriodS, { prototype: ctx.prototype }));
  }

  /**
   * refresh-watcher-id with its parsed input → the answer. Liveness only:
   * nothing is journaled, so nothing waits for the disk. Throws the RESTCONF
   * error for anything unusual (the fast path then hands the request on).
   */
  refresh(input: unknown, owner: string | undefined): PreparedJson {
    if (input === undefined) throw errors.missingElement('refresh-watcher-id needs {"ietf-mnat:input":{"watcher-id":…}}', '/ietf-mnat:input');
    return this.refreshWatcher(decodeRefreshWatcherIdInput(input).watcherId, owner);
  }

  /** refresh() of an input already decoded (the fast path reads the usual body without JSON.parse). */
  refreshWatcher(watcherId: string, owner: string | undefined): PreparedJson {
    this.access.check(watcherId, owner, '/ietf-mnat:input/watcher-id', 400);
    const period = this.store.refreshWatcher(watcherId, this.now());
    let answer = this.refreshAnswers.get(period);
    if (answer === undefined) {
      answer = prepareJson(JSON.stringify(encodeRefreshWatcherIdOutput(period)));
      this.refreshAnswers.set(period, answer);
    }
    return answer;
  }
}
