// Per-client watcher quotas live in the state machine (state/quotas.ts), so a
// store that replicates the state machine enforces them everywhere: the counts
// follow from the watchers, the new-id rate from the watcher-created records'
// own times. A replica fed the same records, or a state restored from a
// snapshot, refuses exactly what the original refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MnatError, MnatState, type MnatStateOptions, type StateChange } from '../../src/server/state/mnat-state.ts';
import { Pool } from '../../src/server/state/pool.ts';

function options(): MnatStateOptions {
  return {
    pool: Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/24' }] } }),
    refreshPeriodS: 10,
    maxWatchersPerAddress: 3,
    maxWatchersPerOwner: 2,
    newWatchersPerMinute: 60, // one a second
    newWatcherBurst: 4,
  };
}

const refusal = (fn: () => void): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof MnatError, String(err));
    return err.kind;
  }
};

test('watchers per address (without a certificate) and per certificate; deleting one makes room', () => {
  const s = new MnatState(options());
  for (let i = 0; i < 3; i++) s.addWatcher(`a${i}`, 0, undefined, '192.0.2.1');
  assert.equal(refusal(() => s.addWatcher('a3', 0, undefined, '192.0.2.1')), 'watchers-per-address');
  assert.equal(refusal(() => s.addWatcher('b0', 0, undefined, '192.0.2.2')), 'ok', 'another address');
  // A certificate is its own client, whatever the address.
  s.addWatcher('c0', 10_000, 'cert-x');
  s.addWatcher('c1', 10_000, 'cert-x');
  assert.equal(refusal(() => s.addWatcher('c2', 10_000, 'cert-x')), 'watchers-per-certificate');
  s.deleteWatcher('a0', 10_000);
  assert.equal(refusal(() => s.addWatcher('a3', 10_000, undefined, '192.0.2.1')), 'ok');
});

test('the new-id rate: a burst, then one per period of the rate, with the wait in the refusal', () => {
  const s = new MnatState({ ...options(), maxWatchersPerAddress: 0 });
  for (let i = 0; i < 4; i++) s.addWatcher(`w${i}`, 1000, undefined, '198.51.100.7');
  let err: MnatError | null = null;
  try {
    s.addWatcher('w4', 1000, undefined, '198.51.100.7');
  } catch (e) {
    err = e as MnatError;
  }
  assert.equal(err?.kind, 'new-watcher-rate');
  assert.equal(err?.retryAfterS, 1);
  assert.equal(refusal(() => s.addWatcher('w4', 2000, undefined, '198.51.100.7')), 'ok', 'a token a second');
  assert.equal(refusal(() => s.addWatcher('w5', 2000, undefined, '198.51.100.7')), 'new-watcher-rate');
});

test('a replica fed the same records, and a state restored from a snapshot, refuse the same', () => {
  const a = new MnatState(options());
  const records: StateChange[] = [];
  a.onChange((c) => records.push(structuredClone(c)));
  for (let i = 0; i < 3; i++) a.addWatcher(`x${i}`, 500 * i, undefined, '203.0.113.9');
  a.addWatcher('y0', 2000, 'cert-y');
  const replica = new MnatState(options());
  for (const r of records) replica.applyChange(r);
  const restored = MnatState.restore(JSON.parse(JSON.stringify(a.snapshot())), options(), 2000);
  for (const s of [a, replica, restored]) {
    assert.equal(refusal(() => s.addWatcher('x3', 2500, undefined, '203.0.113.9')), 'watchers-per-address');
    assert.equal(refusal(() => s.addWatcher('y1', 2500, 'cert-y')), 'ok');
    assert.equal(refusal(() => s.addWatcher('y2', 2500, 'cert-y')), 'watchers-per-certificate');
  }
  // The rate too: 4 ids at once for a new address, then refused, on each of them.
  for (const s of [a, replica, restored]) {
    for (let i = 0; i < 3; i++) s.addWatcher(`z${i}`, 3000, undefined, `203.0.113.${10 + i}`);
  }
  const b = new MnatState({ ...options(), maxWatchersPerAddress: 0 });
  const log: StateChange[] = [];
  b.onChange((c) => log.push(structuredClone(c)));
  for (let i = 0; i < 4; i++) b.addWatcher(`r${i}`, 5000, undefined, '192.0.2.77');
  const bReplica = new MnatState({ ...options(), maxWatchersPerAddress: 0 });
  for (const r of log) bReplica.applyChange(r);
  const bRestored = MnatState.restore(JSON.parse(JSON.stringify(b.snapshot())), { ...options(), maxWatchersPerAddress: 0 }, 5000);
  for (const s of [b, bReplica, bRestored]) assert.equal(refusal(() => s.addWatcher('r4', 5500, undefined, '192.0.2.77')), 'new-watcher-rate');
});
