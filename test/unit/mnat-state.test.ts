import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localGroup, type JoinedSg } from '../../src/protocol/model.ts';
import { Pool, createSeededRandom } from '../../src/server/state/pool.ts';
import { MnatError, MnatState, type MnatStateOptions, type StateChange } from '../../src/server/state/mnat-state.ts';

const S = 1000;

function poolOf(ranges: unknown[], seed = 1): Pool {
  return Pool.fromJson({ 'group-pool': { ranges } }, { random: createSeededRandom(seed) });
}

function options(pool: Pool, extra: Partial<MnatStateOptions> = {}): MnatStateOptions {
  let n = 0;
  return { pool, refreshPeriodS: 10, gracePeriodS: 250, maxJoinsPerWatcher: 8, newWatcherId: () => `w${++n}`, ...extra };
}

function make(ranges: unknown[] = [{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }], extra: Partial<MnatStateOptions> = {}) {
  const state = new MnatState(options(poolOf(ranges), extra));
  const changes: StateChange[] = [];
  const notified: string[][] = [];
  const removed: string[] = [];
  state.onChange((c) => changes.push(JSON.parse(JSON.stringify(c))));
  state.onWatchersChanged((ids) => notified.push(ids));
  state.onWatcherRemoved((id, reason) => removed.push(`${id}:${reason}`));
  return { state, changes, notified, removed };
}

const join = (id: string, source: string, group: string): JoinedSg => ({ id, channel: { source, group } });

function mnatError(fn: () => unknown, kind: string, message?: RegExp, path?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MnatError, `expected MnatError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    if (message) assert.match(e.message, message);
    if (path !== undefined) assert.equal(e.path, path);
    return true;
  });
}

test('watchers: ids from the generator, refresh, expiry after 3 missed periods releases joins', () => {
  const { state, removed } = make();
  const a = state.createWatcher(0, 'cert-a');
  assert.deepEqual(a, { id: 'w1', refreshPeriodS: 10 });
  assert.equal(state.ownerOf('w1'), 'cert-a');
  const b = state.createWatcher(0);
  state.setEgressJoins(b.id, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  assert.equal(state.stats().poolInUse, 1);
  assert.equal(state.nextDeadlineMs(), 30 * S);
  assert.equal(state.refreshWatcher(a.id, 25 * S), 10);
  assert.equal(state.nextDeadlineMs(), 30 * S, 'b is now the oldest');
  state.tick(29_999);
  assert.ok(state.hasWatcher(b.id));
  state.tick(30 * S);
  assert.ok(!state.hasWatcher(b.id), 'b missed 3 refresh periods');
  assert.ok(state.hasWatcher(a.id));
  assert.deepEqual(removed, ['w2:expired']);
  assert.equal(state.stats().poolInUse, 0);
  assert.equal(state.stats().poolInGrace, 1, 'its channel went into grace');
  mnatError(() => state.refreshWatcher(b.id, 31 * S), 'unknown-watcher', /unknown watcher/);
  mnatError(() => state.assignedChannels('nope'), 'unknown-watcher');
  assert.equal(state.nextDeadlineMs(), 55 * S);
});

test('egress joins: assignment, shared stable mappings, last leave into grace, stable ids', () => {
  const { state, notified } = make();
  const a = state.createWatcher(0).id;
  const b = state.createWatcher(0).id;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1'), join('2', '2001:db8::1', 'ff3e::1')], S);
  const [m1, m6] = state.assignedChannels(a);
  assert.ok(m1 && m6);
  assert.equal(m1.state, 'assigned');
  assert.ok(m1.local && 'source' in m1.local && m1.local.source.startsWith('10.9.0.'));
  assert.equal(m6.state, 'unassigned', 'no IPv6 range in this pool');
  assert.equal(m6.local, null);
  const v = state.version(a);
  state.setEgressJoins(b, [join('x', '192.0.2.1', '232.1.1.1')], 2 * S);
  assert.deepEqual(state.assignedChannels(b), [m1], 'b shares the same mapping object');
  assert.equal(state.version(a), v, 'a did not change');
  state.setEgressJoins(a, [join('2', '2001:db8::1', 'ff3e::1')], 3 * S);
  assert.deepEqual(state.assignedChannels(b), [m1], 'still joined by b: mapping unchanged');
  assert.notEqual(state.version(a), v);
  assert.equal(state.stats().poolInUse, 1);
  state.deleteEgressJoins(b, 4 * S);
  assert.equal(state.stats().poolInUse, 0);
  assert.equal(state.stats().poolInGrace, 1);
  assert.equal(state.roleOf(b), 'none');
  // the waiting IPv6 channel kept its assignment id throughout
  assert.equal(state.assignedChannels(a)[0]?.id, m6.id);
  // joining again after release gives a new mapping with a new id (the old pair is in grace)
  state.setEgressJoins(b, [join('x', '192.0.2.1', '232.1.1.1')], 5 * S);
  const again = state.assignedChannels(b)[0];
  assert.ok(again && again.id !== m1.id && again.local && localGroup(again.local) !== localGroup(m1.local as never));
  assert.ok(notified.every((ids) => ids.length > 0));
});

test('merge, delete, duplicates and per-watcher limits', () => {
  const { state } = make(undefined, { maxJoinsPerWatcher: 3 });
  const a = state.createWatcher(0).id;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  state.mergeEgressJoins(a, [join('2', '192.0.2.1', '232.1.1.2'), join('1', '192.0.2.1', '232.1.1.9')], 0);
  assert.deepEqual(
    state.egressJoins(a).map((j) => `${j.id}=${j.channel.group}`),
    ['1=232.1.1.9', '2=232.1.1.2'],
  );
  mnatError(() => state.mergeEgressJoins(a, [join('3', '192.0.2.1', '232.1.1.3'), join('4', '192.0.2.1', '232.1.1.4')], 0), 'too-many-joins', /4 joined-sg entries exceed the limit of 3/);
  mnatError(() => state.setEgressJoins(a, ['1', '2', '3', '4'].map((i) => join(i, '192.0.2.1', `232.1.1.${i}`)), 0), 'too-many-joins');
  assert.equal(state.egressJoins(a).length, 2, 'a refused request changes nothing');
  mnatError(() => state.setEgressJoins(a, [join('1', '192.0.2.1', '10.1.1.1')], 0), 'invalid-value', /not a multicast address/, 'joined-sg[0]');
  mnatError(() => state.setEgressJoins(a, [join('1', '192.0.2.1', '224.0.0.1')], 0), 'invalid-value', /never forward/, 'joined-sg[0]/group');
  mnatError(() => state.setEgressJoins(a, [join('1', '::1', 'ff3e::1')], 0), 'invalid-value', /loopback/, 'joined-sg[0]/source');
  mnatError(() => state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1'), join('1', '192.0.2.1', '232.1.1.2')], 0), 'invalid-value', /appears twice/, 'joined-sg[1]/id');
  // two join ids for one channel count once
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1'), join('2', '192.0.2.1', '232.1.1.1')], 0);
  assert.equal(state.assignedChannels(a).length, 1);
  assert.equal(state.channels()[0]?.egressWatchers, 1);
  // non-canonical text is canonicalised
  state.setEgressJoins(a, [join('1', '2001:DB8:0:0::1', 'FF3E::1')], 0);
  assert.deepEqual(state.egressJoins(a)[0]?.channel, { source: '2001:db8::1', group: 'ff3e::1' });
});

test('roles: a watcher is egress or ingress, not both', () => {
  const { state } = make();
  const e = state.createWatcher(0).id;
  const i = state.createWatcher(0).id;
  state.setEgressJoins(e, [], 0);
  state.setIngressMonitors(i, [{ id: 'm', globalSourcePrefix: '192.0.2.0/24' }], 0);
  mnatError(() => state.setIngressMonitors(e, [], 0), 'wrong-role');
  mnatError(() => state.setEgressJoins(i, [], 0), 'wrong-role');
  assert.equal(state.roleOf(e), 'egress');
  assert.equal(state.roleOf(i), 'ingress');
  mnatError(() => state.setIngressMonitors(i, [{ id: 'm', globalSourcePrefix: '192.0.2.1/24' }], 0), 'invalid-value', /host bits/, 'monitor[0]/global-source-prefix');
});

test('ingress: sees every assigned channel whose source matches, and is notified before egress watchers', () => {
  const { state, notified } = make();
  const e1 = state.createWatcher(0).id;
  const ing = state.createWatcher(0).id;
  const other = state.createWatcher(0).id;
  const e2 = state.createWatcher(0).id;
  state.setIngressMonitors(ing, [{ id: 'm1', globalSourcePrefix: '192.0.2.0/24' }], 0);
  state.setIngressMonitors(other, [{ id: 'm1', globalSourcePrefix: '198.51.100.0/24' }], 0);
  notified.length = 0;
  state.setEgressJoins(e1, [join('1', '192.0.2.1', '232.1.1.1'), join('2', '203.0.113.1', '232.1.1.1')], S);
  assert.deepEqual(notified, [[ing, e1]], 'ingress first; the non-matching ingress is not told');
  assert.deepEqual(state.assignedChannels(ing).map((c) => c.global.source), ['192.0.2.1']);
  assert.deepEqual(state.assignedChannels(other), []);
  notified.length = 0;
  state.setEgressJoins(e2, [join('1', '192.0.2.1', '232.1.1.1')], S);
  assert.deepEqual(notified, [[e2]], 'nothing new for the ingress');
  state.mergeIngressMonitors(other, [{ id: 'm2', globalSourcePrefix: '203.0.113.0/24' }], S);
  assert.deepEqual(state.ingressMonitors(other).map((m) => m.id), ['m1', 'm2']);
  assert.deepEqual(state.assignedChannels(other).map((c) => c.global.source), ['203.0.113.1']);
  notified.length = 0;
  state.deleteEgressJoins(e1, 2 * S);
  assert.deepEqual(notified, [[other, e1]], 'release of 203.0.113.1: the ingress first');
  assert.deepEqual(state.assignedChannels(other), []);
  state.deleteIngressMonitors(other, 2 * S);
  assert.equal(state.roleOf(other), 'none');
  assert.equal(state.stats().ingressWatchers, 1);
});

test('exhaustion and recovery: waiting channels get space after grace, most-wanted first, ties oldest first', () => {
  const { state, notified } = make([{ 'group-range': '232.255.0.0/31', 'source-range': 'keep' }], { gracePeriodS: 100, refreshPeriodS: 1000 });
  const w = Array.from({ length: 5 }, () => state.createWatcher(0).id);
  const [w0, w1, w2, w3, w4] = w as [string, string, string, string, string];
  state.setEgressJoins(w0, [join('a', '192.0.2.1', '232.0.0.1'), join('b', '192.0.2.1', '232.0.0.2')], 0);
  assert.equal(state.stats().channelsAssigned, 2);
  // three channels wait: C (older, 1 watcher), D (2 watchers), E (1 watcher, newest)
  state.setEgressJoins(w1, [join('c', '192.0.2.1', '232.0.0.3')], S);
  state.setEgressJoins(w2, [join('d', '192.0.2.1', '232.0.0.4')], 2 * S);
  state.setEgressJoins(w3, [join('d', '192.0.2.1', '232.0.0.4')], 3 * S);
  state.setEgressJoins(w4, [join('e', '192.0.2.1', '232.0.0.5')], 4 * S);
  assert.deepEqual(state.stats(), {
    watchers: 5, egressWatchers: 5, ingressWatchers: 0, channelsAssigned: 2, channelsUnassigned: 3,
    poolSize: 2n, poolInUse: 2, poolInGrace: 0,
  });
  const cId = state.assignedChannels(w1)[0]?.id;
  assert.equal(state.assignedChannels(w1)[0]?.state, 'unassigned');
  state.setEgressJoins(w0, [], 5 * S); // both pairs go into grace
  assert.equal(state.stats().poolInGrace, 2);
  state.tick(104 * S);
  assert.equal(state.stats().channelsAssigned, 0, 'still in grace');
  assert.equal(state.nextDeadlineMs(), 105 * S, 'the grace end of both pairs');
  notified.length = 0;
  state.tick(105 * S);
  assert.equal(state.assignedChannels(w2)[0]?.state, 'assigned', 'D: most wanted');
  assert.equal(state.assignedChannels(w1)[0]?.state, 'assigned', 'C: older than E');
  assert.equal(state.assignedChannels(w1)[0]?.id, cId, 'the assignment id survives assignment');
  assert.equal(state.assignedChannels(w4)[0]?.state, 'unassigned');
  assert.deepEqual(notified, [[w2, w3, w1]]);
  // E gets the next freed pair once its grace ends
  state.deleteEgressJoins(w1, 106 * S);
  state.tick(205 * S);
  assert.equal(state.assignedChannels(w4)[0]?.state, 'unassigned');
  state.tick(206 * S);
  assert.equal(state.assignedChannels(w4)[0]?.state, 'assigned');
});

test('housekeeping done before a refused request is still notified', () => {
  const { state, removed } = make();
  const a = state.createWatcher(0).id;
  const b = state.createWatcher(20 * S).id;
  mnatError(() => state.setEgressJoins(b, [join('1', '192.0.2.1', '10.0.0.1')], 31 * S), 'invalid-value');
  assert.deepEqual(removed, [`${a}:expired`]);
});

test('a zero grace period hands a released pair to a waiting channel at once', () => {
  const { state } = make([{ 'group-range': '232.255.0.0/32', 'source-range': 'keep' }], { gracePeriodS: 0 });
  const a = state.createWatcher(0).id;
  const b = state.createWatcher(0).id;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  state.setEgressJoins(b, [join('1', '192.0.2.1', '232.1.1.2')], 0);
  assert.equal(state.assignedChannels(b)[0]?.state, 'unassigned');
  state.deleteEgressJoins(a, S);
  assert.deepEqual(state.assignedChannels(b)[0]?.local, { source: '192.0.2.1', group: '232.255.0.0' });
  assert.throws(() => new MnatState(options(poolOf([{ 'group-range': '232.255.0.0/32' }]), { refreshPeriodS: 0 })), /refreshPeriodS must be a positive number/);
});

test('versions change exactly when assignedChannels changes', () => {
  const { state } = make();
  const a = state.createWatcher(0).id;
  const v0 = state.version(a);
  state.setEgressJoins(a, [], 0);
  assert.equal(state.version(a), v0);
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  const v1 = state.version(a);
  assert.notEqual(v1, v0);
  state.setEgressJoins(a, [join('renamed', '192.0.2.1', '232.1.1.1')], 0);
  assert.equal(state.version(a), v1, 'a join id is not part of assigned-channels');
  state.refreshWatcher(a, 1);
  assert.equal(state.version(a), v1);
});

test('an identical PUT writes no journal record and notifies nobody', () => {
  const { state, changes, notified } = make();
  const a = state.createWatcher(0).id;
  const i = state.createWatcher(0).id;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  state.setIngressMonitors(i, [{ id: 'm', globalSourcePrefix: '192.0.2.0/24' }], 0);
  const n = changes.length;
  const k = notified.length;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 1);
  state.mergeEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 1);
  state.setIngressMonitors(i, [{ id: 'm', globalSourcePrefix: '192.0.2.0/24' }], 1);
  assert.equal(changes.length, n);
  assert.equal(notified.length, k);
});

// ---- durability ------------------------------------------------------------

function fingerprint(state: MnatState): string {
  const snap = state.snapshot();
  const views = snap.watchers.map((w) => [w.id, state.assignedChannels(w.id), state.egressJoins(w.id), state.ingressMonitors(w.id)]);
  return JSON.stringify({ snap, views, stats: { ...state.stats(), poolSize: String(state.stats().poolSize) } });
}

const RANGES = [
  { 'group-range': '232.255.0.0/29', 'source-range': '10.9.0.0/24', exclude: [{ 'groupex-range': '232.255.0.0/31' }] },
  { 'group-range': '239.7.0.0/30', 'source-range': 'asm' },
  { 'group-range': 'ff3e::/126', 'source-range': 'keep' },
];

test('randomized: replaying onChange records, and snapshot -> restore, reproduce the live state exactly', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const rnd = createSeededRandom(seed * 7919);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const live = new MnatState(options(poolOf(RANGES, seed), { maxJoinsPerWatcher: 4, gracePeriodS: 40 }));
    const journal: string[] = [];
    live.onChange((c) => journal.push(JSON.stringify(c)));
    const channels = [
      ...Array.from({ length: 10 }, (_, i) => ({ source: `192.0.2.${1 + (i % 3)}`, group: `232.0.0.${i}` })),
      ...Array.from({ length: 4 }, (_, i) => ({ source: '2001:db8::1', group: `ff3e::${i + 1}` })),
    ];
    const prefixes = ['192.0.2.0/24', '192.0.2.2/32', '2001:db8::/32', '0.0.0.0/0'];
    let now = 0;
    const ids: string[] = [];
    for (let step = 0; step < 400; step++) {
      now += Math.floor(rnd() * 4000);
      const r = rnd();
      try {
        if (r < 0.12 || ids.length === 0) ids.push(live.createWatcher(now, rnd() < 0.5 ? 'owner' : undefined).id);
        else {
          const id = pick(ids);
          if (!live.hasWatcher(id)) continue;
          if (r < 0.5) {
            const n = Math.floor(rnd() * 5);
            live.setEgressJoins(id, Array.from({ length: n }, (_, k) => ({ id: `j${k}`, channel: pick(channels) })), now);
          } else if (r < 0.6) live.mergeEgressJoins(id, [{ id: `j${Math.floor(rnd() * 6)}`, channel: pick(channels) }], now);
          else if (r < 0.65) live.deleteEgressJoins(id, now);
          else if (r < 0.72) live.setIngressMonitors(id, [{ id: 'm', globalSourcePrefix: pick(prefixes) }], now);
          else if (r < 0.75) live.deleteIngressMonitors(id, now);
          else if (r < 0.78) live.deleteWatcher(id, now);
          else if (r < 0.95) live.refreshWatcher(id, now);
          else live.tick(now);
        }
      } catch (e) {
        if (!(e instanceof MnatError)) throw e;
      }
      if (step % 50 === 49) {
        // replay the journal into a fresh state whose pool has a different seed: no new decisions
        const replayed = new MnatState(options(poolOf(RANGES, 999), { maxJoinsPerWatcher: 4, gracePeriodS: 40, newWatcherId: () => 'never' }));
        for (const line of journal) replayed.applyChange(JSON.parse(line) as StateChange);
        assert.equal(fingerprint(replayed), fingerprint(live), `seed ${seed} step ${step}: replay`);
        const restored = MnatState.restore(JSON.parse(JSON.stringify(live.snapshot())), options(poolOf(RANGES, 5), { maxJoinsPerWatcher: 4, gracePeriodS: 40 }), now);
        assert.equal(fingerprint(restored), fingerprint(live), `seed ${seed} step ${step}: restore`);
        // the copies keep evolving identically when fed the same records
        const mark = journal.length;
        live.tick(now + 45_000);
        for (const line of journal.slice(mark)) {
          replayed.applyChange(JSON.parse(line) as StateChange);
          restored.applyChange(JSON.parse(line) as StateChange);
        }
        assert.equal(fingerprint(replayed), fingerprint(live), `seed ${seed} step ${step}: replay after tick`);
        assert.equal(fingerprint(restored), fingerprint(live), `seed ${seed} step ${step}: restore after tick`);
        now += 45_000;
      }
    }
    assert.ok(journal.some((l) => l.includes('"grace-ended"')), 'the run exercised grace ends');
    assert.ok(journal.some((l) => l.includes('"expired"')), 'the run exercised expiry');
    assert.ok(journal.some((l) => l.includes('"asmGroup"')), 'the run exercised asm ranges');
  }
});

test('restore gives watchers a fresh expiry window; restartClocks does too after replay', () => {
  const { state, changes } = make();
  const a = state.createWatcher(0).id;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  const restored = MnatState.restore(state.snapshot(), options(poolOf([{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }])), 100 * S);
  restored.tick(129 * S);
  assert.ok(restored.hasWatcher(a));
  restored.tick(130 * S);
  assert.ok(!restored.hasWatcher(a));
  const replayed = new MnatState(options(poolOf([{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }])));
  for (const c of changes) replayed.applyChange(c);
  replayed.restartClocks(100 * S);
  replayed.tick(129 * S);
  assert.ok(replayed.hasWatcher(a));
  assert.deepEqual(replayed.assignedChannels(a), state.assignedChannels(a));
});

test('restore rejects inconsistent snapshots', () => {
  const { state } = make();
  const a = state.createWatcher(0).id;
  state.setEgressJoins(a, [join('1', '192.0.2.1', '232.1.1.1')], 0);
  const snap = state.snapshot();
  const pool = () => poolOf([{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }]);
  assert.throws(() => MnatState.restore({ ...snap, pool: { inUse: [], grace: [] } }, options(pool())), /pool does not hold in use/);
  assert.throws(() => MnatState.restore({ ...snap, watchers: [] }, options(pool())), /has no egress watcher/);
  assert.throws(() => MnatState.restore({ ...snap, format: 'x' } as never, options(pool())), /not an mnat-state\/1 snapshot/);
});

// The core runs on the router's QuickJS too: the same seeded run must give the
// same journal and snapshot there as on Node.
test('QuickJS parity: a seeded run journals and snapshots identically on qjs and Node', async (t) => {
  const { existsSync, mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join: joinPath, resolve } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { spawnSync } = await import('node:child_process');
  const root = resolve(import.meta.dirname, '../..');
  const qjs = process.env.MNAT_QJS ?? joinPath(root, '.cache/qjs/qjs');
  if (!existsSync(qjs)) {
    t.skip(`no qjs at ${qjs} (build/qjs.sh builds it)`);
    return;
  }
  const { build } = await import('esbuild');
  const dir = mkdtempSync(joinPath(tmpdir(), 'mnat-core-qjs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const src = joinPath(dir, 'scenario.ts');
  writeFileSync(
    src,
    `import { Pool, createSeededRandom } from ${JSON.stringify(joinPath(root, 'src/server/state/pool.ts'))};
import { MnatState } from ${JSON.stringify(joinPath(root, 'src/server/state/mnat-state.ts'))};
import { encodeAssignedChannelsWatcher, decodeEgressWatcher } from ${JSON.stringify(joinPath(root, 'src/protocol/ietf-mnat-codec.ts'))};
const ranges = ${JSON.stringify(RANGES)};
const pool = Pool.fromJson({ 'group-pool': { ranges } }, { random: createSeededRandom(11) });
let n = 0;
const s = new MnatState({ pool, gracePeriodS: 40, maxJoinsPerWatcher: 4, newWatcherId: () => 'w' + ++n });
const out: string[] = [];
s.onChange((c) => out.push(JSON.stringify(c)));
const rnd = createSeededRandom(12);
const ids: string[] = [];
let now = 0;
for (let step = 0; step < 300; step++) {
  now += Math.floor(rnd() * 3000);
  const r = rnd();
  if (r < 0.15 || ids.length === 0) ids.push(s.createWatcher(now).id);
  const id = ids[Math.floor(rnd() * ids.length)];
  if (!s.hasWatcher(id)) continue;
  try {
    if (r < 0.7) {
      const joins = Array.from({ length: Math.floor(rnd() * 4) }, (_, k) => ({ id: String(k), source: '192.0.2.' + (1 + Math.floor(rnd() * 3)), group: rnd() < 0.8 ? '232.0.0.' + Math.floor(rnd() * 12) : 'ff3e::' + (1 + Math.floor(rnd() * 5)) }));
      s.setEgressJoins(id, decodeEgressWatcher({ 'ietf-mnat:watcher': [{ id, 'joined-sg': joins }] }, id), now);
      out.push(JSON.stringify(encodeAssignedChannelsWatcher(id, s.assignedChannels(id))));
    } else if (r < 0.9) s.refreshWatcher(id, now);
    else s.tick(now);
  } catch (e) {
    out.push('error ' + (e as Error).message);
  }
}
out.push(JSON.stringify(s.snapshot()));
out.push(String(s.stats().poolSize));
const text = out.join('\\n');
if (typeof (globalThis as any).print === 'function') (globalThis as any).print(text); else console.log(text);
`,
  );
  const bundle = joinPath(dir, 'scenario.js');
  await build({ entryPoints: [src], bundle: true, format: 'esm', target: 'es2020', outfile: bundle, logLevel: 'silent' });
  const onNode = spawnSync(process.execPath, [bundle], { encoding: 'utf8' });
  const onQjs = spawnSync(qjs, ['-m', bundle], { encoding: 'utf8' });
  assert.equal(onNode.status, 0, onNode.stderr);
  assert.equal(onQjs.status, 0, onQjs.stderr);
  assert.ok(onNode.stdout.includes('"mapping-assigned"') && onNode.stdout.includes('"grace-ended"'), 'the run exercised assignment and grace');
  assert.equal(onQjs.stdout, onNode.stdout);
});
