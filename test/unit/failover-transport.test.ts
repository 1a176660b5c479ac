// serverTransport's DNS-SD re-lookup (src/client/failover-transport.ts) on
// virtual time, with transports that never connect: what counts as a change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sameServers, serverTransport } from '../../src/client/failover-transport.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Host, HttpTransport, Logger } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

test('sameServers: the same origins in any order', () => {
  assert.equal(sameServers(['https://a:1', 'https://b:1'], ['https://b:1', 'https://a:1']), true);
  assert.equal(sameServers(['https://a:1', 'https://b:1'], ['https://a:1', 'https://c:1']), false);
  assert.equal(sameServers(['https://a:1'], ['https://a:1', 'https://b:1']), false);
});

test('a re-lookup that gives the same servers shuffled (equal-priority SRV) is no change; another set is', async () => {
  const time = createVirtualTime();
  const logs: string[] = [];
  const log: Logger = { debug() {}, info: (m) => void logs.push(m), warn() {}, error() {} };
  const tried: string[] = [];
  const refused = (origin: string): HttpTransport => ({
    request: async () => {
      tried.push(origin);
      throw new Error('connect ECONNREFUSED');
    },
    stream: () => ({ close() {} }),
    close() {},
  });
  const host: Host = { ...createNodeHost(log), now: time.now, wallClock: time.wallClock, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout, httpTransport: (t) => refused(t.origin) };
  const answers = [['https://b:1', 'https://a:1'], ['https://a:1', 'https://b:1'], ['https://b:1', 'https://c:1']];
  let lookups = 0;
  let changed = 0;
  const transport = serverTransport(host, { origin: 'https://a:1,https://b:1' }, {
    inOrder: true,
    rediscover: { afterMs: 1000, lookup: async () => answers[Math.min(lookups++, answers.length - 1)]! },
    onChanged: () => void changed++,
  });
  const request = () => transport.request({ method: 'GET', path: '/' }).catch(() => undefined);
  await request();
  await time.until('two shuffled lookups', () => lookups === 2, 600_000);
  assert.equal(changed, 0, 'a new order alone is no change');
  assert.ok(!logs.includes('DNS-SD: the servers changed'));
  await request();
  assert.deepEqual(tried, ['https://a:1', 'https://b:1'], 'failing over along the list as it was');
  await time.until('a lookup with another server', () => lookups === 3, 600_000);
  assert.equal(changed, 1);
  assert.ok(logs.includes('DNS-SD: the servers changed'));
  transport.close();
});
