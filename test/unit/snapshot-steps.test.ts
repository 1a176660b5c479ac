// A state snapshot built in steps (MnatState.snapshotSteps) is the snapshot
// taken at once, and refuses to return a mixture when the state changes
// between steps; ApplyGate holds and then applies, in order, the work that
// arrives while a snapshot is being built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool, createSeededRandom } from '../../src/server/state/pool.ts';
import { MnatState } from '../../src/server/state/mnat-state.ts';
import { runSteps, runStepsPaused } from '../../src/server/state/steps.ts';
import { ApplyGate } from '../../src/server/store/apply-gate.ts';

function stateWith(watchers: number): MnatState {
  const pool = Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }] } }, { random: createSeededRandom(1) });
  let n = 0;
  const state = new MnatState({ pool, refreshPeriodS: 10, gracePeriodS: 250, maxJoinsPerWatcher: 8, newWatcherId: () => `w${String(++n).padStart(3, '0')}` });
  for (let i = 0; i < watchers; i++) {
    const { id } = state.createWatcher(1000 + i);
    state.setEgressJoins(id, [{ id: 'a', channel: { source: '192.0.2.1', group: `232.1.0.${i % 7}` } }, { id: 'b', channel: { source: '192.0.2.2', group: `232.2.0.${i}` } }], 1000 + i);
  }
  return state;
}

test('a snapshot built in steps yields every `per` watchers and equals the one taken at once', () => {
  const state = stateWith(25);
  for (const sorted of [true, false]) {
    const steps = state.snapshotSteps(4, sorted);
    let pauses = 0;
    let r = steps.next();
    for (; !r.done; r = steps.next()) pauses++;
    assert.equal(pauses, 6, '25 watchers in steps of 4: six pauses');
    assert.deepEqual(r.value, state.snapshot(sorted));
    assert.equal(JSON.stringify(runSteps(state.snapshotSteps(4, sorted))), JSON.stringify(state.snapshot(sorted)), 'the same bytes');
  }
});

test('a change between steps makes the snapshot throw instead of mixing two states; the state goes on', async () => {
  const state = stateWith(10);
  const steps = state.snapshotSteps(3);
  assert.equal(steps.next().done, false);
  state.deleteWatcher('w005', 5000);
  assert.throws(() => steps.next(), /state changed while a snapshot of it was being built/);
  // Nothing is left behind: the next snapshot (at once or in steps) is taken as usual.
  assert.equal(state.snapshot().watchers.length, 9);
  assert.equal((await runStepsPaused(state.snapshotSteps(2), () => Promise.resolve())).watchers.length, 9);
});

test('ApplyGate applies at once when nothing is built, else after the build in arrival order; a failed build still releases', async () => {
  const gate = new ApplyGate();
  const applied: string[] = [];
  gate.run(() => applied.push('now'));
  assert.deepEqual(applied, ['now']);

  let finishBuild!: (v: string) => void;
  const built = gate.hold(() => new Promise<string>((resolve) => (finishBuild = resolve)));
  assert.equal(gate.holding, true);
  gate.run(() => applied.push('e1'));
  gate.run(() => applied.push('e2'));
  assert.deepEqual(applied, ['now'], 'held while the snapshot is built');
  await assert.rejects(gate.hold(async () => 'second'), /already being built/);
  finishBuild('snap');
  assert.deepEqual(await built, { value: 'snap', waited: 2 });
  assert.deepEqual(applied, ['now', 'e1', 'e2']);
  assert.equal(gate.holding, false);

  const failed = gate.hold(async () => {
    gate.run(() => applied.push('e3'));
    throw new Error('build failed');
  });
  await assert.rejects(failed, /build failed/);
  assert.deepEqual(applied, ['now', 'e1', 'e2', 'e3'], 'what waited is applied even when the build failed');
});

test('ApplyGate: a build started by work being released holds the rest of it too', async () => {
  const gate = new ApplyGate();
  const applied: string[] = [];
  let second: Promise<unknown> | null = null;
  let finishSecond!: () => void;
  let finishFirst!: () => void;
  const first = gate.hold(() => new Promise<void>((resolve) => (finishFirst = resolve)));
  gate.run(() => {
    applied.push('a');
    second = gate.hold(() => new Promise<void>((resolve) => (finishSecond = resolve)));
  });
  gate.run(() => applied.push('b'));
  finishFirst();
  await first;
  assert.deepEqual(applied, ['a'], "'b' waits for the build 'a' started");
  finishSecond();
  await second;
  assert.deepEqual(applied, ['a', 'b']);
});
