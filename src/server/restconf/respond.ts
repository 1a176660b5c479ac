// Writing responses: status counting for /metrics, Content-Length, HEAD,
// RESTCONF error bodies and OPTIONS.
import type { AnyRequest, AnyResponse } from '../http/request.ts';
import { YANG_JSON } from '../http/media-type.ts';
import { errorBody, type RestconfError } from '../http/restconf-error.ts';
import type { Ctx, Method } from './context.ts';

/**
 * A 200 JSON answer computed once and sent many times (a refresh's output,
 * a watcher's assigned-channels at one version). Only values are kept: the
 * header object is built fresh per response, because Node copies it with
 * for-in, which is several times slower (and allocates) on a long-lived object.
 * The body is kept as bytes: a string would be encoded into a new buffer on
 * every write, which cost a request about 2 µs of CPU (bench/ A/B runs).
 */
export interface PreparedJson {
  readonly body: Buffer;
  /** content-length of body. */
  readonly length: string;
  /** The ETag, sent with Cache-Control: no-cache. */
  readonly etag?: string;
}

export function prepareJson(json: string, etag?: string): PreparedJson {
  const body = Buffer.from(json);
  const length = String(body.length);
  return etag === undefined ? { body, length } : { body, length, etag };
}

export class Responder {
  /** Answered requests, indexed by status code (an array: counting is on every request's path). */
  private readonly counts: number[] = new Array<number>(600).fill(0);

  count(status: number): void {
    this.counts[status] = (this.counts[status] ?? 0) + 1;
  }

  /** Answered requests by status code. */
  get byStatus(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    this.counts.forEach((n, status) => n > 0 && out.set(status, n));
    return out;
  }

  /** A prepared 200 JSON answer (the fast paths: a refresh, a watcher's assigned-channels). */
  sendPrepared(res: AnyResponse, answer: PreparedJson): void {
    if (res.writableEnded) return;
    this.count(200);
    if (res.json) {
      res.json(200, answer.body, answer.length, answer.etag);
      return;
    }
    const headers: Record<string, string> = { 'content-type': YANG_JSON, 'content-length': answer.length };
    if (answer.etag !== undefined) {
      headers.etag = answer.etag;
      headers['cache-control'] = 'no-cache';
    }
    res.writeHead(200, headers);
    res.end(answer.body);
  }

  send(res: AnyResponse, status: number, body: string | Buffer | undefined, headers: Record<string, string> = {}, head = false): void {
    if (res.writableEnded) return;
    this.count(status);
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    if (head || body === undefined) res.end();
    else res.end(body);
  }

  /** A JSON document (HEAD: headers only). */
  json(ctx: Ctx, status: number, value: unknown, headers: Record<string, string> = {}): void {
    this.send(ctx.res, status, JSON.stringify(value), { 'content-type': YANG_JSON, ...headers }, ctx.method === 'HEAD');
  }

  error(req: AnyRequest, res: AnyResponse, rc: RestconfError): void {
    const headers: Record<string, string> = { 'content-type': YANG_JSON, ...(rc.headers ?? {}) };
    // HTTP/1.1: a body refused (or still arriving) is not read further; close after the answer.
    if (!req.stream && (rc.status === 413 || req.complete === false)) headers.connection = 'close';
    this.send(res, rc.status, errorBody(rc), headers, req.method === 'HEAD');
  }

  /** Answers OPTIONS with Allow; false for any other method. */
  options(ctx: Ctx, allowed: readonly Method[]): boolean {
    if (ctx.method !== 'OPTIONS') return false;
    this.send(ctx.res, 200, undefined, { allow: [...allowed, 'OPTIONS'].join(', '), 'content-length': '0' });
    return true;
  }
}
