// Thousands of malformed requests (seeded, bounded): the server stays up,
// never answers 5xx, and the state of a known watcher is unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSeededRandom } from '../../src/server/state/pool.ts';
import { client, joinsBody, monitorsBody, newWatcher, req, startServer } from './helpers.ts';
import { connect as netConnect } from 'node:net';

const COUNT = 3000;

test('fuzz: malformed requests leave the server up and the state unchanged', async (t) => {
  const server = await startServer(t, ['--insecure', '--api-root', '/mnat-ds']);
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  const ing = await newWatcher(http);
  await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [['192.0.2.1', '232.1.1.1'], ['2001:db8::1', 'ff3e::8000:1']]));
  await req(http, 'PUT', `/restconf/data/ietf-mnat:ingress-watching/watcher=${ing}`, monitorsBody(ing, ['0.0.0.0/0']));
  const snapshot = async () => ({
    e: (await req(http, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)).body,
    i: (await req(http, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${ing}`)).body,
    j: (await req(http, 'GET', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`)).body,
  });
  const before = await snapshot();
  const metricsBefore = (await req(http, 'GET', '/metrics')).body;
  const watchersBefore = metricsBefore.match(/mnat_watchers\{[^}]+\} \d+/g);

  const rnd = createSeededRandom(0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const junkString = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(rnd() * 0x7f))).join('');
  // for header values and query strings: printable ASCII (HTTP/2 refuses control characters at the framing layer)
  const junkPrintable = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x21 + Math.floor(rnd() * 0x5d))).join('');
  const paths = [
    `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`,
    `/restconf/data/ietf-mnat:ingress-watching/watcher=${ing}`,
    `/restconf/data/ietf-mnat:egress-global-joined`,
    `/restconf/data/ietf-mnat:ingress-watching`,
    `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`,
    '/restconf/operations/ietf-mnat:refresh-watcher-id',
    '/restconf/operations/ietf-subscribed-notifications:establish-subscription',
    '/restconf/operations/ietf-subscribed-notifications:delete-subscription',
    `/mnat-ds/data/ietf-mnat:egress-global-joined/watcher=${id}`,
    '/mnat-ds/operations/ietf-mnat:refresh-watcher-id',
    '/restconf/data/ietf-mnat:egress-global-joined/watcher=%00%ff',
    '/restconf/subscriptions/1',
  ];
  // Mutations of valid bodies that must be refused whole.
  const badValues: unknown[] = [null, true, 1e308, -1, '', 'x'.repeat(300), [], {}, [[[]]], '192.0.2.1/32', '232.1.1.1/8', '::ffff:1.2.3.4', '0.0.0.0', '224.0.0.1x', { a: 1 }];
  const mutate = (): string => {
    switch (Math.floor(rnd() * 8)) {
      case 0:
        return junkString(Math.floor(rnd() * 200));
      case 1: {
        const text = JSON.stringify(joinsBody(id, [['192.0.2.77', '232.5.5.5']]));
        const cut = Math.floor(rnd() * text.length);
        return text.slice(0, cut) + junkString(3) + text.slice(cut + 1);
      }
      case 2:
        return JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': [{ id: '1', source: pick(badValues), group: '232.5.5.5' }] }] });
      case 3:
        return JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': [{ id: pick(badValues), source: '192.0.2.1', group: pick(badValues) }] }] });
      case 4:
        return JSON.stringify({ 'ietf-mnat:watcher': pick(badValues) });
      case 5:
        return JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': pick(badValues) } });
      case 6:
        return '['.repeat(Math.floor(rnd() * 5000)) + ']'.repeat(Math.floor(rnd() * 10));
      default:
        return JSON.stringify({ 'ietf-mnat:watcher': [{ id: 'other', monitor: [{ id: 'm', 'global-source-prefix': pick(badValues) }] }] });
    }
  };
  const methods = ['GET', 'POST', 'POST', 'PUT', 'PUT', 'PUT', 'PATCH', 'PATCH', 'DELETE'] as const;
  // bodies go to the resources that take them, most of the time
  const bodyPaths = paths.filter((p) => !p.includes('assigned-channels') && !p.includes('subscriptions'));
  const statuses = new Map<number, number>();
  const batch: Promise<void>[] = [];
  for (let n = 0; n < COUNT; n++) {
    const path = rnd() < 0.7 ? pick(bodyPaths) : pick(paths);
    let method = pick(methods);
    // keep the known watcher's entries: DELETE only targets things the request cannot reach
    if (method === 'DELETE' && path.includes(`watcher=${id}`)) method = 'PATCH';
    if (method === 'DELETE' && path.includes(`watcher=${ing}`)) method = 'PUT';
    const headers: Record<string, string> = { 'content-type': pick(['application/yang-data+json', 'application/yang-data+json', 'text/plain', '', 'application/json']) };
    if (rnd() < 0.1) headers.accept = junkPrintable(10);
    if (rnd() < 0.1) headers['if-none-match'] = junkPrintable(8);
    const body = method === 'GET' ? undefined : mutate();
    batch.push(
      http.request({ method, path: path + (rnd() < 0.05 ? `?${encodeURIComponent(junkPrintable(5))}=1` : ''), headers, body }).then(
        (res) => {
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        },
        (err: Error) => {
          // A request the client library itself cannot send (e.g. a control character in a header) is not the server's failure.
          if (!/Invalid|ERR_/.test(err.message)) throw err;
        },
      ),
    );
    if (batch.length >= 50) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);

  // Raw garbage on the socket: not HTTP at all, a broken h2 preface, a bare TLS hello to a plaintext port.
  for (const payload of ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04garbage', '\x16\x03\x01\x02\x00\x01', junkString(4000)]) {
    await new Promise<void>((resolve) => {
      const s = netConnect(server.port, '127.0.0.1', () => s.end(payload));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
  }

  t.diagnostic(`statuses: ${JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))}`);
  const fiveHundreds = [...statuses].filter(([s]) => s >= 500);
  assert.deepEqual(fiveHundreds, [], `no 5xx answers: ${JSON.stringify([...statuses])}`);
  assert.ok([...statuses.values()].reduce((a, b) => a + b, 0) > COUNT * 0.9, 'most requests were answered');
  assert.deepEqual(await snapshot(), before, 'state of the known watchers unchanged');
  const metricsAfter = (await req(http, 'GET', '/metrics')).body;
  assert.deepEqual(metricsAfter.match(/mnat_watchers\{[^}]+\} \d+/g), watchersBefore, 'no watcher created or lost');
  assert.equal(server.proc.exitCode, null, 'server still running');
});
