import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIngressStatus, redactWatcherId, type IngressStatus } from '../../src/ingress/ingress-status.ts';

const now = Date.parse('2026-11-22T06:00:00Z');
const status: IngressStatus = {
  component: 'mnat-ingress',
  version: 1,
  pid: 42,
  startedAt: '2026-11-22T05:00:00Z',
  updatedAt: '2026-11-22T05:59:58Z',
  server: { origin: 'https://10.0.0.254:8443', connected: true, watcher: redactWatcherId('0123456789abcdef0123456789abcdef'), mode: 'push' },
  upstream: 'up0',
  downstream: ['core0'],
  monitors: ['0.0.0.0/0', '::/0'],
  join: true,
  joinfile: null,
  settlingUntil: '2026-11-22T06:00:10Z',
  channels: [
    { id: 7, global: '23.212.185.4,232.1.1.1', local: '10.0.0.5,232.255.0.9', status: 'carried', joined: true, packets: 1200, bytes: 96000 },
    { id: 0, global: '203.0.113.7,232.1.1.2', local: '10.0.0.6,232.255.0.10', status: 'held', joined: false },
  ],
  skipped: [{ id: 9, global: '198.51.100.9,232.9.9.9', reason: 'source not in any monitor' }],
  counters: { reconciles: 12, failures: 1, lastReconcileMs: 14.2, drops: { ttl: 3, clone: 0 } },
};

test('the watcher id is never shown whole', () => {
  assert.equal(redactWatcherId('0123456789abcdef'), '012345…');
  assert.equal(redactWatcherId('short'), '…');
  assert.equal(redactWatcherId(null), null);
});

test('status for people: server, devices, settling, counters, one row per channel, skipped reasons', () => {
  const text = formatIngressStatus(status, now);
  assert.match(text, /^mnat-ingress \(pid 42\) started 60m ago, updated 2s ago$/m);
  assert.match(text, /^server +https:\/\/10\.0\.0\.254:8443 +connected \(push\) +watcher 012345…$/m);
  assert.doesNotMatch(text, /0123456789abcdef/);
  assert.match(text, /^settling +removals held until 2026-11-22T06:00:10Z/m);
  assert.match(text, /^counters +12 passes, 1 failures, last pass 14 ms$/m);
  assert.match(text, /^drops +ttl=3 clone=0$/m);
  assert.match(text, /^7 +23\.212\.185\.4,232\.1\.1\.1 +10\.0\.0\.5,232\.255\.0\.9 +carried +1200 +96000$/m);
  assert.match(text, /^0 +203\.0\.113\.7,232\.1\.1\.2 +10\.0\.0\.6,232\.255\.0\.10 +held \(not joined\) +- +-$/m);
  assert.match(text, /^not carried: id 9 198\.51\.100\.9,232\.9\.9\.9: source not in any monitor$/m);
});

test('not connected, nothing carried, settling over', () => {
  const text = formatIngressStatus({ ...status, server: { ...status.server, connected: false, lastError: 'ECONNREFUSED' }, channels: [], skipped: [], settlingUntil: '2026-11-22T05:00:00Z' }, now);
  assert.match(text, /NOT connected .*last error: ECONNREFUSED/);
  assert.match(text, /^no channels carried$/m);
  assert.doesNotMatch(text, /settling/);
});
