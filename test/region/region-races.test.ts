// The front end's probe (a quorum read of the log key, every second) also
// tells whether etcd's history went back: etcd answering with a revision
// older than what was applied. Under load the log watch applies entries
// while the read is under way, so its answer can be older than what is
// applied by then without etcd going back: that is no reason to load the
// region again (found by bench/region-scale.bench.ts, where front end B
// reloaded three times while the watchers were being made). Also: a leader
// that stops keeps its lease alive while it writes its leaving snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/host/host.ts';
import type { EtcdClient, RangeOptions } from '../../src/server/store/etcd-client.ts';
import type { RegionConfig } from '../../src/server/store/etcd-replica.ts';
import { openEtcdStore } from '../../src/server/store/etcd-store.ts';
import { eventually } from '../server/helpers.ts';
import { startCluster } from './region-helpers.ts';

const CONFIG: RegionConfig = {
  format: 'mnat-region-config/1',
  pool: { 'group-pool': { ranges: [{ 'group-range': '232.0.0.0/8', 'source-range': 'keep' }] } },
  refreshPeriodS: 10,
  gracePeriodS: 0,
  maxJoinsPerWatcher: 8,
};

test('a probe answered before newer entries were applied is not etcd going back', async (t) => {
  const cluster = await startCluster(t);
  const errors: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (m) => void errors.push(m) };
  const store = await openEtcdStore({ endpoints: cluster.endpoints, prefix: '/mnat/probe/', frontendId: 'fa', config: CONFIG, log });
  t.after(() => store.close());
  await store.createWatcher({ id: 'first', at: Date.now() });

  // Every probe's answer is held until a change made after etcd answered has been applied here.
  const client = (store as unknown as { client: EtcdClient }).client;
  const range = client.range.bind(client);
  let held = 0;
  client.range = async (key: string, options: RangeOptions = {}) => {
    const res = await range(key, options);
    if (key === '/mnat/probe/log' && options.keysOnly && held < 3) {
      held++;
      await store.createWatcher({ id: `late-${held}`, at: Date.now() }); // resolves once applied from the log
      assert.ok(store.regionStats().appliedRevision > res.revision);
    }
    return res;
  };
  await eventually(() => held === 3 && store.hasWatcher('late-3'), 15_000, 'three probes answered late');
  await store.createWatcher({ id: 'after', at: Date.now() });
  assert.deepEqual(errors, [], 'no reload');
  assert.ok(store.hasWatcher('first') && store.hasWatcher('late-1') && store.hasWatcher('after'));
});

test('a leader that stops keeps its registration while it writes the leaving snapshot', async (t) => {
  const cluster = await startCluster(t);
  const warnings: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
  const store = await openEtcdStore({ endpoints: cluster.endpoints, prefix: '/mnat/leaving/', frontendId: 'fa', config: CONFIG, log, leaseTtlS: 2 });
  t.after(() => store.close());
  await store.createWatcher({ id: 'w', at: Date.now() });
  await eventually(() => store.regionStats().regionLeader === 'fa', 5000, 'fa leads');
  // The snapshot's chunks are written slowly, as a large snapshot's are: longer than the lease.
  const client = (store as unknown as { client: EtcdClient }).client;
  const put = client.put.bind(client);
  client.put = async (key: string, value: string | Buffer, options?: { lease?: string; timeoutMs?: number }) => {
    if (key.includes('/snapshot/')) await new Promise((r) => setTimeout(r, 4000));
    return put(key, value, options);
  };
  await store.close();
  assert.ok(store.regionStats().snapshotRevision > 0, 'the leaving snapshot was written');
  assert.deepEqual(warnings, [], 'the lease did not lapse');
});
