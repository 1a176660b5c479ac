// The one "a pass at a time" loop all agents use, on virtual time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSerialPass } from '../../src/agent/serial-pass.ts';
import { createBackoff } from '../../src/core/backoff.ts';
import type { Host } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

function setup() {
  const time = createVirtualTime();
  const host = { setTimeout: time.setTimeout, clearTimeout: time.clearTimeout } as Host;
  return { time, host };
}

test('requests during a pass fold into one more pass; never two at once', async () => {
  const { time, host } = setup();
  let running = 0;
  let most = 0;
  let passes = 0;
  const pass = createSerialPass(host, async () => {
    running++;
    most = Math.max(most, running);
    passes++;
    await time.sleep(10);
    running--;
  });
  pass.request();
  assert.equal(pass.busy(), true);
  for (let i = 0; i < 5; i++) pass.request();
  await time.until('idle', () => !pass.busy() && passes === 2);
  await time.advance(100);
  assert.equal(passes, 2, 'five requests during the first pass made one more');
  assert.equal(most, 1);
});

test('a delayed request waits and absorbs the requests of its wait', async () => {
  const { time, host } = setup();
  let passes = 0;
  const pass = createSerialPass(host, async () => void passes++);
  pass.request(50);
  pass.request(50);
  pass.request(); // a pass is due already: no second one
  await time.advance(49);
  assert.equal(passes, 0);
  await time.advance(1);
  assert.equal(passes, 1);
  await time.advance(1000);
  assert.equal(passes, 1);
});

test('a failed pass is retried after the backoff; a request ends the wait at once; success resets it', async () => {
  const { time, host } = setup();
  const results = [false, false, true];
  const at: number[] = [];
  const retries: number[] = [];
  const pass = createSerialPass(host, async () => (at.push(time.now()), results.shift() ?? true), {
    backoff: createBackoff({ initialMs: 100, maxMs: 1000, random: () => 0.999 }),
    onRetry: (ms) => retries.push(ms),
  });
  pass.request();
  await time.until('the retry', () => at.length === 2);
  assert.deepEqual(at, [0, 99]);
  pass.request(); // something changed: no need to wait out the second backoff (199 ms)
  await time.settle();
  assert.deepEqual(at, [0, 99, 99]);
  assert.deepEqual(retries, [99, 199]);
  await time.advance(5000);
  assert.equal(at.length, 3, 'the third pass worked: no more retries');
  assert.equal(time.pending(), 0);
});

test('after() runs when no pass follows; onStall once for a pass that hangs; stop drops what waits', async () => {
  const { time, host } = setup();
  const events: string[] = [];
  let release: () => void = () => undefined;
  const pass = createSerialPass(host, () => new Promise<void>((r) => (release = r)), {
    after: () => events.push('after'),
    onStall: () => events.push('stall'),
    stallMs: 1000,
  });
  pass.request();
  await time.advance(5000);
  assert.deepEqual(events, ['stall']);
  pass.request();
  release();
  await time.settle();
  assert.deepEqual(events, ['stall'], 'a pass follows at once: no after() in between');
  release();
  await pass.idle();
  assert.deepEqual(events, ['stall', 'after']);
  pass.request(100);
  pass.stop();
  await time.advance(1000);
  assert.equal(pass.busy(), false);
  assert.equal(time.pending(), 0);
});

test('safetyMs: a pass that long after the last one, also without requests; stop ends it', async () => {
  const { time, host } = setup();
  const at: number[] = [];
  const pass = createSerialPass(host, async () => void at.push(time.now()), { safetyMs: () => 1000 });
  pass.request();
  await time.advance(2500);
  assert.deepEqual(at, [0, 1000, 2000]);
  pass.request(); // a pass in between moves the next safety pass
  await time.advance(1000);
  assert.deepEqual(at, [0, 1000, 2000, 2500, 3500]);
  pass.stop();
  await time.advance(5000);
  assert.equal(at.length, 5);
  assert.equal(time.pending(), 0);
});
