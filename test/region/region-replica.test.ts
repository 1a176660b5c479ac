// The replicated state of a region without etcd: replicas that apply the same
// log entries agree exactly (pool randomness from the log, time from the
// intents), a replica restored from a snapshot and fed the tail agrees with
// one that applied everything, expiries are conditional on the home, claims
// move homes, and the replica never expires on its own clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegionReplica, type LogEntry, type RegionConfig } from '../../src/server/store/etcd-replica.ts';
import { LivenessTable } from '../../src/server/store/etcd-liveness.ts';
import { MnatError } from '../../src/server/state/state-types.ts';
import { canonicalJson, parseEtcdUrl } from '../../src/server/store/etcd-region.ts';

const CONFIG: RegionConfig = {
  format: 'mnat-region-config/1',
  pool: { 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/24', 'source-range': '10.9.0.0/24' }, { 'group-range': 'ff35::a:0/112', 'source-range': 'keep' }] } },
  refreshPeriodS: 10,
  gracePeriodS: 5,
  maxJoinsPerWatcher: 8,
};

const join = (id: string, i: number, group: string, source = '192.0.2.1') => ({ id: String(i), channel: { source, group } });

/** A log of many creates, joins, leaves and ticks from two front ends, with times that go back and forth (clock skew). */
function makeLog(): Array<[number, LogEntry]> {
  const log: Array<[number, LogEntry]> = [];
  let rev = 10;
  const at = (i: number) => 1_000_000 + i * 100 + (i % 3 === 0 ? -250 : 0);
  for (let i = 0; i < 60; i++) {
    const from = i % 2 ? 'fa' : 'fb';
    log.push([rev++, { from, seq: i, intents: [{ op: 'create-watcher', id: `w${i}`, at: at(i) }] }]);
    const joins = [join(`w${i}`, 0, `232.1.${i % 7}.1`), join(`w${i}`, 1, `ff3e::${(i % 5) + 1}`, '2001:db8::1')];
    log.push([rev++, { from, seq: 1000 + i, intents: [{ op: 'set-joins', id: `w${i}`, joins, at: at(i) + 10 }] }]);
    if (i % 4 === 3) log.push([rev++, { from, intents: [{ op: 'delete-joins', id: `w${i - 2}`, at: at(i) + 20 }, { op: 'tick', at: at(i) + 6000 }] }]);
  }
  log.push([rev++, { from: 'fa', intents: [{ op: 'set-monitors', id: 'w0', monitors: [{ id: 'm', globalSourcePrefix: '192.0.2.0/24' }], at: 2_000_000 }] }]);
  return log;
}

test('replicas applying the same log agree exactly, whatever order of arrival, and refusals are the same everywhere', () => {
  const a = new RegionReplica(CONFIG);
  const b = new RegionReplica(CONFIG);
  const log = makeLog();
  const resultsA = log.map(([rev, e]) => a.apply(rev, e));
  // b sees every entry twice (a watch that resumed): the second time is ignored.
  const resultsB = log.map(([rev, e]) => {
    const r = b.apply(rev, e);
    assert.deepEqual(b.apply(rev, e), [], 'an entry at or below the applied revision is ignored');
    return r;
  });
  assert.equal(canonicalJson(a.snapshot()), canonicalJson(b.snapshot()));
  assert.deepEqual(resultsA.map((r) => r.map((x) => (x === null ? 'ok' : (x as MnatError).kind))), resultsB.map((r) => r.map((x) => (x === null ? 'ok' : (x as MnatError).kind))));
  // w0 had joins: monitors are refused (wrong role) on both.
  const last = resultsA[resultsA.length - 1] as unknown[];
  assert.ok(last[0] instanceof MnatError && (last[0] as MnatError).kind === 'wrong-role');
  const mapped = a.state.channels().filter((c) => c.local !== null);
  assert.ok(mapped.length > 5, 'mappings were assigned');
  assert.equal(new Set(mapped.map((c) => JSON.stringify(c.local))).size, mapped.length, 'every local mapping is unique');
});

test('the pool draws differ by log position: the mappings are not all the same first draw', () => {
  const r = new RegionReplica(CONFIG);
  r.apply(1, { from: 'f', intents: [{ op: 'create-watcher', id: 'x', at: 1 }, { op: 'create-watcher', id: 'y', at: 1 }] });
  r.apply(2, { from: 'f', intents: [{ op: 'set-joins', id: 'x', joins: [join('x', 0, '232.1.1.1')], at: 2 }] });
  r.apply(3, { from: 'f', intents: [{ op: 'set-joins', id: 'y', joins: [join('y', 0, '232.1.1.2')], at: 2 }] });
  const r2 = new RegionReplica(CONFIG);
  r2.apply(1, { from: 'f', intents: [{ op: 'create-watcher', id: 'x', at: 1 }, { op: 'create-watcher', id: 'y', at: 1 }] });
  r2.apply(7, { from: 'f', intents: [{ op: 'set-joins', id: 'x', joins: [join('x', 0, '232.1.1.1')], at: 2 }] });
  const lx = r.state.assignedChannels('x')[0]?.local;
  const ly = r.state.assignedChannels('y')[0]?.local;
  assert.notDeepEqual(lx, ly);
  assert.notDeepEqual(r2.state.assignedChannels('x')[0]?.local, lx, 'another revision draws another mapping (seeded by position)');
});

test('a replica restored from a snapshot and fed the tail equals one that applied the whole log', () => {
  const log = makeLog();
  const full = new RegionReplica(CONFIG);
  const half = new RegionReplica(CONFIG);
  const cut = Math.floor(log.length / 2);
  for (const [rev, e] of log) full.apply(rev, e);
  for (const [rev, e] of log.slice(0, cut)) half.apply(rev, e);
  const snap = JSON.parse(JSON.stringify(half.snapshot()));
  const restored = new RegionReplica(CONFIG, snap);
  assert.equal(restored.revision, (log[cut - 1] as [number, LogEntry])[0]);
  for (const [rev, e] of log) restored.apply(rev, e); // the head part is ignored by revision
  assert.equal(canonicalJson(restored.snapshot()), canonicalJson(full.snapshot()));
  for (let i = 0; i < 60; i++) {
    if (!full.state.hasWatcher(`w${i}`)) continue;
    assert.deepEqual(restored.state.assignedChannels(`w${i}`), full.state.assignedChannels(`w${i}`));
  }
});

test('homes: creators are homes, claims move them, an expiry removes only watchers still homed where it says', () => {
  const r = new RegionReplica(CONFIG);
  const moves: Array<[string, string | null]> = [];
  r.onHomeChanged((id, home) => moves.push([id, home]));
  r.apply(1, { from: 'fa', intents: [{ op: 'create-watcher', id: 'a1', at: 1 }, { op: 'create-watcher', id: 'a2', at: 1 }] });
  r.apply(2, { from: 'fb', claims: ['a2', 'nobody'] });
  assert.equal(r.homeOf('a1'), 'fa');
  assert.equal(r.homeOf('a2'), 'fb');
  assert.deepEqual(Object.fromEntries(r.homeSizes()), { fa: 1, fb: 1 });
  // fa expires both (it wrote the expiry before it saw the claim): only a1 goes.
  r.apply(3, { from: 'fa', expire: [{ home: 'fa', ids: ['a1', 'a2'], at: 50_000 }] });
  assert.equal(r.state.hasWatcher('a1'), false);
  assert.equal(r.state.hasWatcher('a2'), true);
  assert.deepEqual(moves, [['a1', 'fa'], ['a2', 'fa'], ['a2', 'fb'], ['a1', null]]);
  assert.deepEqual(r.watchersHomedAt('fb'), ['a2']);
});

test('a replica never expires watchers on its own clock, however late an intent is', () => {
  const r = new RegionReplica(CONFIG);
  r.apply(1, { from: 'fa', intents: [{ op: 'create-watcher', id: 'old', at: 0 }] });
  r.apply(2, { from: 'fa', intents: [{ op: 'tick', at: 10 * 3600 * 1000 }] });
  assert.equal(r.state.hasWatcher('old'), true);
  assert.equal(r.state.nextDeadlineMs(), null);
});

test('liveness: refreshes are local; silent watchers come due at the head; refreshed ones leave the expiry set', () => {
  const l = new LivenessTable(30_000);
  l.track('a', 0);
  l.track('b', 1000);
  l.track('c', 2000);
  assert.equal(l.refresh('zzz', 5), false, 'not homed here: the store claims it');
  assert.equal(l.refresh('a', 3000), true);
  assert.equal(l.nextDeadlineMs(), 31_000);
  assert.deepEqual(l.takeDue(32_500, 10), ['b', 'c'], 'a was refreshed at 3 000: due at 33 000');
  assert.deepEqual(l.pendingExpiries(10), ['b', 'c']);
  assert.equal(l.refresh('c', 32_600), true, 'a refresh while the expiry is on its way keeps it');
  assert.deepEqual(l.pendingExpiries(10), ['b']);
  l.untrack('b');
  assert.deepEqual(l.pendingExpiries(10), []);
  assert.equal(l.size, 2);
});

test('etcd:// URLs: endpoints and the region prefix', () => {
  assert.deepEqual(parseEtcdUrl('etcd://10.0.0.1:2379,[::1]:2379,etcd-3.example:2379/east'), {
    endpoints: ['10.0.0.1:2379', '[::1]:2379', 'etcd-3.example:2379'],
    prefix: '/mnat/east/',
    region: 'east',
  });
  assert.equal(parseEtcdUrl('etcd://h:1').prefix, '/mnat/default/');
  assert.throws(() => parseEtcdUrl('http://h:1'), /etcd:\/\//);
  assert.throws(() => parseEtcdUrl('etcd://h'), /HOST:PORT/);
  assert.throws(() => parseEtcdUrl('etcd://h:1/a/b'), /etcd:\/\//);
});
