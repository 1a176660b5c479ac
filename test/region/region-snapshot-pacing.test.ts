// The leader's routine snapshots are background work: after each chunk they
// wait as long as the chunk took, so the region's log writes go on meanwhile
// (bench/snapshot-pacing.bench.ts measures what that buys). A leader that
// stops finishes a snapshot being written without pausing, then leaves its
// own. Real etcd; the duty's clock and pauses are injected, so every chunk
// "takes" 50 ms and each pause is seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../src/host/host.ts';
import { EtcdClient } from '../../src/server/store/etcd-client.ts';
import type { RegionSnapshot } from '../../src/server/store/etcd-replica.ts';
import { CHUNK_BYTES, readHead } from '../../src/server/store/etcd-snapshot.ts';
import { SnapshotDuty } from '../../src/server/store/snapshot-duty.ts';
import { eventually } from '../server/helpers.ts';
import { startCluster } from './region-helpers.ts';

const PREFIX = '/mnat/pacing/';
const LOG_KEY = `${PREFIX}log`;

/** A snapshot at `revision` whose gzip'ed JSON is about 3.4 MB (random base64 hardly compresses): four chunks. */
function bulkySnapshot(revision: number): RegionSnapshot {
  const filler = Array.from({ length: 900 }, () => randomBytes(3750).toString('base64'));
  return { format: 'mnat-region-snapshot/1', revision, now: 0, homes: {}, state: { watchers: filler } as unknown as RegionSnapshot['state'] };
}

test('routine snapshots pause after every chunk but the last; a leader that stops finishes one unpaced and leaves its own', async (t) => {
  const cluster = await startCluster(t);
  const client = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX, timeoutMs: 15_000 });
  t.after(() => client.close());
  const problems: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m, f) => void problems.push(`${m} ${JSON.stringify(f)}`), error: (m, f) => void problems.push(`${m} ${JSON.stringify(f)}`) };
  let clock = 0;
  const pauses: number[] = [];
  let hold: Promise<void> | null = null;
  const duty = new SnapshotDuty({
    client,
    prefix: PREFIX,
    logKey: LOG_KEY,
    everyBytes: 1,
    log,
    now: () => (clock += 50), // each reading 50 ms after the one before: a chunk takes 50 ms
    countWrites: () => undefined,
    sleep: (ms) => {
      pauses.push(ms);
      return hold ?? Promise.resolve();
    },
  });
  const logged = async (): Promise<number> => (await client.put(LOG_KEY, 'entry')).revision;

  // A routine snapshot: a pause of the chunk's own time after each chunk but the last.
  const first = await logged();
  duty.applied(1);
  duty.maybeWrite(() => bulkySnapshot(first));
  await eventually(() => duty.revision === first, 20_000, 'first snapshot written');
  const { head } = await readHead(client, PREFIX);
  assert.ok(head && head.chunks >= 3 && head.bytes > 2 * CHUNK_BYTES, `a snapshot of several chunks (${head?.chunks})`);
  assert.deepEqual(pauses, Array(head.chunks - 1).fill(50));

  // The next one is held in its first pause when the leader stops.
  pauses.length = 0;
  let release!: () => void;
  hold = new Promise<void>((r) => (release = r));
  const second = await logged();
  duty.applied(1);
  duty.maybeWrite(() => bulkySnapshot(second));
  await eventually(() => pauses.length === 1, 20_000, 'second snapshot in its first pause');
  const third = await logged();
  const leaving = duty.beforeLeaving(third, () => bulkySnapshot(third));
  hold = null;
  release();
  await leaving;
  assert.deepEqual(pauses, [50], 'no pause once leaving, neither in the snapshot under way nor in the leaving one');
  assert.equal(duty.revision, third);
  assert.equal((await readHead(client, PREFIX)).head?.revision, third);
  assert.deepEqual(problems, []);
});
