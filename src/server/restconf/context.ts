// One RESTCONF request as the resources see it, and the method rules
// (405 with Allow; OPTIONS answered from the same list).
import type { RequestBody } from '../http/body.ts';
import type { AnyRequest, AnyResponse, PeerIdentity } from '../http/listener.ts';
import { errors } from '../http/restconf-error.ts';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface Ctx {
  req: AnyRequest;
  res: AnyResponse;
  method: string;
  path: string;
  /** The API root the request came in on: /restconf or an alias root. */
  root: string;
  /** An alias root: the prototype's quirks are accepted. */
  prototype: boolean;
  identity: PeerIdentity | null;
  /** The client certificate watchers are bound to (identity.owner). */
  owner: string | undefined;
  body: RequestBody;
}

/** 405 unless the method is allowed here (OPTIONS always is). */
export function allow(method: string, allowed: readonly Method[]): void {
  if (method === 'OPTIONS') return;
  if (!allowed.includes(method as Method)) throw errors.methodNotAllowed(method, [...allowed, 'OPTIONS']);
}
