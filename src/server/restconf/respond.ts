// Writing responses: status counting for /metrics, Content-Length, HEAD,
// RESTCONF error bodies and OPTIONS.
import type { AnyRequest, AnyResponse } from '../http/listener.ts';
import { YANG_JSON } from '../http/media-type.ts';
import { errorBody, type RestconfError } from '../http/restconf-error.ts';
import type { Ctx, Method } from './context.ts';

export class Responder {
  /** Answered requests by status code. */
  readonly byStatus = new Map<number, number>();

  count(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
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
    if (rc.status === 413 && !req.stream) headers.connection = 'close';
    this.send(res, rc.status, errorBody(rc), headers, req.method === 'HEAD');
  }

  /** Answers OPTIONS with Allow; false for any other method. */
  options(ctx: Ctx, allowed: readonly Method[]): boolean {
    if (ctx.method !== 'OPTIONS') return false;
    this.send(ctx.res, 200, undefined, { allow: [...allowed, 'OPTIONS'].join(', '), 'content-length': '0' });
    return true;
  }
}
