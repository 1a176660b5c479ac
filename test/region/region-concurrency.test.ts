// 1 000 concurrent joins for distinct channels through two front ends on a
// pool of 124 groups: every local group is given to at most one channel at a
// time region-wide, both front ends answer the same mappings, the pool is
// exhausted with the rest waiting, and when joins leave (grace 0) the waiting
// channels are served oldest first, still unique.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { joinsBody, newWatcher, req, tempDir } from '../server/helpers.ts';
import { joinedPath, mappings, startCluster, startFrontEnd, type FrontEnd } from './region-helpers.ts';

const POOL = { 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/25', exclude: [{ 'groupex-range': '232.255.0.0/30' }], 'source-range': 'keep' }] } };
const POOL_SIZE = 124;
const N = 1000;

interface Row {
  fe: FrontEnd;
  id: string;
  group: string;
}

async function all<T>(items: T[], fn: (item: T) => Promise<void>, width = 200): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

/** Every watcher's single mapped-sg as both front ends answer it (they must agree). */
async function snapshotOf(rows: Row[], fronts: FrontEnd[]): Promise<Array<{ id: number; state: string; local: string | null }>> {
  const out: Array<{ id: number; state: string; local: string | null }> = new Array(rows.length);
  await all(rows.map((r, i) => [r, i] as const), async ([r, i]) => {
    const seen = await Promise.all(fronts.map((fe) => mappings(fe, r.id)));
    assert.deepEqual(seen[1], seen[0], `watcher ${i}: both front ends answer the same`);
    const m = seen[0]![0];
    assert.ok(m, `watcher ${i} has its channel`);
    assert.equal(m['global-subscription'].group, r.group);
    out[i] = { id: m.id, state: m.state, local: m['local-mapping'] ? `${m['local-mapping'].source},${m['local-mapping'].group}` : null };
  });
  return out;
}

function checkUnique(rows: Array<{ local: string | null }>): number {
  const locals = rows.map((r) => r.local).filter((l): l is string => l !== null);
  assert.equal(new Set(locals.map((l) => l.split(',')[1])).size, locals.length, 'no local group is given to two channels');
  return locals.length;
}

test('1 000 concurrent joins through two front ends on a small pool: unique mappings, exhaustion, recovery oldest first', async (t) => {
  const cluster = await startCluster(t);
  const dir = tempDir(t);
  const poolFile = join(dir, 'pool.json');
  writeFileSync(poolFile, JSON.stringify(POOL));
  const flags = ['--pool', poolFile, '--grace-period', '0'];
  const fronts = [await startFrontEnd(t, cluster, 'fa', flags), await startFrontEnd(t, cluster, 'fb', flags)];

  const rows: Row[] = [];
  for (let i = 0; i < N; i++) rows.push({ fe: fronts[i % 2] as FrontEnd, id: '', group: `232.${10 + Math.floor(i / 250)}.${i % 250}.1` });
  await all(rows, async (r) => {
    r.id = await newWatcher(r.fe.http);
  });
  // All the PUTs at once, half through each front end.
  const started = Date.now();
  await Promise.all(
    rows.map(async (r) => {
      const res = await req(r.fe.http, 'PUT', joinedPath(r.id), joinsBody(r.id, [['198.51.100.7', r.group]]));
      assert.equal(res.status, 201, res.body);
    }),
  );
  t.diagnostic(`${N} concurrent PUTs through 2 front ends: ${Date.now() - started} ms`);

  const before = await snapshotOf(rows, fronts);
  assert.equal(checkUnique(before), POOL_SIZE, 'the pool is exhausted');
  assert.equal(before.filter((r) => r.state === 'ietf-mnat:unassigned').length, N - POOL_SIZE);
  assert.equal(new Set(before.map((r) => r.id)).size, N, 'assignment ids are unique');

  // 100 assigned channels leave (through both front ends at once): the oldest waiting ones take their place.
  const leaving = before.map((r, i) => [r, i] as const).filter(([r]) => r.local !== null).slice(0, 100).map(([, i]) => i);
  await Promise.all(leaving.map(async (i) => assert.equal((await req(rows[i]!.fe.http, 'DELETE', joinedPath(rows[i]!.id))).status, 204)));
  const staying = rows.map((r, i) => ({ r, i, b: before[i]! })).filter(({ i }) => !leaving.includes(i));
  // The front ends apply the leaves as the log delivers them; wait until the pool is full again on both.
  const end = Date.now() + 10_000;
  let after: Awaited<ReturnType<typeof snapshotOf>>;
  for (;;) {
    after = await snapshotOf(staying.map((s) => s.r), fronts);
    if (after.filter((r) => r.local !== null).length === POOL_SIZE || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(checkUnique(after), POOL_SIZE, 'the freed groups are all given again');
  staying.forEach(({ b }, k) => {
    if (b.local !== null) assert.equal(after[k]!.local, b.local, 'a channel that kept its joins kept its mapping');
  });
  const served = after.filter((r, k) => r.local !== null && staying[k]!.b.local === null).map((r) => r.id);
  const waiting = after.filter((r) => r.local === null).map((r) => r.id);
  assert.equal(served.length, 100);
  assert.ok(Math.max(...served) < Math.min(...waiting), 'waiting channels are served oldest first, region-wide');
});
