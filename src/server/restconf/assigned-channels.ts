// GET …/ietf-mnat:assigned-channels[/watcher=ID]: what a watcher is told.
// One watcher's entry carries an ETag; its encoded body is cached (pollers ask
// for the same unchanged list again and again); If-None-Match with the current
// ETag is a long poll, held until the list changes or the wait ends.
import { randomBytes } from 'node:crypto';
import { encodeAssignedChannels, encodeAssignedChannelsWatcher } from '../../protocol/ietf-mnat-codec.ts';
import type { AnyRequest, AnyResponse } from '../http/request.ts';
import { checkAccept, headerOf, YANG_JSON } from '../http/media-type.ts';
import { errors } from '../http/restconf-error.ts';
import type { PushHub } from '../push/push-hub.ts';
import type { StoreReads } from '../store/store.ts';
import type { WatcherAccess } from './access.ts';
import { allow, type Ctx, type Method } from './context.ts';
import { prepareJson, type PreparedJson, type Responder } from './respond.ts';

const BODY_CACHE_ENTRIES = 4096;
const MAX_LONG_POLLS_PER_WATCHER = 16;
const ENTRY_PATH = '/ietf-mnat:assigned-channels/watcher';
const ALLOWED: Method[] = ['GET', 'HEAD'];

export interface LongPollConfig {
  /** Longest a long poll is held (ms). */
  longPollMaxMs: number;
  /** Default hold of a long poll without Prefer: wait=N (ms). */
  longPollDefaultMs: number;
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

export class AssignedChannels {
  private readonly instance = randomBytes(4).toString('hex');
  /** Encoded answers by watcher, at a version. */
  private readonly bodyCache = new Map<string, { version: number; answer: PreparedJson }>();

  constructor(
    private readonly store: StoreReads,
    private readonly access: WatcherAccess,
    private readonly push: PushHub,
    private readonly respond: Responder,
    private readonly config: LongPollConfig,
    /** Shutting down: long polls are answered at once. */
    private readonly closing: () => boolean,
  ) {}

  /**
   * The watcher's version (bumped on every change of its assigned-channels)
   * qualified by this process's instance tag, so an ETag from before a restart
   * never matches after it.
   */
  etagOf(id: string): string {
    return `"${this.instance}.${this.store.version(id).toString(36)}"`;
  }

  /** The watcher is gone: drop its cached body. */
  forget(id: string): void {
    this.bodyCache.delete(id);
  }

  /** The encoded entry at the watcher's current version. */
  private body(id: string): Buffer {
    return this.cached(id).body;
  }

  /** The 200 answer (body, length, ETag) at the watcher's current version. */
  private cached(id: string): PreparedJson {
    const version = this.store.version(id);
    const cached = this.bodyCache.get(id);
    if (cached && cached.version === version) return cached.answer;
    const body = JSON.stringify(encodeAssignedChannelsWatcher(id, this.store.assignedChannels(id)));
    // A bounded number of encoded bodies, oldest inserted evicted first.
    if (cached) this.bodyCache.delete(id);
    else if (this.bodyCache.size >= BODY_CACHE_ENTRIES) {
      const oldest = this.bodyCache.keys().next().value;
      if (oldest !== undefined) this.bodyCache.delete(oldest);
    }
    const answer = prepareJson(body, this.etagOf(id));
    this.bodyCache.set(id, { version, answer });
    return answer;
  }

  /** The container or one watcher's entry (the router's entry point). */
  async handle(ctx: Ctx, watcherId: string | undefined): Promise<void> {
    allow(ctx.method, ALLOWED);
    await ctx.body.drain();
    if (this.respond.options(ctx, ALLOWED)) return;
    if (watcherId === undefined) {
      checkAccept(ctx.req);
      const ids = this.access.ownedIds(ctx.owner);
      this.respond.json(ctx, 200, encodeAssignedChannels(ids.map((id) => ({ id, channels: this.store.assignedChannels(id) }))));
      return;
    }
    await this.entry(ctx.req, ctx.res, watcherId, ctx.owner, ctx.method === 'HEAD');
  }

  /**
   * GET/HEAD of one watcher's entry, after routing. Synchronous unless a long
   * poll is held, which is what lets the plain GET take the fast path.
   */
  entry(req: AnyRequest, res: AnyResponse, id: string, owner: string | undefined, head: boolean): void | Promise<void> {
    checkAccept(req);
    this.access.check(id, owner, ENTRY_PATH);
    if (req.stream && !head && req.headers['if-none-match'] === undefined) {
      // A plain HTTP/2 GET (the pollers' path): body, length and ETag computed once per version.
      this.respond.sendPrepared(res, this.cached(id));
      return;
    }
    const etag = this.etagOf(id);
    const ifNoneMatch = headerOf(req, 'if-none-match');
    const matches = ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag);
    if (matches && !head) return this.longPoll(req, res, id, etag);
    if (matches) {
      this.respond.send(res, 304, undefined, { etag });
      return;
    }
    this.respond.send(res, 200, this.body(id), { 'content-type': YANG_JSON, etag, 'cache-control': 'no-cache' }, head);
  }

  /** Holds the GET until the content changes or the wait ends. */
  private async longPoll(req: AnyRequest, res: AnyResponse, id: string, etag: string): Promise<void> {
    const waitMs = Math.min(this.config.longPollMaxMs, preferWaitMs(headerOf(req, 'prefer')) ?? this.config.longPollDefaultMs);
    if (waitMs <= 0 || this.closing()) {
      this.respond.send(res, 304, undefined, { etag });
      return;
    }
    if (this.push.waitingFor(id) >= MAX_LONG_POLLS_PER_WATCHER) {
      throw errors.resourceDenied(`watcher already has ${MAX_LONG_POLLS_PER_WATCHER} long polls waiting`, ENTRY_PATH);
    }
    await new Promise<void>((resolve) => {
      const cancel = this.push.wait(id, etag, waitMs, (outcome) => {
        res.off('close', onClose);
        if (outcome === 'gone') {
          this.respond.error(req, res, errors.unknownWatcher(ENTRY_PATH));
        } else if (this.store.hasWatcher(id) && (outcome === 'changed' || this.etagOf(id) !== etag)) {
          // A timeout (or shutdown) can land while a change is in memory but
          // deliver() has not run yet: the ETag no longer matches, so 304 would
          // be wrong (RFC 9110 §13.1.2); answer the current entry.
          this.respond.send(res, 200, this.body(id), { 'content-type': YANG_JSON, etag: this.etagOf(id), 'cache-control': 'no-cache' });
        } else {
          this.respond.send(res, 304, undefined, { etag });
        }
        resolve();
      });
      const onClose = (): void => {
        cancel();
        resolve();
      };
      res.on('close', onClose);
    });
  }
}
