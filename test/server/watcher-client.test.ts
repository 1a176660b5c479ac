// The shared watcher client against the real server: push, long polling,
// and recovery when the server forgets the watcher (restart without state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWatcherClient, EGRESS_ROLE, INGRESS_ROLE, type WatcherStatus } from '../../src/client/watcher-client.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Logger } from '../../src/host/host.ts';
import { client, eventually, startServer, tlsArgs } from './helpers.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Collects events; next(pred) resolves with the first (past or future) event matching pred. */
function recorder<T>() {
  const seen: T[] = [];
  const waiters: Array<{ pred: (v: T) => boolean; resolve: (v: T) => void; from: number }> = [];
  return {
    seen,
    push(v: T) {
      seen.push(v);
      for (const w of waiters.slice()) if (w.pred(v)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(v);
      }
    },
    next(pred: (v: T) => boolean, timeoutMs = 8000, fromIndex = 0): Promise<T> {
      const hit = seen.slice(fromIndex).find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; seen ${JSON.stringify(seen.slice(-3))}`)), timeoutMs);
        waiters.push({ pred, from: fromIndex, resolve: (v) => (clearTimeout(timer), resolve(v)) });
      });
    },
  };
}

for (const push of [true, false]) {
  test(`watcher client (${push ? 'push' : 'long polling'}): egress joins reach the ingress and come back mapped`, async (t) => {
    const server = await startServer(t, tlsArgs());
    const host = createNodeHost(quiet);
    const egress = createWatcherClient({ host, transport: client(t, server.origin, undefined), role: EGRESS_ROLE, push });
    const ingress = createWatcherClient({ host, transport: client(t, server.origin, undefined), role: INGRESS_ROLE, push });
    const eAssign = recorder<MappedChannel[]>();
    const iAssign = recorder<MappedChannel[]>();
    const eStatus = recorder<WatcherStatus>();
    egress.on('assignments', (a) => eAssign.push(a));
    ingress.on('assignments', (a) => iAssign.push(a));
    egress.on('status', (s) => eStatus.push(s));
    t.after(() => Promise.all([egress.stop(), ingress.stop()]));
    ingress.setDesired(['192.0.2.0/24', '2001:db8::/32']);
    ingress.start();
    egress.start();
    egress.setDesired([{ source: '192.0.2.1', group: '232.1.1.1' }, { source: '2001:db8::5', group: 'ff3e::1234' }, { source: '203.0.113.1', group: '232.3.3.3' }]);
    const mapped = await eAssign.next((a) => a.length === 3 && a.every((c) => c.state === 'assigned'));
    const viaIngress = await iAssign.next((a) => a.length === 2);
    const v4 = mapped.find((c) => c.global.group === '232.1.1.1');
    assert.deepEqual(viaIngress.find((c) => c.global.group === '232.1.1.1'), v4);
    const st = await eStatus.next((s) => s.connected && s.watcherId !== null);
    assert.equal(st.mode, push ? 'push' : 'long-poll');
    // a leave is seen by both
    const mark = iAssign.seen.length;
    egress.setDesired([{ source: '203.0.113.1', group: '232.3.3.3' }]);
    await eAssign.next((a) => a.length === 1);
    await iAssign.next((a) => a.length === 0, 8000, mark);
  });
}

test('watcher client: server restart without state → new id, joins PUT again', async (t) => {
  const s1 = await startServer(t, ['--insecure']);
  const host = createNodeHost(quiet);
  const transport = client(t, s1.origin);
  const egress = createWatcherClient({ host, transport, role: EGRESS_ROLE, backoffInitialMs: 50, backoffMaxMs: 300 });
  const assign = recorder<MappedChannel[]>();
  const status = recorder<WatcherStatus>();
  egress.on('assignments', (a) => assign.push(a));
  egress.on('status', (s) => status.push(s));
  t.after(() => egress.stop());
  egress.setDesired([{ source: '192.0.2.1', group: '232.1.1.1' }]);
  egress.start();
  await assign.next((a) => a.length === 1);
  const firstId = (await status.next((s) => s.watcherId !== null)).watcherId;
  await s1.stop('SIGKILL');
  await status.next((s) => !s.connected);
  await startServer(t, ['--insecure', '--listen', `127.0.0.1:${s1.port}`]);
  const again = await status.next((s) => s.connected && s.watcherId !== null && s.watcherId !== firstId, 15_000);
  assert.notEqual(again.watcherId, firstId);
  // the new server assigned the join again (the list is emitted once it differs or re-arrives)
  const http = client(t, `http://localhost:${s1.port}`);
  await eventually(async () => {
    const r = await http.request({ method: 'GET', path: `/restconf/data/ietf-mnat:egress-global-joined/watcher=${again.watcherId}` });
    return r.status === 200 && r.body.includes('232.1.1.1');
  }, 5000, 'the joins PUT again under the new id');
});
