// The receiver with DNS-SD over a region (several SRV targets, scripted front
// ends sharing one watcher table, virtual time): a dead first target is
// passed over at once, not after the 30 s re-lookup; when every server it
// knows stops answering it asks DNS-SD again and moves to the servers DNS now
// names, the local socket staying joined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MnatReceiver } from '../../src/receiver/receiver.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Host, HttpRequest, HttpResponse, HttpStreamHandlers, HttpTarget, HttpTransport } from '../../src/host/host.ts';
import type { MnatService } from '../../src/core/dns-sd.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const CHANNEL = { source: '23.212.185.4', group: '232.1.1.1' };

/** Front ends of one region, by origin: up or down, with the push streams they opened. */
function region() {
  const down = new Set<string>();
  const streams: Array<{ origin: string; h: HttpStreamHandlers }> = [];
  let ids = 0;
  const transport = (target: HttpTarget): HttpTransport => ({
    async request(req: HttpRequest): Promise<HttpResponse> {
      if (down.has(target.origin)) throw new Error(`${req.method} ${req.path}: connect ECONNREFUSED ${target.origin}`);
      if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': `w${++ids}`, 'refresh-period': 60 } }) };
      if (req.path.endsWith('establish-subscription')) {
        return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-subscribed-notifications:output': { id: 1, 'ietf-restconf-subscribed-notifications:uri': '/restconf/subscriptions/1.x' } }) };
      }
      return { status: 204, headers: {}, body: '' };
    },
    stream(_req: HttpRequest, h: HttpStreamHandlers) {
      if (down.has(target.origin)) queueMicrotask(() => h.onEnd(new Error(`connect ECONNREFUSED ${target.origin}`)));
      else {
        streams.push({ origin: target.origin, h });
        h.onResponse(200, {});
      }
      return { close() {} };
    },
    close() {},
  });
  /** The mapping of CHANNEL, pushed on the newest stream. */
  const pushMapping = (): void => {
    const s = streams[streams.length - 1]!;
    const entry = { id: 1, state: 'ietf-mnat:assigned-local-multicast', 'global-subscription': CHANNEL, 'local-mapping': { source: '10.0.0.24', group: '232.255.0.158' } };
    s.h.onData(`data: ${JSON.stringify({ 'ietf-restconf:notification': { 'ietf-yang-push:push-update': { 'datastore-contents': { 'ietf-mnat:assigned-channels': { watcher: [{ id: `w${ids}`, 'mapped-sg': [entry] }] } } } } })}\n\n`);
  };
  return { down, streams, transport, pushMapping };
}

function service(...ports: number[]): MnatService {
  const targets = ports.map((port) => ({ host: 'mnat.isp.example', port }));
  return { instance: 'mnat._mnat._tcp.isp.example', host: targets[0]!.host, port: targets[0]!.port, targets, apiRoot: '/restconf', domain: 'isp.example' };
}

function receiverOn(r: ReturnType<typeof region>, discover: () => Promise<MnatService>) {
  const time = createVirtualTime();
  const logged: string[] = [];
  const log = { debug() {}, info: (m: string) => void logged.push(m), warn: (m: string) => void logged.push(m), error: (m: string) => void logged.push(m) };
  const host: Host = { ...createNodeHost(log), log, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout, now: time.now, wallClock: time.wallClock, httpTransport: r.transport };
  const links: Array<{ open: boolean }> = [];
  const rx = new MnatReceiver({
    ...CHANNEL,
    port: 5000,
    host,
    discover,
    openLink() {
      const l = { open: true };
      links.push(l);
      return { close: () => void (l.open = false) };
    },
  });
  const mapped: string[] = [];
  rx.on('mapped', (m) => mapped.push('asmGroup' in m.local ? '' : m.local.group));
  return { rx, time, logged, links, mapped };
}

test('DNS-SD names two front ends and the first is down: the receiver uses the second at once, well before a re-lookup', async () => {
  const r = region();
  let lookups = 0;
  const { rx, time, mapped } = receiverOn(r, async () => (lookups++, service(8443, 8444)));
  r.down.add('https://mnat.isp.example:8443');
  await rx.open();
  assert.deepEqual(rx.server?.origins, ['https://mnat.isp.example:8443', 'https://mnat.isp.example:8444']);
  await time.until('a push stream on the second front end', () => r.streams.length === 1, 10_000);
  assert.equal(r.streams[0]!.origin, 'https://mnat.isp.example:8444');
  assert.ok(time.now() < 5_000, `on the second front end after ${time.now()} ms of backoff`);
  r.pushMapping();
  assert.deepEqual(mapped, ['232.255.0.158']);
  assert.equal(lookups, 1);
  await rx.close();
});

test('every server it knows stops answering: after 30 s it asks DNS-SD again and moves to the servers DNS names now; the socket stays joined', async () => {
  const r = region();
  let dns = service(8443);
  let lookups = 0;
  const { rx, time, logged, links, mapped } = receiverOn(r, async () => (lookups++, dns));
  await rx.open();
  await time.until('a push stream', () => r.streams.length === 1, 5_000);
  r.pushMapping();
  assert.deepEqual(mapped, ['232.255.0.158']);
  // The operator replaces the front end: DNS now names 8445 and 8446; 8443 dies.
  dns = service(8445, 8446);
  r.down.add('https://mnat.isp.example:8443');
  r.streams[0]!.h.onEnd(new Error('stream reset'));
  await time.advance(29_000);
  assert.equal(lookups, 1, 'no re-lookup before 30 s without an answer');
  await time.until('a push stream on a new front end', () => r.streams.length === 2, 5_000);
  assert.equal(lookups, 2);
  assert.equal(r.streams[1]!.origin, 'https://mnat.isp.example:8445');
  assert.ok(logged.includes('DNS-SD points to other servers; moving the watcher'), logged.join('\n'));
  r.pushMapping();
  assert.deepEqual(mapped, ['232.255.0.158'], 'the same mapping: no new event');
  assert.deepEqual(links.map((l) => l.open), [true], 'one socket, joined all along');
  await rx.close();
});
