import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBackoff } from '../../src/core/backoff.ts';

test('ceiling doubles up to max; full jitter scales it; reset starts over', () => {
  const top = createBackoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual([top.next(), top.next(), top.next(), top.next(), top.next(), top.next()], [99, 199, 399, 799, 999, 999]);
  top.reset();
  assert.equal(top.next(), 99);
  const half = createBackoff({ initialMs: 100, maxMs: 1000, random: () => 0.5 });
  assert.deepEqual([half.next(), half.next()], [50, 100]);
  const zero = createBackoff({ random: () => 0 });
  assert.equal(zero.next(), 1, 'never a zero delay');
});

test('default random stays within bounds', () => {
  const b = createBackoff({ initialMs: 10, maxMs: 50 });
  for (let i = 0; i < 100; i++) {
    const d = b.next();
    assert.ok(d >= 1 && d <= 50, String(d));
  }
});
