// Media types of RESTCONF requests: what a body may be sent as, and whether
// the client accepts what this server answers (RFC 8040 §5.2: RFC 7951 JSON).
import type { AnyRequest } from './request.ts';
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

/** How closely a media range names JSON: 2 the type itself, 1 application/*, 0 any, -1 another type. */
function jsonRank(range: string): number {
  if (range === YANG_JSON || range === 'application/json') return 2;
  return range === 'application/*' ? 1 : range === '*/*' || range === '' ? 0 : -1;
}

/**
 * Whether an Accept header admits application/yang-data+json (no header: yes).
 * The most specific range that matches decides, and q=0 means "not this"
 * (RFC 9110 §12.5.1): JSON named with q=0 is refused beside a wildcard.
 */
export function acceptsJson(accept: string | undefined): boolean {
  if (!accept || accept === '*/*' || accept === YANG_JSON) return true;
  let decidingRank = -1;
  let admitted = false;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const rank = jsonRank(range);
    if (rank < 0 || rank < decidingRank) continue;
    const q = params.find((p) => p.startsWith('q='));
    const admits = q === undefined || Number(q.slice(2)) > 0;
    admitted = rank > decidingRank ? admits : admitted || admits;
    decidingRank = rank;
  }
  return admitted;
}

/** 406 unless the client accepts JSON. */
export function checkAccept(req: AnyRequest): void {
  const accept = headerOf(req, 'accept');
  if (!acceptsJson(accept)) throw errors.notAcceptable(accept as string);
}
