// Failures of the layers below, as RESTCONF errors (RFC 8040 §7).
import { CodecError } from '../../protocol/ietf-mnat-codec.ts';
import { errors, RestconfError } from '../http/restconf-error.ts';
import { MnatError } from '../state/state-types.ts';
import { StoreDurabilityError, StoreUnavailableError } from '../store/store.ts';

/** A refusal of the state machine; on a data resource an unknown watcher is 404, in operation input 400. */
export function mnatToRestconf(err: MnatError, dataResource: boolean): RestconfError {
  switch (err.kind) {
    case 'unknown-watcher':
      return errors.unknownWatcher(err.path, dataResource ? 404 : 400);
    case 'too-many-joins':
      return errors.resourceDenied(err.message, err.path);
    default:
      return errors.invalidValue(err.message, err.path);
  }
}

function codecToRestconf(err: CodecError): RestconfError {
  const type = err.tag === 'malformed-message' ? 'protocol' : 'application';
  return new RestconfError(400, type, err.tag, err.message, undefined, err.path);
}

/** The RESTCONF error for a known kind of failure; null for a bug (log it, answer 500). */
export function toRestconfError(err: unknown): RestconfError | null {
  if (err instanceof RestconfError) return err;
  if (err instanceof CodecError) return codecToRestconf(err);
  if (err instanceof MnatError) return mnatToRestconf(err, false);
  if (err instanceof StoreDurabilityError) return errors.operationFailed(`state could not be stored durably: ${err.message}`, 500);
  if (err instanceof StoreUnavailableError) return new RestconfError(503, 'transport', 'resource-denied', err.message, undefined, undefined, { 'retry-after': '2' });
  return null;
}
