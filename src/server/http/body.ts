// Request bodies: read once, at most MAX_BODY_BYTES, and parsed as JSON of an
// accepted media type. The body travels explicitly with the request (a
// RequestBody), so a fast path that has read it hands it on to the general
// path instead of stashing it on the request object.
//
// A body being read is charged to its connection and its client (limits.ts):
// too many bytes buffered at once is refused with 429. A body that goes
// --body-timeout without data, or that after --body-timeout has averaged
// less than --body-min-rate bytes per second, is refused with 408. One coarse clock (a 1 s sweep over the bodies being
// read) times them all: no timer and no clock read per request.
import { LIMIT_FLAGS, type ClientTable, type ConnRec, type LimitName } from './limits.ts';
import { connectionOf, type AnyRequest } from './request.ts';
import { contentTypeOf, isJsonBodyType, YANG_JSON } from './media-type.ts';
import { errors, RestconfError } from './restconf-error.ts';

export const MAX_BODY_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** RST_STREAM NO_ERROR: "stop sending, the response is complete" (RFC 9113 §8.1). */
const H2_NO_ERROR = 0;

/** A body as read: the bytes, or why it could not be read. */
export interface ReadBody {
  error: RestconfError | null;
  body: Buffer;
}

/** True when the request cannot have a body (saves reading an empty stream). */
function bodyless(req: AnyRequest): boolean {
  if (req.stream) return req.stream.endAfterHeaders === true;
  const h = req.headers;
  return (h['content-length'] === undefined || h['content-length'] === '0') && h['transfer-encoding'] === undefined;
}

/**
 * Called once with the body, or with why it could not be read; `req` and
 * `res` are what read() was given (so a caller needs no closure per request).
 */
export type BodyDone<R = unknown> = (error: RestconfError | null, body: Buffer, req: AnyRequest, res: R) => void;

/** Where a body being read hangs on its emitter (the HTTP/2 stream or the HTTP/1.1 request). */
const READ = Symbol('mnat.bodyRead');
type Emitter = { [READ]?: BodyRead };

// One set of listener functions for every body: Node calls them with the
// emitter as `this`, so no closures are made per request.
function onData(this: Emitter, chunk: Buffer): void {
  this[READ]?.data(chunk);
}
// An HTTP/2 stream reset with NO_ERROR mid-body still ends its readable side
// (with what had arrived): 'aborted' came first.
function onEnd(this: Emitter & { aborted?: boolean }): void {
  this[READ]?.finish(this.aborted === true ? errors.malformed('request aborted') : null);
}
/**
 * The body's request failed or ended early: a body still being read ends here,
 * with an error. HTTP/1.1 learns it from 'error' and 'aborted'; an HTTP/2
 * stream from its destroy (h2-stream.ts), which every stream goes through, so
 * an HTTP/2 body needs no listener for it.
 */
export function abandonBodyRead(emitter: object, err: Error | null | undefined): void {
  const read = (emitter as Emitter)[READ];
  if (read && !read.finished) read.finish(errors.malformed(err ? `request body could not be read: ${err.message}` : 'request aborted'));
}
function onError(this: Emitter, err: Error): void {
  abandonBodyRead(this, err);
}
function onAborted(this: Emitter): void {
  abandonBodyRead(this, undefined);
}

/** One body being read. */
class BodyRead {
  /** The body so far when it came in one chunk (the usual case); more chunks go to `more`. */
  first: Buffer | null = null;
  more: Buffer[] | null = null;
  size = 0;
  /** Bytes charged to the connection (0 once released). */
  charged = 0;
  finished = false;
  /** The sweep tick of the last data. */
  lastTick: number;
  /** Neighbours in the reader's list of bodies being read. */
  prev: BodyRead | null = null;
  next: BodyRead | null = null;
  constructor(
    readonly reader: BodyReader,
    readonly req: AnyRequest,
    readonly conn: ConnRec | undefined,
    readonly startTick: number,
    readonly done: BodyDone<never>,
    readonly res: unknown,
  ) {
    this.lastTick = startTick;
  }

  data(chunk: Buffer): void {
    if (this.finished) return; // refused: the rest is discarded
    this.lastTick = this.reader.tick;
    this.size += chunk.length;
    if (this.size > MAX_BODY_BYTES) return this.finish(errors.tooBig(MAX_BODY_BYTES));
    if (this.conn) {
      const over = this.reader.clients.charge(this.conn, chunk.length);
      if (over !== null) return this.finish(this.reader.refuse(over));
      this.charged += chunk.length;
    }
    if (this.first === null) this.first = chunk;
    else (this.more ??= [this.first]).push(chunk);
  }

  finish(error: RestconfError | null): void {
    if (this.finished) return;
    this.finished = true;
    this.reader.settled(this);
    const body = error !== null || this.first === null ? EMPTY : this.more === null ? this.first : Buffer.concat(this.more);
    this.first = null;
    this.more = null;
    (this.done as BodyDone)(error, body, this.req, this.res);
    // A refused body may still be arriving: once the answer is out, ask the
    // client to stop (HTTP/2) or close the connection (HTTP/1.1 answers with
    // Connection: close, see respond.ts).
    if (error !== null && !this.req.readableEnded) stopSending(this.req);
  }
}

/** Reads request bodies within the per-connection and per-client limits. */
export class BodyReader {
  /**
   * Bodies being read, newest first, linked through the bodies themselves.
   * Not a Set: under load (256 refreshes in flight) a Set here made every
   * scavenge keep about 2.3 MB alive and promote 1.9 MB to the old
   * generation (--trace-gc-nvp), and a refresh cost about 5 µs more CPU
   * (pinned A/B runs; docs/server.md, Performance).
   */
  private reading: BodyRead | null = null;
  private readingCount = 0;
  /** Seconds since start, advanced by the sweep. */
  tick = 0;
  private readonly sweepTimer: ReturnType<typeof setInterval>;

  constructor(readonly clients: ClientTable) {
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
  }

  /** Bodies being read now. */
  get inProgress(): number {
    return this.readingCount;
  }

  close(): void {
    clearInterval(this.sweepTimer);
  }

  /** Reads the whole body; `done` is called exactly once (synchronously when there is nothing to read). */
  read<R>(req: AnyRequest, done: BodyDone<R>, res: R): void {
    const declared = req.headers['content-length'];
    if (declared !== undefined && declared.length >= 5 && /^\d+$/.test(declared) && Number(declared) > MAX_BODY_BYTES) {
      // Not reading a body we refuse; HTTP/1.1 closes the connection after the reply.
      req.resume();
      done(errors.tooBig(MAX_BODY_BYTES), EMPTY, req, res);
      return;
    }
    if (req.readableEnded || bodyless(req)) {
      // HTTP/1.1 must consume the (empty) message; an HTTP/2 stream that ended
      // with its headers has nothing to read, and resuming it costs an error
      // object per request inside Node's stream machinery.
      if (!req.stream) req.resume();
      done(null, EMPTY, req, res);
      return;
    }
    const read = new BodyRead(this, req, connectionOf(req), this.tick, done as BodyDone<never>, res);
    this.link(read);
    ((req.stream ?? req) as Emitter)[READ] = read;
    req.on('data', onData);
    req.on('end', onEnd);
    // An HTTP/2 stream has its errors and resets told by abandonBodyRead.
    if (!req.stream) {
      req.on('error', onError);
      req.on('aborted', onAborted);
    }
  }

  private link(read: BodyRead): void {
    read.next = this.reading;
    if (this.reading !== null) this.reading.prev = read;
    this.reading = read;
    this.readingCount++;
  }

  private unlink(read: BodyRead): void {
    if (read.prev === null && this.reading !== read) return; // not linked (or unlinked already)
    if (read.prev !== null) read.prev.next = read.next;
    else this.reading = read.next;
    if (read.next !== null) read.next.prev = read.prev;
    read.prev = read.next = null;
    this.readingCount--;
  }

  /** The limit's refusal, counted: 429 naming the limit and its flag. */
  refuse(limit: LimitName): RestconfError {
    this.clients.refusals.count(limit);
    const { maxBodyBufferPerConnection: perConn, maxBodyBufferPerClient: perClient } = this.clients.limits;
    const message =
      limit === 'body-buffer-per-connection'
        ? `this connection has ${perConn} bytes of request bodies in flight already, the most this server buffers per connection; send fewer requests at once`
        : `your address has ${perClient} bytes of request bodies in flight already, the most this server buffers per client; send fewer requests at once`;
    return errors.limit(limit, message, 1);
  }

  settled(read: BodyRead): void {
    this.unlink(read);
    if (read.conn && read.charged > 0) this.clients.discharge(read.conn, read.charged);
    read.charged = 0;
  }

  /** Times the bodies being read out (the 1 s timer calls it; a test may too). */
  sweep(): void {
    this.tick++;
    const { bodyTimeoutMs, bodyMinRate } = this.clients.limits;
    if (bodyTimeoutMs <= 0) return;
    const baseS = bodyTimeoutMs / 1000;
    // Found first, refused after: refusing one may end others (and unlink them).
    let slow: Array<{ read: BodyRead; why: string }> | null = null;
    for (let read = this.reading; read !== null; read = read.next) {
      // No data for the timeout, or (after the timeout) less than min-rate bytes per second on average.
      const elapsed = this.tick - read.startTick;
      const idle = this.tick - read.lastTick;
      if (idle > baseS) (slow ??= []).push({ read, why: `no body data for ${idle} s` });
      else if (bodyMinRate > 0 && elapsed > baseS + read.size / bodyMinRate) (slow ??= []).push({ read, why: `${read.size} bytes in ${elapsed} s, slower than ${bodyMinRate} bytes/s` });
    }
    for (const { read, why } of slow ?? []) {
      if (read.finished) continue;
      this.clients.refusals.count('body-timeout');
      read.finish(
        new RestconfError(
          408,
          'transport',
          'resource-denied',
          `request body too slow: ${why}; this server waits ${baseS} s for body data and then wants at least ${bodyMinRate} bytes/s (limit body-timeout, set by ${LIMIT_FLAGS['body-timeout']})`,
          'ietf-mnat:body-timeout',
        ),
      );
    }
  }
}

/**
 * The request was refused while its body was being read: HTTP/2 resets the
 * stream with NO_ERROR once the answer is written,
 * "stop sending, the response is complete" (RFC 9113 §8.1), so an unread
 * body does not hold a stream and its flow-control window; whatever still
 * arrives is dropped. (A body never read at all Node resets by itself.)
 * HTTP/1.1 answers with Connection: close (respond.ts).
 */
export function stopSending(req: AnyRequest): void {
  const stream = req.stream;
  if (!stream || stream.endAfterHeaders || stream.readableEnded || stream.destroyed) return;
  stream.on('data', () => undefined);
  if (stream.writableFinished) stream.close(H2_NO_ERROR);
  else stream.once('finish', () => stream.close(H2_NO_ERROR));
}

/** The body of one request, read at most once. */
export class RequestBody {
  private result: Promise<Buffer> | null = null;

  /** `already`: the body a fast path read before handing the request on. */
  constructor(
    private readonly reader: BodyReader,
    private readonly req: AnyRequest,
    already?: ReadBody,
  ) {
    if (already) this.result = settle(already);
  }

  read(): Promise<Buffer> {
    if (!this.result) {
      this.result = new Promise((resolve, reject) => this.reader.read(this.req, (error, body) => (error ? reject(error) : resolve(body)), undefined));
    }
    return this.result;
  }

  /** Consumes a body the request does not use (errors do not matter then). */
  async drain(): Promise<void> {
    await this.read().catch(() => undefined);
  }
}

function settle(r: ReadBody): Promise<Buffer> {
  const p = r.error ? Promise.reject(r.error) : Promise.resolve(r.body);
  p.catch(() => undefined); // may never be awaited (the request failed earlier)
  return p;
}

/** A JSON body: empty → undefined (or 400 when required), wrong media type → 415, bad syntax → 400. */
export function parseJsonBody(req: AnyRequest, body: Buffer, prototype: boolean, required: boolean): unknown {
  if (body.length === 0) {
    if (required) throw errors.malformed('request body is empty; send an RFC 7951 JSON document');
    return undefined;
  }
  const type = contentTypeOf(req);
  if (!isJsonBodyType(type, prototype)) throw errors.unsupportedMedia(type || '(none)', YANG_JSON);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw errors.malformed(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
