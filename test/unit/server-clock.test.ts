import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServerClock } from '../../src/server/clock.ts';

test('the server clock starts at the wall clock and follows only elapsed time', () => {
  let wall = 1_700_000_000_000;
  let mono = 5_000.25;
  const clock = createServerClock(() => wall, () => mono);
  assert.equal(clock.now(), wall);
  mono += 1_500;
  wall += 1_500;
  assert.equal(clock.now(), 1_700_000_001_500);
  assert.equal(clock.wallOffset(), 0);
  wall += 10 + 7_200_000; // 10 ms pass, and NTP steps the wall clock two hours ahead
  mono += 10;
  assert.equal(clock.now(), 1_700_000_001_510);
  assert.equal(clock.wallOffset(), 7_200_000);
  wall += 10 - 14_400_000; // and back past the start
  mono += 10;
  assert.equal(clock.now(), 1_700_000_001_520, 'never goes back');
  assert.equal(clock.wallOffset(), -7_200_000);
});
