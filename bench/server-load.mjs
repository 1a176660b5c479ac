// Load generator for bench/server-scale.bench.ts (a separate process, so its
// CPU is not counted as the server's). Over TLS HTTP/2 sessions it creates
// watchers with joins, then on "go" (stdin) refreshes every watcher once per
// period for a number of seconds, and reports counts and latencies.
// Usage: node bench/server-load.mjs ORIGIN CA WATCHERS JOINS SECONDS PERIOD_S
import { connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [origin, caFile, watchersText, joinsText, secondsText, periodText] = process.argv.slice(2);
const WATCHERS = Number(watchersText);
const JOINS = Number(joinsText);
const SECONDS = Number(secondsText);
const PERIOD = Number(periodText);
const SESSIONS = 16;
const ca = readFileSync(caFile);
const sessions = Array.from({ length: SESSIONS }, () => connect(origin, { ca }));
let rr = 0;

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const s = sessions[rr++ % SESSIONS];
    const stream = s.request({ ':method': method, ':path': path, ...(body ? { 'content-type': 'application/yang-data+json' } : {}) }, { endStream: !body });
    let status = 0;
    let data = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = h[':status']));
    stream.on('data', (d) => (data += d));
    stream.on('end', () => resolve({ status, data }));
    stream.on('error', reject);
    if (body) stream.end(body);
  });
}

const ids = new Array(WATCHERS);
const t0 = performance.now();
let next = 0;
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= WATCHERS) return;
    const r = await request('POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
    const id = JSON.parse(r.data)['ietf-mnat:output']['watcher-id'];
    ids[i] = id;
    // 4 joins over a population of 5000 channels, like bench/core-state.bench.ts
    const joins = [];
    for (let k = 0; k < JOINS; k++) {
      const c = (i * 7919 + k * 104729) % 5000;
      joins.push({ id: String(k + 1), source: `198.51.${(c >> 8) & 255}.${c & 255}`, group: `232.1.${(c >> 8) & 255}.${c & 255}` });
    }
    const p = await request('PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': joins }] }));
    if (p.status !== 201) throw new Error(`PUT ${p.status} ${p.data}`);
  }
}
await Promise.all(Array.from({ length: 256 }, worker));
console.log(`populated ${WATCHERS} ${Math.round(performance.now() - t0)}`);

const rl = createInterface({ input: process.stdin });
await new Promise((resolve) => rl.once('line', resolve));

// Refresh phase: every watcher once per PERIOD, spread evenly (ticks of 20 ms),
// at most MAX_INFLIGHT requests outstanding (a late request waits for a slot).
const MAX_INFLIGHT = 2048;
const bodies = ids.map((id) => JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': id } }));
const latencies = new Float64Array(Math.ceil((SECONDS / PERIOD) * WATCHERS) + 16);
let nLat = 0;
const cpu0 = process.cpuUsage();
let sent = 0;
let errors = 0;
let inflight = 0;
let maxBacklog = 0;
const start = performance.now();
const end = start + SECONDS * 1000;
const total = Math.floor((SECONDS / PERIOD) * WATCHERS);
await new Promise((resolve) => {
  const pump = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / (PERIOD * 1000)) * WATCHERS));
    maxBacklog = Math.max(maxBacklog, due - sent);
    while (sent < due && inflight < MAX_INFLIGHT) {
      const body = bodies[sent % WATCHERS];
      sent++;
      inflight++;
      const t = performance.now();
      request('POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', body).then(
        (r) => {
          inflight--;
          if (r.status !== 200) errors++;
          if (nLat < latencies.length) latencies[nLat++] = performance.now() - t;
          if (inflight === MAX_INFLIGHT - 1) pump();
        },
        () => {
          inflight--;
          errors++;
        },
      );
    }
  };
  const tick = () => {
    pump();
    if (sent >= total) {
      const wait = () => (inflight === 0 ? resolve() : setTimeout(wait, 5));
      wait();
    } else setTimeout(tick, 20);
  };
  tick();
});
const lat = latencies.subarray(0, nLat).sort();
const q = (p) => lat[Math.min(nLat - 1, Math.floor(p * nLat))]?.toFixed(1);
const cpu = process.cpuUsage(cpu0);
const wallS = (performance.now() - start) / 1000;
console.log(`refreshed ${sent} ${errors} ${q(0.5)} ${q(0.99)} ${wallS.toFixed(1)} ${Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 100)} ${maxBacklog}`);
for (const s of sessions) s.close();
process.exit(0);
