// Idle HTTP/2 sessions: the sweep closes a session whose byte counters have
// not moved for idleMs, and only such sessions (virtual time, fake sessions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleSessions, type SweptSession } from '../../src/server/http/idle-sessions.ts';

class FakeSession implements SweptSession {
  destroyed = false;
  socket = { bytesRead: 0, bytesWritten: 0 };
  destroy(): void {
    this.destroyed = true;
  }
}

test('a session without traffic for idleMs is destroyed at the first sweep after the deadline', () => {
  const idle = new IdleSessions<FakeSession>(1000);
  const s = new FakeSession();
  idle.track(s, 0);
  assert.equal(idle.sweep(999), 0);
  assert.equal(s.destroyed, false);
  assert.equal(idle.sweep(1000), 1);
  assert.equal(s.destroyed, true);
  assert.equal(idle.size, 0);
});

test('traffic in either direction restarts the idle time', () => {
  const idle = new IdleSessions<FakeSession>(1000);
  const s = new FakeSession();
  idle.track(s, 0);
  s.socket.bytesRead += 50;
  assert.equal(idle.sweep(900), 0); // moved: idle since 900
  s.socket.bytesWritten += 10;
  assert.equal(idle.sweep(1800), 0); // moved: idle since 1800
  assert.equal(idle.sweep(2700), 0);
  assert.equal(idle.sweep(2800), 1);
  assert.equal(s.destroyed, true);
});

test('busy sessions stay, idle ones go; destroyed and forgotten ones are dropped', () => {
  const idle = new IdleSessions<FakeSession>(1000);
  const busy = new FakeSession();
  const quiet = new FakeSession();
  const gone = new FakeSession();
  const forgotten = new FakeSession();
  for (const s of [busy, quiet, gone, forgotten]) idle.track(s, 0);
  gone.destroyed = true;
  idle.forget(forgotten);
  for (let t = 250; t <= 2000; t += 250) {
    busy.socket.bytesWritten += 1;
    idle.sweep(t);
  }
  assert.equal(busy.destroyed, false);
  assert.equal(quiet.destroyed, true);
  assert.equal(forgotten.destroyed, false);
  assert.equal(idle.size, 1);
});

test('the sweep period keeps the close within a quarter of the idle time, at most 15 s late', () => {
  assert.equal(new IdleSessions(330_000).sweepMs, 15_000);
  assert.equal(new IdleSessions(1000).sweepMs, 250);
  assert.equal(new IdleSessions(8).sweepMs, 10);
});
