// The region's fixed records in etcd: where it lives (the etcd:// URL), the
// settings every front end must share (replicas agree only if they apply the
// log with the same pool and limits), and the registration of a front end.
import { EtcdClient } from './etcd-client.ts';
import type { RegionConfig } from './etcd-replica.ts';
import type { QuotaOptions } from '../state/state-types.ts';

/** The region's settings in etcd differ from this front end's, or the region is not what was expected. */
export class RegionConfigError extends Error {
  override name = 'RegionConfigError';
}

export interface EtcdLocation {
  endpoints: string[];
  /** Key prefix, "/mnat/<region>/". */
  prefix: string;
  region: string;
}

/** etcd://HOST:PORT[,HOST:PORT…][/REGION] → endpoints and key prefix (region "default"). */
export function parseEtcdUrl(url: string): EtcdLocation {
  const m = /^etcd:\/\/([^/]+)(?:\/([A-Za-z0-9._-]*))?\/?$/.exec(url);
  if (!m) throw new Error(`"${url}" is not etcd://HOST:PORT[,HOST:PORT…][/REGION]`);
  const endpoints = (m[1] as string).split(',').map((e) => e.trim());
  for (const e of endpoints) {
    const hp = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(e);
    if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) throw new Error(`"${e}" in ${url} is not HOST:PORT`);
  }
  const region = m[2] || 'default';
  return { endpoints, prefix: `/mnat/${region}/`, region };
}

export const configKey = (prefix: string): string => `${prefix}config`;
export const memberKey = (prefix: string, id: string): string => `${prefix}members/${id}`;

/** JSON with object keys sorted, so equal settings compare equal whatever the file's key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The quota settings a region shares, and their flags (absent compares as 0: off). */
const QUOTA_FLAGS: Array<[keyof QuotaOptions, string]> = [
  ['maxWatchersPerAddress', 'max-watchers-per-address'],
  ['maxWatchersPerOwner', 'max-watchers-per-certificate'],
  ['newWatchersPerMinute', 'new-watchers-per-minute'],
  ['newWatcherBurst', 'new-watcher-burst'],
];

/** What differs between two configs, for the refusal message. */
function differences(mine: RegionConfig, theirs: RegionConfig): string[] {
  const out: string[] = [];
  if (canonicalJson(mine.pool) !== canonicalJson(theirs.pool)) out.push('--pool');
  if (mine.refreshPeriodS !== theirs.refreshPeriodS) out.push(`--refresh-period (region: ${theirs.refreshPeriodS}, here: ${mine.refreshPeriodS})`);
  if (mine.gracePeriodS !== theirs.gracePeriodS) out.push(`--grace-period (region: ${theirs.gracePeriodS}, here: ${mine.gracePeriodS})`);
  if (mine.maxJoinsPerWatcher !== theirs.maxJoinsPerWatcher) out.push(`--max-joins-per-watcher (region: ${theirs.maxJoinsPerWatcher}, here: ${mine.maxJoinsPerWatcher})`);
  for (const [key, flag] of QUOTA_FLAGS) {
    const a = mine.quotas?.[key] ?? 0;
    const b = theirs.quotas?.[key] ?? 0;
    if (a !== b) out.push(`--${flag} (region: ${b}, here: ${a})`);
  }
  return out;
}

/** Stores the config if the region is new; otherwise checks that this front end's settings are the region's. */
export async function ensureRegionConfig(client: EtcdClient, prefix: string, config: RegionConfig): Promise<'created' | 'matches'> {
  const key = configKey(prefix);
  const txn = await client.txn(
    [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
    [{ put: { key, value: JSON.stringify(config) } }],
    [{ range: { key } }],
  );
  if (txn.succeeded) return 'created';
  const kv = EtcdClient.txnRangeKvs(txn.responses[0])[0];
  if (!kv) throw new RegionConfigError(`${key} vanished while being read; start again`);
  const theirs = JSON.parse(kv.value.toString('utf8')) as RegionConfig;
  if (theirs.format !== config.format) throw new RegionConfigError(`${key} holds ${JSON.stringify(theirs.format)}, this mnat-server speaks ${config.format}`);
  const diff = differences(config, theirs);
  if (diff.length > 0) {
    throw new RegionConfigError(
      `this front end's settings differ from the region's (${key}): ${diff.join(', ')}; every front end of a region must use the same pool, periods and per-client quotas (they all apply the same log)`,
    );
  }
  return 'matches';
}

/**
 * Registers the front end under a new lease. An id held by another live front
 * end is refused; one still held by this id's previous process (killed, its
 * lease not yet expired) is waited for, up to one lease time. One made by this
 * process (`info.instance`) in an attempt whose answer was lost (etcd slow)
 * is ended at once. Returns the lease id and the registration's revision.
 */
export async function registerMember(
  client: EtcdClient,
  prefix: string,
  id: string,
  ttlS: number,
  info: { instance: string } & Record<string, unknown>,
  onWaiting?: (key: string) => void,
): Promise<{ leaseId: string; revision: number }> {
  const key = memberKey(prefix, id);
  let waiting = false;
  const deadline = performance.now() + (ttlS + 2) * 1000;
  for (;;) {
    const lease = await client.leaseGrant(ttlS);
    const txn = await client.txn(
      [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
      [{ put: { key, value: JSON.stringify({ id, ...info }), lease: lease.id } }],
    );
    if (txn.succeeded) return { leaseId: lease.id, revision: txn.revision };
    await client.leaseRevoke(lease.id).catch(() => undefined);
    const held = await client.get(key);
    const ours = held !== null && instanceOf(held.value) === info.instance;
    if (ours) await client.leaseRevoke(held.lease).catch(() => undefined);
    if (performance.now() > deadline) {
      throw new RegionConfigError(`front end id "${id}" is registered by a live front end (${key}); give each front end its own --frontend-id`);
    }
    if (ours) continue;
    if (!waiting) onWaiting?.(key);
    waiting = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The `instance` a registration's value names (none: written by something else). */
function instanceOf(value: Buffer): unknown {
  try {
    return (JSON.parse(value.toString('utf8')) as { instance?: unknown }).instance;
  } catch {
    return undefined;
  }
}
