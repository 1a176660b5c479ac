// Media types of RESTCONF requests: what a body may be sent as, and whether
// the client accepts what this server answers (RFC 8040 §5.2: RFC 7951 JSON).
import type { AnyRequest } from './listener.ts';
import { errors } from './restconf-error.ts';

export const YANG_JSON = 'application/yang-data+json';

export function headerOf(req: AnyRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** The body's media type, lower case, without parameters; "" when none was given. */
export function contentTypeOf(req: AnyRequest): string {
  const raw = headerOf(req, 'content-type');
  if (raw === undefined) return '';
  if (raw === YANG_JSON) return raw;
  return raw.split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Body types taken: RFC 7951 JSON; under a prototype root also plain application/json. */
export function isJsonBodyType(type: string, prototype: boolean): boolean {
  return type === YANG_JSON || (prototype && type === 'application/json');
}

/** Whether an Accept header admits application/yang-data+json (no header: yes). */
export function acceptsJson(accept: string | undefined): boolean {
  if (!accept || accept === '*/*' || accept === YANG_JSON) return true;
  return accept
    .split(',')
    .map((p) => (p.split(';')[0] ?? '').trim().toLowerCase())
    .some((t) => t === '*/*' || t === 'application/*' || t === YANG_JSON || t === 'application/json' || t === '');
}

/** 406 unless the client accepts JSON. */
export function checkAccept(req: AnyRequest): void {
  const accept = headerOf(req, 'accept');
  if (!acceptsJson(accept)) throw errors.notAcceptable(accept as string);
}
