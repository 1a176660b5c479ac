// The input of the yang-push operations (RFC 8639, RFC 8641): which one
// watcher's assigned-channels an establish-subscription selects, and the id a
// delete-subscription names. Module-qualified and bare member names are both
// taken, as RFC 7951 allows. Options the server does not implement are
// refused by name rather than ignored, so a client never believes it got them.
import { errors, RestconfError } from '../http/restconf-error.ts';

export const SN = 'ietf-subscribed-notifications';
const YP = 'ietf-yang-push';

function member(obj: Record<string, unknown>, local: string, module: string): unknown {
  if (local in obj) return obj[local];
  return obj[`${module}:${local}`];
}

function invalidValue(message: string, path: string, appTag?: string): RestconfError {
  return new RestconfError(400, 'application', 'invalid-value', message, appTag, path);
}

/** establish-subscription input → the one watcher id its filter selects. nowMs: the wall clock, for stop-time. */
export function parseEstablishInput(body: unknown, nowMs = Date.now()): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.malformed('establish-subscription input must be a JSON object');
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== `${SN}:input`) throw invalidValue(`expected {"${SN}:input":{…}}`, '/');
  const input = (body as Record<string, unknown>)[`${SN}:input`];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalidValue('input must be an object', `/${SN}:input`);
  const inp = input as Record<string, unknown>;
  const p = `/${SN}:input`;
  const allowedKeys = new Set([
    `${YP}:datastore`, 'datastore',
    `${YP}:datastore-xpath-filter`, 'datastore-xpath-filter',
    `${YP}:datastore-subtree-filter`, 'datastore-subtree-filter',
    `${YP}:on-change`, 'on-change',
    'encoding', `${SN}:encoding`, 'stop-time', `${SN}:stop-time`,
  ]);
  for (const k of Object.keys(inp)) {
    if (k === `${YP}:periodic` || k === 'periodic') throw invalidValue('only on-change subscriptions are offered', `${p}/${k}`, `${YP}:period-unsupported`);
    if (k === 'stream' || k === `${SN}:stream`) throw invalidValue('event streams are not offered; subscribe to the operational datastore', `${p}/${k}`, `${SN}:stream-unavailable`);
    if (!allowedKeys.has(k)) throw new RestconfError(400, 'application', 'unknown-element', `unexpected member "${k}"`, undefined, `${p}/${k}`);
  }
  const datastore = member(inp, 'datastore', YP);
  if (datastore !== 'ietf-datastores:operational') throw invalidValue('datastore must be "ietf-datastores:operational"', `${p}/${YP}:datastore`);
  const encoding = member(inp, 'encoding', SN);
  if (encoding !== undefined && encoding !== `${SN}:encode-json` && encoding !== 'encode-json') {
    throw invalidValue('only encode-json is offered', `${p}/encoding`, `${SN}:encoding-unsupported`);
  }
  checkStopTime(member(inp, 'stop-time', SN), nowMs, `${p}/stop-time`);
  const onChange = member(inp, 'on-change', YP);
  if (typeof onChange !== 'object' || onChange === null || Array.isArray(onChange)) {
    throw invalidValue('an on-change subscription ({"ietf-yang-push:on-change":{}}) is required', `${p}/${YP}:on-change`, `${YP}:on-change-unsupported`);
  }
  checkOnChange(onChange as Record<string, unknown>, `${p}/${YP}:on-change`);
  const xpath = member(inp, 'datastore-xpath-filter', YP);
  const subtree = member(inp, 'datastore-subtree-filter', YP);
  if ((xpath === undefined) === (subtree === undefined)) {
    throw invalidValue('give exactly one of datastore-xpath-filter and datastore-subtree-filter selecting one watcher of ietf-mnat:assigned-channels', p);
  }
  if (xpath !== undefined) {
    const m = typeof xpath === 'string'
      ? /^\s*\/ietf-mnat:assigned-channels\/(?:ietf-mnat:)?watcher\s*\[\s*(?:ietf-mnat:)?id\s*=\s*(?:'([^']*)'|"([^"]*)")\s*\]\s*$/.exec(xpath)
      : null;
    if (!m) throw invalidValue(`xpath filter must be /ietf-mnat:assigned-channels/watcher[id='WATCHER-ID']`, `${p}/${YP}:datastore-xpath-filter`);
    return (m[1] ?? m[2]) as string;
  }
  const tree = subtree as Record<string, unknown>;
  const ac = typeof tree === 'object' && tree !== null && !Array.isArray(tree) ? tree['ietf-mnat:assigned-channels'] : undefined;
  let watcher = typeof ac === 'object' && ac !== null ? (ac as Record<string, unknown>).watcher : undefined;
  if (Array.isArray(watcher)) watcher = watcher.length === 1 ? watcher[0] : undefined;
  const id = typeof watcher === 'object' && watcher !== null ? (watcher as Record<string, unknown>).id : undefined;
  if (typeof id !== 'string' || id === '') {
    throw invalidValue('subtree filter must be {"ietf-mnat:assigned-channels":{"watcher":[{"id":"WATCHER-ID"}]}}', `${p}/${YP}:datastore-subtree-filter`);
  }
  return id;
}

const DATE_AND_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * RFC 8639: a stop-time must lie in the future, and the subscription ends at
 * it. Ending subscriptions at a time is not implemented, so any stop-time is
 * refused; a past one with the error the RFC calls for.
 */
function checkStopTime(stop: unknown, nowMs: number, path: string): void {
  if (stop === undefined) return;
  const ms = typeof stop === 'string' && DATE_AND_TIME.test(stop) ? Date.parse(stop) : NaN;
  if (Number.isNaN(ms)) throw invalidValue('stop-time must be a date-and-time such as "2030-01-01T00:00:00Z"', path);
  if (ms <= nowMs) throw invalidValue(`stop-time ${stop} is not in the future`, path);
  throw invalidValue('stop-time is not supported: a subscription lasts until delete-subscription, its stream closes or its watcher expires', path);
}

/**
 * The on-change parameters of RFC 8641. The server sends every change at once
 * (no dampening), always starts with a full push-update, and excludes no
 * change type: the defaults are accepted, anything else refused by name.
 */
function checkOnChange(onChange: Record<string, unknown>, path: string): void {
  for (const k of Object.keys(onChange)) {
    const at = `${path}/${k}`;
    const value = onChange[k];
    switch (k.startsWith(`${YP}:`) ? k.slice(YP.length + 1) : k) {
      case 'dampening-period':
        if (value !== 0) throw invalidValue('dampening-period is not supported: every change is sent at once (only 0 is accepted)', at);
        break;
      case 'sync-on-start':
        if (value !== true) throw invalidValue('sync-on-start false is not supported: every subscription starts with a full push-update', at);
        break;
      case 'excluded-change':
        if (!Array.isArray(value) || value.length > 0) throw invalidValue('excluded-change is not supported: every kind of change is sent', at, `${YP}:cant-exclude`);
        break;
      default:
        throw new RestconfError(400, 'application', 'unknown-element', `unexpected member "${k}" of on-change`, undefined, at);
    }
  }
}

export function parseSubscriptionIdInput(body: unknown): number {
  const input = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[`${SN}:input`] : undefined;
  const id = typeof input === 'object' && input !== null ? (input as Record<string, unknown>).id : undefined;
  const n = typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RestconfError(400, 'application', 'invalid-value', 'expected {"ietf-subscribed-notifications:input":{"id":N}} with a uint32 id', undefined, `/${SN}:input/id`);
  }
  return n;
}
