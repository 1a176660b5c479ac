// Writing responses: status counting for /metrics, Content-Length, HEAD,
// RESTCONF error bodies and OPTIONS.
import type { AnyRequest, AnyResponse } from '../http/request.ts';
import { YANG_JSON } from '../http/media-type.ts';
import { errorBody, type RestconfError } from '../http/restconf-error.ts';
import type { Ctx, Method } from './context.ts';

/** Response headers built once: :status, content-type, content-length (and more) of one body. */
export type PreparedHeaders = Readonly<Record<string, string | number>> & { readonly ':status': number };

/** The headers of a JSON answer with this body, for sendPrepared(). */
export function jsonHeaders(status: number, body: string, extra: Record<string, string> = {}): PreparedHeaders {
  return { ':status': status, 'content-type': YANG_JSON, 'content-length': String(Buffer.byteLength(body)), ...extra };
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

  /**
   * An HTTP/2 answer whose headers were built once and are reused (Node
   * copies them): `headers` holds :status, content-type and content-length
   * of `body`. For the fast paths (refresh, a watcher's assigned-channels).
   */
  sendPrepared(res: AnyResponse, headers: PreparedHeaders, body: string): void {
    if (res.writableEnded) return;
    this.count(headers[':status']);
    res.writeHead(headers[':status'], headers as unknown as Record<string, string>);
    res.end(body);
  }

  send(res: AnyResponse, status: number, body: string | undefined, headers: Record<string, string> = {}, head = false): void {
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
