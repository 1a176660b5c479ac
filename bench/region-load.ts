// Load generator for bench/region-scale.bench.ts (its own process, so its CPU
// is not counted as a front end's). Commands come on stdin, one per line;
// each answers one line on stdout.
//   populate       W watchers with 4 joins each, half through each front end,
//                  while every watcher made so far refreshes once per period
//                  → "populated W MS"
//   refresh S      every watcher refreshes on its own front end once per
//                  period for S seconds → "refreshed N ERRORS P50 P99 WALL CPU% BACKLOG"
//   push N         N watchers made on front end B subscribe on B; their joins
//                  are changed through front end A, paced; the time from
//                  sending the PUT to the push-change-update on B
//                  → "push N P50 P99 MAX"
//   clients N      N real watcher clients (src/client, over both front ends,
//                  starting on B) joined and following by push → "clients N"
//   failover       waits until every client was served again after losing
//                  its front end → "failover N P50 P99 MAX SAME_IDS"
// Usage: node --import ./build/ts-loader.mjs bench/region-load.ts ORIGIN_A ORIGIN_B CA WATCHERS PERIOD_S
import { connect, type ClientHttp2Session } from 'node:http2';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SseParser } from '../src/protocol/sse.ts';
import { createNodeHost } from '../src/host/node-host.ts';
import { serverTransport } from '../src/client/failover-transport.ts';
import { createWatcherClient, EGRESS_ROLE, type WatcherClient } from '../src/client/watcher-client.ts';
import type { Channel } from '../src/core/channel.ts';
import { pct } from './bench-support.ts';

const [originA, originB, caFile, watchersText, periodText] = process.argv.slice(2) as [string, string, string, string, string];
const WATCHERS = Number(watchersText);
const PERIOD = Number(periodText);
const SESSIONS = 8;
const ca = readFileSync(caFile);
const pools = [originA, originB].map((o) => Array.from({ length: SESSIONS }, () => connect(o, { ca })));
// Refreshes on sessions of their own: their streams never wait behind PUTs waiting for etcd.
const refreshPools = [originA, originB].map((o) => Array.from({ length: SESSIONS }, () => connect(o, { ca })));
let rr = 0;

function request(fe: number, method: string, path: string, body?: string, sessions = pools): Promise<{ status: number; data: string }> {
  return new Promise((resolve, reject) => {
    const s = (sessions[fe] as ClientHttp2Session[])[rr++ % SESSIONS] as ClientHttp2Session;
    const stream = s.request({ ':method': method, ':path': path, ...(body ? { 'content-type': 'application/yang-data+json' } : {}) }, { endStream: !body });
    let status = 0;
    let data = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: string) => (data += d));
    stream.on('end', () => resolve({ status, data }));
    stream.on('error', reject);
    if (body) stream.end(body);
  });
}

/** Watcher i lives on front end i % 2 (0: A, 1: B). */
const ids: string[] = new Array(WATCHERS);
const feOf = (i: number): number => i % 2;
const joinsOf = (i: number, salt = 0) =>
  Array.from({ length: 4 }, (_, k) => {
    const c = (i * 7919 + k * 104729 + salt * 15485863) % 5000;
    return { id: String(k + 1), source: `198.51.${(c >> 8) & 255}.${c & 255}`, group: `232.1.${(c >> 8) & 255}.${c & 255}` };
  });
const refreshBody = (id: string): string => JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': id } });

/** Refreshes watchers [0, count()) each once per PERIOD until stop() (spread evenly, at most 2048 in flight). */
function refresher(count: () => number): { stop(): Promise<{ sent: number; errors: number; lat: number[]; backlog: number }> } {
  let sent = 0;
  let errors = 0;
  let inflight = 0;
  let backlog = 0;
  let stopped = false;
  const lat: number[] = [];
  const start = performance.now();
  // Position in the cycle: refreshes owed so far if every existing watcher refreshes once per period.
  let owed = 0;
  let last = start;
  const tick = (): void => {
    if (stopped) return;
    const now = performance.now();
    owed += ((now - last) / (PERIOD * 1000)) * count();
    last = now;
    backlog = Math.max(backlog, owed - sent);
    while (sent < Math.floor(owed) && inflight < 2048) {
      const i = sent % Math.max(1, count());
      sent++;
      inflight++;
      const t = performance.now();
      request(feOf(i), 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', refreshBody(ids[i] as string), refreshPools).then(
        (r) => {
          inflight--;
          if (r.status !== 200 && errors++ < 3) process.stderr.write(`refresh answered ${r.status} ${r.data.slice(0, 200)}\n`);
          lat.push(performance.now() - t);
        },
        (err: Error) => {
          inflight--;
          if (errors++ < 3) process.stderr.write(`refresh failed: ${err.message}\n`);
        },
      );
    }
    setTimeout(tick, 20);
  };
  tick();
  return {
    async stop() {
      stopped = true;
      while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
      return { sent, errors, lat, backlog: Math.round(backlog) };
    },
  };
}

/** As a client would: a 503 (etcd busy or away) is retried after a random pause; counted for the report. */
let unavailable = 0;
async function retrying503(send: () => Promise<{ status: number; data: string }>): Promise<{ status: number; data: string }> {
  for (;;) {
    const r = await send();
    if (r.status !== 503) return r;
    unavailable++;
    await new Promise((res) => setTimeout(res, 200 + Math.random() * 800));
  }
}

async function populate(): Promise<string> {
  const t0 = performance.now();
  let made = 0;
  const background = refresher(() => made);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= WATCHERS) return;
      const fe = feOf(i);
      const r = await retrying503(() => request(fe, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id'));
      if (r.status !== 200) throw new Error(`get-new-watcher-id ${r.status} ${r.data}`);
      const id = JSON.parse(r.data)['ietf-mnat:output']['watcher-id'] as string;
      ids[i] = id;
      const p = await retrying503(() => request(fe, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': joinsOf(i) }] })));
      if (p.status !== 201 && p.status !== 204) throw new Error(`PUT ${p.status} ${p.data}`);
      while (made < WATCHERS && ids[made] !== undefined) made++;
    }
  };
  await Promise.all(Array.from({ length: 1024 }, worker));
  const bg = await background.stop();
  return `populated ${WATCHERS} ${Math.round(performance.now() - t0)} ${bg.errors} ${unavailable}`;
}

async function refreshPhase(seconds: number): Promise<string> {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const r = refresher(() => WATCHERS);
  await new Promise((res) => setTimeout(res, seconds * 1000));
  const done = await r.stop();
  const wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return `refreshed ${done.sent} ${done.errors} ${pct(done.lat, 50).toFixed(1)} ${pct(done.lat, 99).toFixed(1)} ${wall.toFixed(1)} ${Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 100)} ${done.backlog}`;
}

/** Subscribes on B to watcher i's assigned-channels; resolves with a function that waits for the next change. */
async function subscribe(i: number): Promise<{ next(): Promise<number>; close(): void }> {
  const id = ids[i] as string;
  const r = await request(1, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', JSON.stringify({
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']`, 'ietf-yang-push:on-change': {} },
  }));
  if (r.status !== 200) throw new Error(`establish ${r.status} ${r.data}`);
  const uri = JSON.parse(r.data)['ietf-subscribed-notifications:output']['ietf-restconf-subscribed-notifications:uri'] as string;
  const waiters: Array<(t: number) => void> = [];
  let updates = 0;
  const parser = new SseParser((e) => {
    const n = JSON.parse(e.data)['ietf-restconf:notification'];
    if (n['ietf-yang-push:push-update']) updates++;
    else if (n['ietf-yang-push:push-change-update']) waiters.shift()?.(performance.now());
  });
  const s = (pools[1] as ClientHttp2Session[])[i % SESSIONS] as ClientHttp2Session;
  const stream = s.request({ ':method': 'GET', ':path': new URL(uri).pathname, accept: 'text/event-stream' });
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => parser.push(d));
  while (updates === 0) await new Promise((res) => setTimeout(res, 5));
  return { next: () => new Promise((res) => waiters.push(res)), close: () => stream.close() };
}

async function pushPhase(n: number): Promise<string> {
  const picked = Array.from({ length: n }, (_, k) => 2 * k + 1).filter((i) => i < WATCHERS); // made on B
  const subs = [];
  for (const i of picked) subs.push(await subscribe(i));
  const lat: number[] = [];
  for (let k = 0; k < picked.length; k++) {
    const i = picked[k] as number;
    const id = ids[i] as string;
    const got = subs[k]!.next();
    const t0 = performance.now();
    const p = await request(0, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': joinsOf(i, 1) }] }));
    if (p.status !== 204) throw new Error(`PUT via A ${p.status} ${p.data}`);
    lat.push((await got) - t0);
    await new Promise((res) => setTimeout(res, 10)); // paced: about 50 changes/s
  }
  for (const s of subs) s.close();
  return `push ${lat.length} ${pct(lat, 50).toFixed(1)} ${pct(lat, 99).toFixed(1)} ${Math.max(...lat).toFixed(1)}`;
}

interface Cpe {
  client: WatcherClient<Channel>;
  id: string | null;
  lostAt: number | null;
  backAt: number | null;
}
const cpes: Cpe[] = [];

async function startClients(n: number): Promise<string> {
  const host = createNodeHost({ debug() {}, info() {}, warn() {}, error() {} });
  for (let k = 0; k < n; k++) {
    const random = Math.random;
    Math.random = () => 0; // start on B: the front end the failover kills
    const transport = serverTransport(host, { origin: `${originB},${originA}`, caFile });
    Math.random = random;
    const client = createWatcherClient({ host, transport, role: EGRESS_ROLE, backoffInitialMs: 200, backoffMaxMs: 5000 });
    const cpe: Cpe = { client, id: null, lostAt: null, backAt: null };
    client.on('status', (st) => {
      if (!st.connected && cpe.lostAt === null && cpe.id !== null) cpe.lostAt = performance.now();
      if (st.connected && cpe.lostAt !== null && cpe.backAt === null) cpe.backAt = performance.now();
    });
    client.start();
    client.setDesired([{ source: '203.0.113.9', group: `232.9.${k >> 8}.${k & 255}` }]);
    cpes.push(cpe);
  }
  while (!cpes.every((c) => c.client.assignments.length === 1 && c.client.assignments[0]!.local !== null)) await new Promise((res) => setTimeout(res, 50));
  for (const c of cpes) c.id = c.client.id;
  return `clients ${n}`;
}

async function failover(killedAt: number): Promise<string> {
  while (!cpes.every((c) => c.backAt !== null)) await new Promise((res) => setTimeout(res, 20));
  const times = cpes.map((c) => (c.backAt as number) - killedAt);
  const same = cpes.every((c) => c.client.id === c.id);
  return `failover ${cpes.length} ${pct(times, 50).toFixed(0)} ${pct(times, 99).toFixed(0)} ${Math.max(...times).toFixed(0)} ${same}`;
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, arg] = line.trim().split(/\s+/);
  let out: string;
  if (cmd === 'populate') out = await populate();
  else if (cmd === 'refresh') out = await refreshPhase(Number(arg));
  else if (cmd === 'push') out = await pushPhase(Number(arg));
  else if (cmd === 'clients') out = await startClients(Number(arg));
  else if (cmd === 'failover') out = await failover(performance.now() - Number(arg)); // arg: ms since the kill
  else if (cmd === 'exit') break;
  else out = `unknown ${cmd}`;
  process.stdout.write(`${out}\n`);
}
process.exit(0);
