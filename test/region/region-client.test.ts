// The client side of a region, without servers: the failover transport sticks
// to one front end, moves on after a transport failure or a 503 (once per
// failure, even when several requests fail together), and the agents take
// several servers on the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverTransport } from '../../src/client/failover-transport.ts';
import { createVirtualTime } from '../unit/fixtures/virtual-time.ts';
import { RequestInterrupted, type Host, type HttpRequest, type HttpResponse, type HttpStreamHandlers, type HttpTarget, type HttpTransport } from '../../src/host/host.ts';
import { parseEgressArgs, resolveEgressSettings } from '../../src/egress/config/egress-options.ts';
import { parseIngressOptions } from '../../src/ingress/ingress-options.ts';

type Behaviour = 'ok' | 'fail' | '503' | 'interrupted';

/** A host whose transports answer as told, per origin, and record who was asked. */
function fakeHost(): { host: Host; behave: Map<string, Behaviour>; asked: string[]; closed: string[] } {
  const behave = new Map<string, Behaviour>();
  const asked: string[] = [];
  const closed: string[] = [];
  const transport = (target: HttpTarget): HttpTransport => ({
    async request(_req: HttpRequest): Promise<HttpResponse> {
      asked.push(target.origin);
      await new Promise((r) => setImmediate(r));
      const b = behave.get(target.origin) ?? 'ok';
      if (b === 'fail') throw new Error(`connect ECONNREFUSED ${target.origin}`);
      if (b === 'interrupted') throw new RequestInterrupted(`GET /: curl killed by signal 15`);
      return { status: b === '503' ? 503 : 200, headers: {}, body: '' };
    },
    stream(_req: HttpRequest, h: HttpStreamHandlers) {
      asked.push(`stream ${target.origin}`);
      h.onResponse(200, {});
      return { close() {} };
    },
    close() {
      closed.push(target.origin);
    },
  });
  return { host: { httpTransport: transport } as unknown as Host, behave, asked, closed };
}

const GET: HttpRequest = { method: 'GET', path: '/restconf' };

test('the failover transport sticks to one front end and moves on after a failure or a 503', async () => {
  const { host, behave, asked, closed } = fakeHost();
  const random = Math.random;
  Math.random = () => 0;
  const t = serverTransport(host, { origin: 'https://a:1,https://b:2,https://c:3' });
  Math.random = random;
  await t.request(GET);
  await t.request(GET);
  assert.deepEqual(asked.splice(0), ['https://a:1', 'https://a:1'], 'sticks while it works');
  behave.set('https://a:1', 'fail');
  await assert.rejects(t.request(GET), /ECONNREFUSED/);
  await t.request(GET);
  assert.deepEqual(asked.splice(0), ['https://a:1', 'https://b:2'], 'the retry goes to the next one');
  behave.set('https://b:2', 'interrupted');
  await assert.rejects(t.request(GET), RequestInterrupted);
  behave.delete('https://b:2');
  await t.request(GET);
  assert.deepEqual(asked.splice(0), ['https://b:2', 'https://b:2'], 'a stop signal to our own curl is no reason to move');
  behave.set('https://b:2', '503');
  assert.equal((await t.request(GET)).status, 503, 'a 503 is handed to the caller');
  await t.request(GET);
  assert.deepEqual(asked.splice(0), ['https://b:2', 'https://c:3'], '…and the next request goes elsewhere');
  // Three requests in flight on c fail together: one move, not three.
  behave.set('https://c:3', 'fail');
  await Promise.allSettled([t.request(GET), t.request(GET), t.request(GET)]);
  behave.delete('https://a:1');
  t.stream(GET, { onResponse() {}, onData() {}, onEnd() {} });
  assert.equal(asked.pop(), 'stream https://a:1', 'moved once, from c to a (wrapping around)');
  t.close();
  assert.deepEqual(closed.sort(), ['https://a:1', 'https://b:2', 'https://c:3']);
});

test('a fleet spreads over the front ends: the start is random', () => {
  const starts = new Set<string>();
  for (const r of [0, 0.34, 0.67, 0.99]) {
    const { host, asked } = fakeHost();
    const random = Math.random;
    Math.random = () => r;
    const t = serverTransport(host, { origin: 'https://a:1,https://b:2,https://c:3' });
    Math.random = random;
    t.stream(GET, { onResponse() {}, onData() {}, onEnd() {} });
    starts.add(asked[0] as string);
  }
  assert.equal(starts.size, 3);
});

test('a DNS-SD list: tried in order; after no answer for a while it is looked up again and replaced, keeping the client on a server it still lists', async () => {
  const { host: base, behave, asked, closed } = fakeHost();
  const time = createVirtualTime();
  const logged: string[] = [];
  const log = { debug() {}, info: (m: string) => void logged.push(m), warn: (m: string) => void logged.push(m), error() {} };
  const host = { ...base, log, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout, now: time.now } as Host;
  let dns = ['https://a:1', 'https://b:2'];
  let lookups = 0;
  const lookup = async (): Promise<string[]> => {
    lookups++;
    if (dns.length === 0) throw new Error('busybox nslookup: timed out');
    return dns;
  };
  const t = serverTransport(host, { origin: 'https://a:1,https://b:2' }, { inOrder: true, rediscover: { afterMs: 30_000, lookup } });
  await t.request(GET);
  assert.deepEqual(asked.splice(0), ['https://a:1'], 'in SRV order: the first one first');
  // a fails: the client moves to b and nothing answers for 30 s (no requests meanwhile); DNS now lists c and b.
  behave.set('https://a:1', 'fail');
  dns = ['https://c:3', 'https://b:2'];
  await assert.rejects(t.request(GET));
  await time.advance(29_000);
  assert.equal(lookups, 0, 'not before 30 s without an answer');
  await time.advance(1_000);
  assert.equal(lookups, 1);
  assert.deepEqual(logged, ['DNS-SD: the servers changed']);
  assert.deepEqual(closed, ['https://a:1'], 'the server DNS no longer lists is closed; b keeps its connection');
  asked.splice(0);
  await t.request(GET);
  assert.deepEqual(asked.splice(0), ['https://b:2'], 'the client was on b, which DNS still lists: it stays');
  behave.set('https://b:2', 'fail');
  await assert.rejects(t.request(GET));
  assert.equal((await t.request(GET)).status, 200);
  assert.deepEqual(asked.splice(0), ['https://b:2', 'https://c:3'], 'b fails: on to c, the new one');
  // c answered: no more lookups, however long.
  await time.advance(600_000);
  assert.equal(lookups, 1, 'no lookups while a server answers');
  // Failing again, with DNS failing too: the list stays, lookups go on with backoff (≤ 60 s apart).
  behave.set('https://c:3', 'fail');
  dns = [];
  await assert.rejects(t.request(GET));
  await time.advance(30_000 + 4 * 60_000);
  assert.ok(lookups >= 1 + 4, `looked up again with backoff (${lookups - 1} times)`);
  assert.equal(logged.filter((l) => l.startsWith('DNS-SD: looking the servers up again failed')).length, lookups - 1);
  t.close();
  assert.equal(time.pending(), 0, 'close stops the lookups');
});

test('the agents take a region\'s front ends, comma-separated', () => {
  const p = parseEgressArgs(['--upstream-interface', 'wan', '--downstream-interface', 'br-lan', '--server', 'https://fe1.example.net,fe2.example.net,[2001:db8::2]', '--port', '9443']);
  assert.equal(p.command, 'run');
  if (p.command !== 'run') return;
  const s = resolveEgressSettings(p.args, null, { joinBackend: 'socket' }, '/etc/config/mnat');
  assert.equal(s.target.origin, 'https://fe1.example.net:9443,https://fe2.example.net:9443,https://[2001:db8::2]:9443');
  const i = parseIngressOptions(['--upstream-interface', 'up0', '--downstream-interface', 'core0', '--server', 'fe1:8443,fe2:9443,2001:db8::3,[2001:db8::4]:7443']);
  assert.ok(!i.help && i.command === undefined);
  if (i.help || i.command !== undefined) return;
  assert.equal(i.options.target.origin, 'https://fe1:8443,https://fe2:9443,https://[2001:db8::3]:8443,https://[2001:db8::4]:7443');
});

test('mnat-server region flags: one line naming the flag for each mistake', async () => {
  const { parseServerOptions } = await import('../../src/server/options.ts');
  const base = ['--insecure'];
  const ok = parseServerOptions([...base, '--store', 'etcd://10.0.0.1:2379,10.0.0.2:2379/east', '--frontend-id', 'fe-1', '--frontend-lease', '5']);
  assert.ok(ok !== 'help' && ok.store.kind === 'etcd');
  if (ok.store.kind !== 'etcd') return;
  assert.deepEqual(ok.store.location, { endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], prefix: '/mnat/east/', region: 'east' });
  assert.equal(ok.store.frontendId, 'fe-1');
  assert.equal(ok.store.leaseTtlS, 5);
  const dflt = parseServerOptions([...base, '--store', 'etcd://h:1']);
  assert.ok(dflt !== 'help' && dflt.store.kind === 'etcd' && /^[A-Za-z0-9._-]+-[0-9a-f]{6}$/.test(dflt.store.frontendId), 'a default id: host and a random suffix');
  for (const [args, message] of [
    [['--store', 'etcd://h:1', '--state-dir', '/tmp/x'], /exclude each other/],
    [['--store', 'http://h:1'], /--store: .*etcd:\/\//],
    [['--etcd-cacert', '/etc/hosts'], /need --store/],
    [['--store', 'etcd://h:1', '--etcd-cert', '/etc/hosts', '--etcd-key', '/etc/hosts'], /--etcd-cert needs --etcd-cacert/],
    [['--store', 'etcd://h:1', '--etcd-cacert', '/nonexistent/ca.pem'], /--etcd-cacert \/nonexistent\/ca.pem:/],
    [['--frontend-id', 'a'], /--frontend-id needs --store/],
    [['--store', 'etcd://h:1', '--frontend-id', 'a/b'], /--frontend-id "a\/b"/],
  ] as const) {
    assert.throws(() => parseServerOptions([...base, ...args]), message as RegExp);
  }
});

test('a DNS-SD list of one whose server died: the new list is tried from its first server, not from the dead one it still lists', async () => {
  const { host: base, behave, asked } = fakeHost();
  const time = createVirtualTime();
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const host = { ...base, log, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout, now: time.now } as Host;
  let dns = ['https://a:1'];
  let changes = 0;
  const t = serverTransport(host, { origin: 'https://a:1' }, { inOrder: true, rediscover: { afterMs: 30_000, lookup: async () => dns }, onChanged: () => changes++ });
  await t.request(GET);
  // a fails and DNS still lists only a: looked up, nothing changed, nobody told.
  behave.set('https://a:1', 'fail');
  await assert.rejects(t.request(GET));
  await time.advance(30_000);
  assert.equal(changes, 0);
  // The operator moves the service: DNS lists b first and a after it; a stays dead.
  dns = ['https://b:2', 'https://a:1'];
  await time.advance(60_000);
  assert.equal(changes, 1, 'the new list is told (the watcher client then retries at once)');
  asked.splice(0);
  assert.equal((await t.request(GET)).status, 200);
  assert.deepEqual(asked, ['https://b:2'], 'the first request after the lookup goes to b');
  t.close();
});
