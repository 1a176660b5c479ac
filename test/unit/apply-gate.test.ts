// ApplyGate applies log entries in arrival order in slices of sliceMs, letting
// the event loop through in between (a large watch batch must not hold it),
// and stops while a snapshot build holds it. Time and deferral are injected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplyGate } from '../../src/server/store/apply-gate.ts';

function harness(sliceMs = 20, costMs = 5) {
  let now = 0;
  const later: Array<() => void> = [];
  const gate = new ApplyGate({ sliceMs, clock: () => now, defer: (fn) => later.push(fn) });
  const applied: number[] = [];
  const entry = (n: number) => () => {
    now += costMs;
    applied.push(n);
  };
  /** Runs one deferred slice; false when none is scheduled. */
  const turn = (): boolean => {
    const fn = later.shift();
    fn?.();
    return fn !== undefined;
  };
  return { gate, applied, entry, turn };
}

test('one entry with nothing waiting is applied at once; an idle gate schedules nothing more', () => {
  const { gate, applied, entry, turn } = harness();
  gate.run(entry(1));
  assert.deepEqual(applied, [1]);
  assert.equal(gate.waiting, 0);
  assert.equal(turn(), true, 'the end of the slice');
  assert.equal(turn(), false, 'and nothing after it');
});

test('entries arriving in one turn are applied in slices of sliceMs, in order, newer behind older', () => {
  const { gate, applied, entry, turn } = harness(20, 5);
  // A watch batch: run() for each entry, all in one turn of the event loop.
  for (let n = 1; n <= 10; n++) gate.run(entry(n));
  assert.deepEqual(applied, [1, 2, 3, 4], 'four entries of 5 ms fill the first 20 ms slice');
  assert.equal(gate.waiting, 6);
  gate.run(entry(11));
  assert.deepEqual(applied, [1, 2, 3, 4], 'a new entry waits behind the backlog');
  assert.ok(turn());
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(turn());
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(gate.waiting, 0);
  while (turn());
  assert.equal(applied.length, 11);
});

test('an entry that throws: its caller sees it, the rest go on in the next slice', () => {
  const { gate, applied, entry, turn } = harness(1000, 1);
  assert.throws(
    () =>
      gate.run(() => {
        gate.run(entry(2)); // arriving while it runs
        gate.run(entry(3));
        throw new Error('bad entry');
      }),
    /bad entry/,
  );
  assert.deepEqual(applied, []);
  assert.ok(turn());
  assert.deepEqual(applied, [2, 3]);
});

test('a build holding the gate stops a backlog; it goes on after the build', async () => {
  const { gate, applied, entry, turn } = harness(20, 5);
  for (let n = 1; n <= 8; n++) gate.run(entry(n));
  let finish!: () => void;
  const built = gate.hold(() => new Promise<void>((resolve) => (finish = resolve)));
  assert.equal(gate.holding, true);
  assert.ok(turn());
  assert.deepEqual(applied, [1, 2, 3, 4], 'held: the next slice applies nothing');
  finish();
  const { waited } = await built;
  assert.equal(waited, 4);
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 6, 7, 8]);
});
