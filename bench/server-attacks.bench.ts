// Normal-request latency while one address attacks. mnat-server (TLS, client
// certificates optional; an h2c one for the plaintext-only attacks) runs in
// its own process; a normal client on 127.0.0.1 refreshes its watcher and
// GETs its assigned-channels, one request every 20 ms, during each attack from
// 127.0.0.2 (lab/hostile-clients.ts). Reported: p50/p99 of the normal
// client's requests and its failures, per attack, and what the server
// refused. Goal: p99 under 50 ms during every attack.
// Run: node --import ./build/ts-loader.mjs bench/server-attacks.bench.ts [seconds per attack=10]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACKER, h2, H2_PREFACE, holdBody, NORMAL, Opened, probe, request, tcp, tls, trickle, type Target } from '../lab/hostile-clients.ts';
import { pct } from './bench-support.ts';
import { ROOT, startProcess } from './h2-compare.ts';

const SECONDS = Number(process.argv[2] ?? 10);
const tmp = mkdtempSync(join(tmpdir(), 'mnat-attacks-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const certs = join(tmp, 'certs');
if (spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs, 'localhost', 'normal', 'attacker'], { encoding: 'utf8' }).status !== 0) throw new Error('dev-certs.sh failed');

/** A server from src/ with args; its port (h2-compare.ts kills it at exit). */
const start = async (args: string[]): Promise<number> =>
  (await startProcess(['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--listen', '127.0.0.1:0', ...args], / port=(\d+)/)).port;

const tlsPort = await start(['--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--client-ca', join(certs, 'ca.pem'), '--state-dir', join(tmp, 'state-tls')]);
const h2cPort = await start(['--insecure', '--state-dir', join(tmp, 'state-h2c')]);
const ca = join(certs, 'ca.pem');
const tlsTarget: Target = { port: tlsPort, tls: { ca, cert: join(certs, 'normal.pem'), key: join(certs, 'normal.key') } };
const attackerCert: Target = { port: tlsPort, tls: { ca, cert: join(certs, 'attacker.pem'), key: join(certs, 'attacker.key') } };
const anonymous: Target = { port: tlsPort, tls: { ca } };
const h2cTarget: Target = { port: h2cPort };

async function watcherOf(target: Target): Promise<string> {
  const opened = new Opened();
  const a = await request(await h2(opened, target, NORMAL), 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
  opened.closeAll();
  return JSON.parse(a.body)['ietf-mnat:output']['watcher-id'];
}

async function refusals(target: Target): Promise<string> {
  const opened = new Opened();
  const text = (await request(await h2(opened, target, NORMAL), 'GET', '/metrics')).body;
  opened.closeAll();
  return text
    .split('\n')
    .filter((l) => l.startsWith('mnat_limit_refusals_total{') && !l.endsWith(' 0'))
    .map((l) => l.replace('mnat_limit_refusals_total{limit="', '').replace('"}', ''))
    .join(', ');
}

/** An attack runs until stop(); it keeps itself going (reconnects) while it runs. */
type Attack = (opened: Opened) => Promise<() => void>;

/** Keeps `n` connections made by `open` alive: each one the server closes is replaced. */
function keep(n: number, open: () => Promise<Socket | { closed: boolean; once(e: 'close', f: () => void): unknown }>): () => void {
  let running = true;
  const one = async (): Promise<void> => {
    while (running) {
      try {
        const s = await open();
        await new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r())));
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  for (let i = 0; i < n; i++) void one();
  return () => void (running = false);
}

/** get-new-watcher-id as fast as 16 streams at a time go, from the attacker. */
async function newIdFlood(o: Opened, as: Target): Promise<() => void> {
  let running = true;
  const s = await h2(o, as, ATTACKER);
  const one = async (): Promise<void> => {
    while (running && !s.destroyed) await request(s, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id').catch(() => undefined);
  };
  for (let i = 0; i < 16; i++) void one();
  return () => void (running = false);
}

const attacks: Array<{ name: string; target: Target; run: Attack }> = [
  { name: 'none (baseline)', target: tlsTarget, run: async () => () => undefined },
  {
    name: 'connection flood: 300 TCP connections kept open',
    target: tlsTarget,
    run: async (o) => keep(300, () => tcp(o, tlsPort, ATTACKER)),
  },
  {
    name: 'TLS: 60 connects without a ClientHello, renewed',
    target: tlsTarget,
    run: async (o) => keep(60, () => tcp(o, tlsPort, ATTACKER)),
  },
  {
    name: 'TLS: 60 handshakes without an HTTP/2 preface, renewed',
    target: tlsTarget,
    run: async (o) => keep(60, () => tls(o, anonymous, ATTACKER)),
  },
  {
    name: 'h2c: 60 prefaces trickled a byte every 500 ms, renewed',
    target: h2cTarget,
    run: async (o) =>
      keep(60, async () => {
        const s = await tcp(o, h2cPort, ATTACKER);
        trickle(s, 500, H2_PREFACE);
        return s;
      }),
  },
  {
    name: 'HTTP/1.1: 60 header blocks trickled, renewed',
    target: h2cTarget,
    run: async (o) =>
      keep(60, async () => {
        const s = await tcp(o, h2cPort, ATTACKER);
        s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
        trickle(s, 200, 'x');
        return s;
      }),
  },
  {
    name: 'held bodies: 8 sessions x 100 streams of 60 000 B, renewed',
    target: tlsTarget,
    run: async (o) => {
      let running = true;
      const session = async (): Promise<void> => {
        while (running) {
          try {
            const s: ClientHttp2Session = await h2(o, anonymous, ATTACKER);
            const streams: ClientHttp2Stream[] = [];
            for (let k = 0; k < 100; k++) streams.push(holdBody(s, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', 60_000));
            await Promise.all(streams.map((st) => new Promise((r) => st.once('close', r))));
            s.destroy();
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };
      for (let i = 0; i < 8; i++) void session();
      return () => void (running = false);
    },
  },
  {
    name: 'trickled bodies: 200 streams at 1 B/s, renewed',
    target: tlsTarget,
    run: async (o) => {
      let running = true;
      const s = await h2(o, anonymous, ATTACKER);
      const one = async (): Promise<void> => {
        while (running && !s.destroyed) {
          const st = holdBody(s, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', 0);
          const stop = trickle(st, 1000, '{');
          await new Promise((r) => st.once('close', r));
          stop();
        }
      };
      for (let i = 0; i < 200; i++) void one();
      return () => void (running = false);
    },
  },
  { name: 'get-new-watcher-id flood without a certificate (16 at a time)', target: tlsTarget, run: (o) => newIdFlood(o, anonymous) },
  { name: 'get-new-watcher-id flood with a client certificate (16 at a time)', target: tlsTarget, run: (o) => newIdFlood(o, attackerCert) },
];

console.log(`normal client: one request every 20 ms from ${NORMAL} (refresh / assigned-channels GET alternating), ${SECONDS} s per attack from ${ATTACKER}`);
for (const attack of attacks) {
  const id = await watcherOf(attack.target);
  const opened = new Opened();
  const stop = await attack.run(opened);
  // Let the attack reach its steady state, then measure.
  await new Promise((r) => setTimeout(r, 1000));
  const normal = probe(attack.target, id);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const r = await normal.stop();
  stop();
  opened.closeAll();
  const lat = r.latenciesMs;
  console.log(
    `${attack.name.padEnd(66)} p50 ${pct(lat, 50).toFixed(1).padStart(6)} ms  p99 ${pct(lat, 99).toFixed(1).padStart(6)} ms  max ${Math.max(...lat).toFixed(1).padStart(6)} ms  ${String(lat.length).padStart(4)} ok  ${r.failures.length} failed${r.failures.length ? ` (${r.failures[0]})` : ''}`,
  );
  console.log(`${''.padEnd(66)} refused so far: ${(await refusals(attack.target)) || 'nothing'}`);
  // The server closes what is left (timeouts) before the next attack.
  await new Promise((r) => setTimeout(r, 2000));
}
process.exit(0);
