// A front end that holds its own event loop (a long synchronous job: at 10⁶
// watchers, building a snapshot took seconds) finds its etcd requests'
// timers fired late when it gets the loop back. That is no sign that etcd
// did not answer: an answer that came meanwhile is read before the request
// is given up (etcd-client.ts). Before, the front end took etcd for
// unreachable and refused changes with 503 (the 10⁶ region bench's 503s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientRequest } from 'node:http';
import { EtcdClient } from '../../src/server/store/etcd-client.ts';
import { startCluster } from './region-helpers.ts';

test('an answer that came while this process held its event loop past the deadline is taken', async (t) => {
  const cluster = await startCluster(t);
  const client = new EtcdClient({ endpoints: cluster.endpoints, timeoutMs: 300 });
  t.after(() => client.close());
  await client.put('/held/key', 'value');
  // Once the read is on the wire (its timer armed), this process holds its loop for ten deadlines.
  const inner = client as unknown as { rawRequest: (...args: unknown[]) => ClientRequest };
  const rawRequest = inner.rawRequest.bind(client);
  let held = false;
  inner.rawRequest = (...args: unknown[]) => {
    const req = rawRequest(...args);
    if (!held) {
      held = true;
      req.once('finish', () => {
        const until = performance.now() + 1500;
        while (performance.now() < until) {
          // etcd answers meanwhile; this process reads it only afterwards
        }
      });
    }
    return req;
  };
  const kv = await client.get('/held/key');
  assert.ok(held);
  assert.equal(kv?.value.toString(), 'value');
});
