// `mnat-server migrate --from-state-dir DIR --store etcd://…`: moves an
// embedded deployment (journal + snapshot) into an empty region in etcd
// without changing a mapping. The state becomes the region's first snapshot;
// the snapshot head and the region's config are written in one transaction
// that also checks the region is still empty, so a front end started at the
// same moment either sees the whole migrated state or makes the migration
// fail. Then the snapshot is read back and every watcher's assigned channels
// are compared with the source.
//
// The migrated watchers' home is "migrated", a front end that never runs: the
// region leader expires each one whose client does not refresh at a front end
// within the expiry window after the region starts (as a restarted embedded
// server gives every watcher a fresh window).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, formatUsage, parseArgs, type FlagSpec } from '../core/cli-args.ts';
import type { Logger } from '../host/host.ts';
import { FLAGS, loadPool, parseRegionFlags, QUOTA_FLAG_NAMES, quotaOptions } from './options.ts';
import { EtcdClient, type EtcdTls } from './store/etcd-client.ts';
import type { EtcdAuth } from './store/etcd-auth.ts';
import { canonicalJson, configKey, RegionConfigError } from './store/etcd-region.ts';
import { RegionReplica, type RegionConfig, type RegionSnapshot } from './store/etcd-replica.ts';
import { headKey, readHead, readSnapshot, writeSnapshot } from './store/etcd-snapshot.ts';
import { openEmbeddedStore } from './store/embedded-store.ts';
import { CLOSED_JOURNAL, JOURNAL, SNAPSHOT } from './store/journal-format.ts';
import type { Pool } from './state/pool.ts';

/** The home of migrated watchers until a front end claims them. */
export const MIGRATED_HOME = 'migrated';

const SHARED = ['store', 'etcd-cacert', 'etcd-cert', 'etcd-key', 'etcd-user', 'etcd-password-file', 'pool', 'refresh-period', 'grace-period', 'max-joins-per-watcher', ...QUOTA_FLAG_NAMES, 'log-level'];

const MIGRATE_FLAGS: FlagSpec[] = [
  { name: 'from-state-dir', kind: 'string', value: 'DIR', help: 'the embedded server\'s --state-dir (stop that server first)' },
  ...FLAGS.filter((f) => SHARED.includes(f.name)),
];

export function migrateUsage(): string {
  return formatUsage(
    'mnat-server migrate',
    'Moves an embedded deployment\'s state (--state-dir) into an empty region in etcd, mappings unchanged.\nGive the same --pool, periods and quotas the region\'s front ends will use. See docs/region.md.',
    MIGRATE_FLAGS,
  );
}

export interface MigrateOptions {
  stateDir: string;
  endpoints: string[];
  prefix: string;
  region: string;
  tls: EtcdTls | undefined;
  auth: EtcdAuth | undefined;
  config: RegionConfig;
  pool: Pool;
  logLevel: string;
}

export function parseMigrateOptions(argv: readonly string[]): MigrateOptions | 'help' {
  const args = parseArgs(argv, MIGRATE_FLAGS);
  if (args.help) return 'help';
  if (args.positionals.length > 0) throw new CliError(`unexpected argument "${args.positionals[0]}" (see mnat-server migrate --help)`);
  const stateDir = args.string('from-state-dir');
  if (!stateDir) throw new CliError('--from-state-dir DIR is required (the embedded server\'s state directory)');
  const region = parseRegionFlags(args);
  if (!region) throw new CliError('--store etcd://HOST:PORT[,…][/REGION] is required (where the region lives)');
  // Opening a directory without state would create it and migrate an empty region "successfully".
  if (![SNAPSHOT, JOURNAL, CLOSED_JOURNAL].some((name) => existsSync(join(stateDir, name)))) {
    throw new CliError(`--from-state-dir ${stateDir}: no mnat-server state there (no ${SNAPSHOT} or ${JOURNAL}); give the embedded server's --state-dir`);
  }
  const pool = loadPool(args.string('pool'));
  return {
    stateDir,
    endpoints: region.location.endpoints,
    prefix: region.location.prefix,
    region: region.location.region,
    tls: region.tls,
    auth: region.auth,
    pool: pool.pool,
    config: {
      format: 'mnat-region-config/1',
      pool: pool.json,
      refreshPeriodS: args.number('refresh-period') as number,
      gracePeriodS: args.number('grace-period') as number,
      maxJoinsPerWatcher: args.number('max-joins-per-watcher') as number,
      quotas: quotaOptions(args),
    },
    logLevel: args.string('log-level') as string,
  };
}

export interface MigrateResult {
  watchers: number;
  channels: number;
  revision: number;
  bytes: number;
}

/** Runs the migration; throws RegionConfigError when the region is not empty, and on any mismatch after reading back. */
export async function migrate(options: MigrateOptions, log: Logger): Promise<MigrateResult> {
  const source = openEmbeddedStore({
    state: { pool: options.pool, refreshPeriodS: options.config.refreshPeriodS, gracePeriodS: options.config.gracePeriodS, maxJoinsPerWatcher: options.config.maxJoinsPerWatcher, ...options.config.quotas },
    dir: options.stateDir,
    log,
    nowMs: Date.now(),
  });
  const client = new EtcdClient({ endpoints: options.endpoints, ...(options.tls ? { tls: options.tls } : {}), ...(options.auth ? { auth: options.auth } : {}), keyPrefix: options.prefix, timeoutMs: 10_000 });
  try {
    const state = source.snapshot();
    const existing = await client.range(options.prefix, { prefix: true, countOnly: true });
    if (existing.count > 0) {
      throw new RegionConfigError(`region "${options.region}" (${options.prefix} in etcd) already holds ${existing.count} keys; migrate only into an empty region (or pick another: etcd://…/OTHER)`);
    }
    const snapshot: RegionSnapshot = {
      format: 'mnat-region-snapshot/1',
      revision: existing.revision,
      now: Date.now(),
      state,
      homes: state.watchers.length > 0 ? { [MIGRATED_HOME]: state.watchers.map((w) => w.id) } : {},
      logVersion: 0, // an empty region: nothing logged yet
    };
    const written = await writeSnapshot(client, options.prefix, snapshot, 0, {
      also: {
        compare: [{ key: configKey(options.prefix), target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
        put: [{ put: { key: configKey(options.prefix), value: JSON.stringify(options.config) } }],
      },
    });
    if (!written) throw new RegionConfigError(`region "${options.region}" was started while migrating (${configKey(options.prefix)} or ${headKey(options.prefix)} appeared); nothing was migrated`);

    // Read it back as a front end would, and compare every watcher.
    const { head } = await readHead(client, options.prefix);
    if (!head) throw new Error('the snapshot head vanished after writing');
    const replica = new RegionReplica(options.config, await readSnapshot(client, options.prefix, head));
    if (canonicalJson(replica.state.snapshot()) !== canonicalJson(state)) {
      throw new Error('the region state read back from etcd differs from the state directory\'s; the region is left as written for inspection');
    }
    for (const w of state.watchers) {
      const a = JSON.stringify(source.assignedChannels(w.id));
      const b = JSON.stringify(replica.state.assignedChannels(w.id));
      if (a !== b) throw new Error(`watcher ${w.id.slice(0, 4)}…: assigned channels differ after migration`);
    }
    return { watchers: state.watchers.length, channels: state.channels.length, revision: head.revision, bytes: head.bytes };
  } finally {
    client.close();
    await source.close();
  }
}
