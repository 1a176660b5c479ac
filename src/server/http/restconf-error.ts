// RESTCONF errors (RFC 8040 §7): every failure the server reports is one of
// these, rendered as an "ietf-restconf:errors" body with the status code the
// RFC's table pairs with the error-tag.
import { LIMIT_FLAGS, type LimitName } from './limits.ts';

export type ErrorType = 'transport' | 'rpc' | 'protocol' | 'application';

/** An answer, not a bug: no stack trace (capturing one is most of what building an error costs, and refusals can come by the thousand). */
export class RestconfError extends Error {
  override name = 'RestconfError';
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly tag: string,
    message: string,
    readonly appTag?: string,
    readonly path?: string,
    /** Extra response headers (e.g. Allow on 405). */
    readonly headers?: Record<string, string>,
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

export const UNKNOWN_WATCHER_APP_TAG = 'ietf-mnat:unknown-watcher-id';

export function errorBody(err: RestconfError): string {
  const error: Record<string, string> = { 'error-type': err.type, 'error-tag': err.tag };
  if (err.appTag) error['error-app-tag'] = err.appTag;
  if (err.path) error['error-path'] = err.path;
  error['error-message'] = err.message;
  return JSON.stringify({ 'ietf-restconf:errors': { error: [error] } });
}

export const errors = {
  malformed: (message: string, path?: string) => new RestconfError(400, 'protocol', 'malformed-message', message, undefined, path),
  invalidValue: (message: string, path?: string, status = 400) => new RestconfError(status, 'application', 'invalid-value', message, undefined, path),
  missingElement: (message: string, path?: string) => new RestconfError(400, 'application', 'missing-element', message, undefined, path),
  unknownWatcher: (path?: string, status = 404) =>
    new RestconfError(status, 'application', 'invalid-value', 'unknown or expired watcher id; get a new one with get-new-watcher-id', UNKNOWN_WATCHER_APP_TAG, path),
  notFound: (what: string) => new RestconfError(404, 'protocol', 'invalid-value', `no such resource: ${what}`),
  methodNotAllowed: (method: string, allow: readonly string[]) =>
    new RestconfError(405, 'protocol', 'operation-not-supported', `method ${method} is not allowed here; allowed: ${allow.join(', ')}`, undefined, undefined, { allow: allow.join(', ') }),
  unsupportedMedia: (got: string, want: string) =>
    new RestconfError(415, 'protocol', 'invalid-value', `unsupported content type "${got}"; send ${want}`),
  notAcceptable: (accept: string) =>
    new RestconfError(406, 'protocol', 'invalid-value', `cannot produce any of "${accept}"; this server answers application/yang-data+json`),
  tooBig: (limit: number) => new RestconfError(413, 'transport', 'too-big', `request body is larger than ${limit} bytes`),
  resourceDenied: (message: string, path?: string) => new RestconfError(409, 'application', 'resource-denied', message, undefined, path),
  accessDenied: (message: string) => new RestconfError(403, 'protocol', 'access-denied', message),
  operationFailed: (message: string, status = 500) => new RestconfError(status, 'application', 'operation-failed', message),
  unavailable: (message: string, retryAfterS?: number) =>
    new RestconfError(503, 'transport', 'resource-denied', message, undefined, undefined, retryAfterS !== undefined ? { 'retry-after': String(retryAfterS) } : undefined),
  /** A per-client limit refused the request (429 unless said otherwise), naming the limit and the flag that sets it. */
  limit: (limit: LimitName, message: string, retryAfterS?: number, status = 429) =>
    new RestconfError(status, 'application', 'resource-denied', `${message} (limit ${limit}, set by ${LIMIT_FLAGS[limit]})`, `ietf-mnat:${limit}`, undefined, retryAfterS !== undefined ? { 'retry-after': String(retryAfterS) } : undefined),
  /** A response that would be too large to produce (RFC 8040: too-big is 413). */
  responseTooBig: (message: string) => new RestconfError(413, 'application', 'too-big', message),
};
