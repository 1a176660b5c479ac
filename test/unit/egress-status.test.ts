import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatEgressStatus, redactWatcherId, type EgressStatus } from '../../src/egress/egress-status.ts';

const status: EgressStatus = {
  component: 'mnat-egress',
  version: 1,
  runtime: 'quickjs',
  pid: 812,
  startedAt: '2026-11-22T05:00:00.000Z',
  updatedAt: '2026-11-22T05:09:30.000Z',
  server: { origin: 'https://mnat.example.net:8443', connected: true, watcher: redactWatcherId('a1b2c3d4e5f6a7b8c9d0'), mode: 'push' },
  upstream: { name: 'wan', present: true, ifindex: 7, attached: true },
  downstream: { name: 'br-lan', present: true, ifindex: 4, membership: 'snooping table' },
  channels: [
    { global: '23.212.185.4,232.1.1.1', holders: ['mdb:lan1', 'mdb:lan2'], local: '10.9.0.1,239.1.0.1', id: 7, status: 'active', packets: 1200, bytes: 1612800 },
    { global: '2001:db8::1,ff3e::8000:1', holders: ['control-file:line 3'], local: null, id: null, status: 'waiting', note: 'not yet known to the server' },
  ],
  counters: { reconciles: 5, actions: 4, failures: 0, lanJoins: 2, lanLeaves: 0, ignoredAsm: 1, drops: { ttl: 0 } },
};

test('the watcher id is redacted to a prefix', () => {
  assert.equal(redactWatcherId('a1b2c3d4e5f6a7b8c9d0'), 'a1b2c3…');
  assert.equal(redactWatcherId('short'), '…');
  assert.equal(redactWatcherId(null), null);
});

test('status for people: header lines and an aligned channel table', () => {
  const text = formatEgressStatus(status, Date.parse('2026-11-22T05:10:00.000Z'));
  const lines = text.split('\n');
  assert.match(lines[0]!, /^mnat-egress \(quickjs, pid 812\) started 10m ago, updated 30s ago$/);
  assert.match(text, /server {5}https:\/\/mnat\.example\.net:8443 {2}connected \(push\) {2}watcher a1b2c3…/);
  assert.match(text, /upstream {3}wan \(ifindex 7\) {2}translator attached/);
  const head = lines.findIndex((l) => l.startsWith('GLOBAL'));
  assert.ok(head > 0);
  const col = lines[head]!.indexOf('LOCAL');
  assert.equal(lines[head + 1]!.indexOf('10.9.0.1,239.1.0.1'), col);
  assert.match(lines[head + 2]!, /waiting +- +- +control-file:line 3 {2}\(not yet known to the server\)$/);
});

test('missing devices and no channels', () => {
  const text = formatEgressStatus({ ...status, channels: [], upstream: { name: 'wan', present: false, ifindex: null, attached: false }, server: { ...status.server, connected: false, lastError: 'ECONNREFUSED' } }, Date.parse(status.updatedAt));
  assert.match(text, /upstream {3}wan MISSING\n/);
  assert.match(text, /NOT connected {2}watcher a1b2c3… {2}last error: ECONNREFUSED/);
  assert.match(text, /no channels joined/);
});
