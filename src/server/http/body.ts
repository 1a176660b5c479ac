// Request bodies: read once, at most MAX_BODY_BYTES, and parsed as JSON of an
// accepted media type. The body travels explicitly with the request (a
// RequestBody), so a fast path that has read it hands it on to the general
// path instead of stashing it on the request object.
import type { AnyRequest } from './listener.ts';
import { contentTypeOf, isJsonBodyType, YANG_JSON } from './media-type.ts';
import { errors, type RestconfError } from './restconf-error.ts';

export const MAX_BODY_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

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

/** Reads the whole body; `done` is called exactly once (synchronously when there is nothing to read). */
export function readBody(req: AnyRequest, limit: number, done: (result: ReadBody) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > limit) {
    // Not reading a body we refuse; HTTP/1.1 closes the connection after the reply.
    req.resume();
    done({ error: errors.tooBig(limit), body: EMPTY });
    return;
  }
  if (req.readableEnded || bodyless(req)) {
    // HTTP/1.1 must consume the (empty) message; an HTTP/2 stream that ended
    // with its headers has nothing to read, and resuming it costs an error
    // object per request inside Node's stream machinery.
    if (!req.stream) req.resume();
    done({ error: null, body: EMPTY });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (result: ReadBody): void => {
    if (finished) return;
    finished = true;
    done(result);
  };
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) {
      chunks.length = 0;
      finish({ error: errors.tooBig(limit), body: EMPTY });
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => finish({ error: null, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) }));
  req.on('error', (err) => finish({ error: errors.malformed(`request body could not be read: ${err.message}`), body: EMPTY }));
  req.on('aborted', () => finish({ error: errors.malformed('request aborted'), body: EMPTY }));
}

/** The body of one request, read at most once. */
export class RequestBody {
  private result: Promise<Buffer> | null = null;

  /** `already`: the body a fast path read before handing the request on. */
  constructor(
    private readonly req: AnyRequest,
    already?: ReadBody,
  ) {
    if (already) this.result = settle(already);
  }

  read(): Promise<Buffer> {
    if (!this.result) {
      this.result = new Promise((resolve, reject) => readBody(this.req, MAX_BODY_BYTES, (r) => (r.error ? reject(r.error) : resolve(r.body))));
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
