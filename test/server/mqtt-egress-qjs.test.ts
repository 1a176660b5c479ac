// The egress's MQTT feed under the real qjs, as on the router: curl to the
// real server (mTLS) for the joins, mosquitto_sub to a real mosquitto run with
// the shipped configuration for the mappings. Forged and malformed payloads
// change nothing; a broker outage falls back to RESTCONF push and back; a
// broker that refuses the CPE's certificate is a clear error and push.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from '../qjs/qjs-binary.ts';
import { ROOT, startServer, tempDir, type ServerProc } from './helpers.ts';
import { metric, publishOnce, startBroker } from './mqtt-helpers.ts';
import { createNodeHttpTransport } from '../../src/host/node-http.ts';
import { mappingPayload, mappingTopic } from '../../src/protocol/mqtt-mapping.ts';
import type { Mosquitto } from '../../lab/mosquitto.ts';

type After = { after(fn: () => unknown): void };
const A = { source: '192.0.2.1', group: '232.1.1.1' };
const B = { source: '192.0.2.2', group: '232.1.1.2' };

function makeCerts(t: After, ...cns: string[]): string {
  const dir = tempDir(t, 'mnat-mqtt-certs-');
  const r = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), dir, 'localhost', ...cns], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

interface Probe {
  events: Array<{ event: string; value: any }>;
  stderr: string[];
  waitFor(pred: (e: { event: string; value: any }) => boolean, timeoutMs: number, what: string): Promise<{ event: string; value: any }>;
  /** The first stderr line matching re, now or later. */
  waitForLog(re: RegExp, timeoutMs: number): Promise<string>;
  send(line: string): void;
}

async function startProbe(t: After, server: ServerProc, certs: string, client: string, url: string): Promise<Probe> {
  const bundle = join(tempDir(t), 'mqtt-feed-probe.js');
  await bundleQuickjs(join(ROOT, 'test/server/fixtures/mqtt-feed-probe.ts'), bundle);
  const child = spawn(findOrBuildQjs(), [bundle, `https://localhost:${server.port}`, join(certs, 'ca.pem'), join(client, 'egress.pem'), join(client, 'egress.key'), url], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const events: Probe['events'] = [];
  const stderr: string[] = [];
  const waiters: Array<() => void> = [];
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      events.push(JSON.parse(out.slice(0, nl)));
      out = out.slice(nl + 1);
    }
    for (const w of waiters.slice()) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr.push(...d.split('\n').filter(Boolean));
    for (const w of waiters.slice()) w();
  });
  /** The first hit of find(), now or after more output (stdout and stderr are read separately: either may come first). */
  const waitUntil = <T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = find();
        if (hit === undefined) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`probe: no ${what} within ${timeoutMs} ms\n${events.map((e) => JSON.stringify(e)).join('\n')}\n${stderr.join('\n')}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(check), 1);
      };
      waiters.push(check);
      check();
    });
  const probe: Probe = {
    events,
    stderr,
    send: (line) => child.stdin.write(line + '\n'),
    waitFor: (pred, timeoutMs, what) => waitUntil(() => events.find(pred), timeoutMs, what),
    waitForLog: (re, timeoutMs) => waitUntil(() => stderr.find((l) => re.test(l)), timeoutMs, `log line ${re}`),
  };
  await probe.waitFor((e) => e.event === 'started', 10_000, 'start');
  return probe;
}

/** The server (mTLS) publishing to the broker as mnat-server. */
async function serverWithBroker(t: After, certs: string, brokerUrl: string): Promise<ServerProc> {
  return startServer(t, [
    '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--client-ca', join(certs, 'ca.pem'), '--require-client-cert',
    '--mqtt', `${brokerUrl}/mnat`, '--mqtt-cacert', join(certs, 'ca.pem'), '--mqtt-cert', join(certs, 'mnat-server.pem'), '--mqtt-key', join(certs, 'mnat-server.key'),
  ]);
}

async function tlsBroker(t: After, certs: string): Promise<{ broker: Mosquitto; url: string }> {
  const broker = await startBroker(t, { tls: { ca: join(certs, 'ca.pem'), cert: join(certs, 'server.pem'), key: join(certs, 'server.key') } });
  return { broker, url: broker.url.replace('127.0.0.1', 'localhost') };
}

async function metricsOf(server: ServerProc, certs: string): Promise<string> {
  const http = createNodeHttpTransport({ origin: `https://localhost:${server.port}`, caFile: join(certs, 'ca.pem'), certFile: join(certs, 'mnat-server.pem'), keyFile: join(certs, 'mnat-server.key') });
  try {
    return (await http.request({ method: 'GET', path: '/metrics' })).body;
  } finally {
    http.close();
  }
}

const mappedA = (e: { event: string; value: any }): boolean => e.event === 'assignments' && e.value.length === 1 && String(e.value[0]).startsWith(`${A.source},${A.group}>assigned>`);

test('qjs egress over MQTT: the join goes by RESTCONF, the mapping comes by mosquitto_sub; forged and malformed payloads change nothing', async (t) => {
  const certs = makeCerts(t, 'mnat-server', 'egress');
  const { url } = await tlsBroker(t, certs);
  const server = await serverWithBroker(t, certs, url);
  const probe = await startProbe(t, server, certs, certs, `${url}/mnat`);
  probe.send(`desire ${A.source},${A.group}`);
  const got = await probe.waitFor(mappedA, 20_000, 'A mapped');
  await probe.waitFor((e) => e.event === 'status' && e.value === 'mqtt', 10_000, 'status mqtt');
  const real = String(got.value[0]);
  const m = await metricsOf(server, certs);
  assert.equal(metric(m, 'mnat_push_subscriptions'), 0, 'no push subscription: the mapping came over MQTT');
  assert.equal(metric(m, 'mnat_push_subscribers'), 0);

  // Someone holding the server's credentials writes garbage and a forged
  // mapping (another channel's, and one that moves A) on A's topic.
  const topic = mappingTopic('mnat', A);
  const tls = { ca: join(certs, 'ca.pem'), cert: join(certs, 'mnat-server.pem'), key: join(certs, 'mnat-server.key') };
  const before = probe.events.length;
  await publishOnce(url, topic, '{"ietf-mnat:mapped-sg":[{"id":"x"}]}', { tls });
  await publishOnce(url, topic, 'not json at all', { tls });
  await publishOnce(url, topic, mappingPayload({ id: 9, global: B, state: 'assigned', local: { source: B.source, group: '232.9.9.9' } }), { tls });
  const ignored = (): string[] => probe.stderr.filter((l) => l.includes('MQTT: bad mapping message ignored'));
  const deadline = Date.now() + 10_000;
  while (ignored().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(ignored().length, 3, probe.stderr.join('\n'));
  assert.ok(ignored().some((l) => l.includes("not the topic's channel")), ignored().join('\n'));
  // A well-formed payload for A that moves it is a real change for a subscriber; the
  // server (no-local subscription) puts its own mapping back at once.
  await publishOnce(url, topic, mappingPayload({ id: 9, global: A, state: 'assigned', local: { source: A.source, group: '232.9.9.9' } }), { tls });
  await server.waitForLine(/restoring a mapping someone else overwrote/, 10_000);
  await probe.waitFor((e, i = probe.events.indexOf(e)) => i > before && e.event === 'assignments' && e.value[0] === real && probe.events.slice(before, i).some((x) => x.event === 'assignments' && x.value[0] !== real), 10_000, 'A restored');
  const after = probe.events.slice(before).filter((e) => e.event === 'assignments').map((e) => e.value[0]);
  assert.deepEqual(after.filter((v) => v !== real), [`${A.source},${A.group}>assigned>232.9.9.9`], 'only the well-formed rewrite of A got through, and only until the server restored it');
  probe.send('exit');
});

test('qjs egress: the broker goes away → RESTCONF push until it is back, then MQTT again', async (t) => {
  const certs = makeCerts(t, 'mnat-server', 'egress');
  const { broker, url } = await tlsBroker(t, certs);
  const server = await serverWithBroker(t, certs, url);
  const probe = await startProbe(t, server, certs, certs, `${url}/mnat`);
  probe.send(`desire ${A.source},${A.group}`);
  await probe.waitFor(mappedA, 20_000, 'A mapped');
  await probe.waitFor((e) => e.event === 'status' && e.value === 'mqtt', 10_000, 'status mqtt');

  await broker.kill();
  // The keep-alive (5 s) goes unanswered: down within 1.5 keep-alives.
  await probe.waitFor((e) => e.event === 'status' && e.value === 'push, MQTT down', 20_000, 'fallback to push');
  await probe.waitForLog(/MQTT broker unreachable; RESTCONF push until it is back/, 5000);
  // A new join while the broker is away: its mapping comes by push.
  const mark = probe.events.length;
  probe.send(`desire ${A.source},${A.group} ${B.source},${B.group}`);
  await probe.waitFor((e) => probe.events.indexOf(e) > mark && e.event === 'assignments' && e.value.length === 2 && e.value.every((v: string) => v.includes('>assigned>')), 20_000, 'B mapped by push');
  assert.ok((metric(await metricsOf(server, certs), 'mnat_push_subscriptions') ?? 0) >= 1, 'the egress follows the server by push');

  await broker.start();
  await probe.waitFor((e) => probe.events.indexOf(e) > mark && e.event === 'status' && e.value === 'mqtt', 40_000, 'back on MQTT');
  // Push is let go: the server ends the subscription with its stream.
  const deadline = Date.now() + 10_000;
  while (metric(await metricsOf(server, certs), 'mnat_push_subscriptions') !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(metric(await metricsOf(server, certs), 'mnat_push_subscriptions'), 0);
  probe.send('exit');
});

test('qjs egress: a broker that refuses the CPE certificate is a clear error, and the mapping comes by RESTCONF push', async (t) => {
  const certs = makeCerts(t, 'mnat-server', 'egress');
  const stranger = makeCerts(t, 'egress'); // a certificate of another CA: the broker refuses it
  const { url } = await tlsBroker(t, certs);
  // A server that does not ask for client certificates: only the broker judges the stranger's.
  const server = await startServer(t, [
    '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'),
    '--mqtt', `${url}/mnat`, '--mqtt-cacert', join(certs, 'ca.pem'), '--mqtt-cert', join(certs, 'mnat-server.pem'), '--mqtt-key', join(certs, 'mnat-server.key'),
  ]);
  const probe = await startProbe(t, server, certs, stranger, `${url}/mnat`);
  probe.send(`desire ${A.source},${A.group}`);
  await probe.waitFor((e) => e.event === 'status' && e.value === 'push, MQTT down', 20_000, 'fallback');
  await probe.waitFor(mappedA, 20_000, 'A mapped by push');
  const line = probe.stderr.find((l) => l.includes('MQTT broker unreachable'));
  // mosquitto_sub itself says "tlsv1 alert unknown ca" or only "Protocol error", as the TLS 1.3 alert races its CONNECT.
  assert.match(line ?? '', /error="closed by the broker before CONNACK \(client certificate refused\?\): (OpenSSL Error\[0\]: error:[0-9A-F]+:SSL routines::tlsv1 alert unknown ca; )?Error: /, probe.stderr.join('\n'));
  assert.ok(!probe.stderr.some((l) => l.includes('mappings from the broker')), 'never on MQTT');
  probe.send('exit');
});
