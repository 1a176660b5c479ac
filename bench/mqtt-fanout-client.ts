// Simulated CPE watchers for bench/mqtt-fanout.bench.ts, one process of
// many: each registers `count` egress watchers joined to one channel at the
// real mnat-server (HTTP/2, TLS), then follows that channel's mapping either
// by yang-push over SSE (one stream per watcher) or over MQTT (one TLS
// connection per watcher to the real mosquitto, subscribed to the channel's
// topic). Lines on stdout (JSON): {"event":"ready"} once every watcher has the
// current mapping; then {"event":"delivered","at":[epoch ms…]} once every
// watcher has seen the change. The MQTT side is a minimal MQTT 3.1.1
// subscriber (CONNECT, SUBSCRIBE, PUBLISH QoS 0): a CPE's mosquitto_sub does
// no more.
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { h2request } from './h2-request.ts';

interface Config {
  mode: 'sse' | 'mqtt';
  count: number;
  origin: string;
  ca: string;
  channel: { source: string; group: string };
  /** mqtt: host, port, topic, client certificate and key */
  mqtt?: { host: string; port: number; topic: string; cert: string; key: string };
  /** Streams per HTTP/2 connection. */
  perSession?: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
const ca = readFileSync(cfg.ca);
const now = (): number => performance.timeOrigin + performance.now();
const say = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');

const sessions: ClientHttp2Session[] = [];
const perSession = cfg.perSession ?? 100;
function session(i: number): ClientHttp2Session {
  const k = Math.floor(i / perSession);
  let s = sessions[k];
  if (!s || s.destroyed) {
    s = h2connect(cfg.origin, { ca });
    s.on('error', () => undefined);
    sessions[k] = s;
  }
  return s;
}

const request = (i: number, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> => h2request(session(i), method, path, body);

/** A watcher joined to the channel: its id. */
async function watcher(i: number): Promise<string> {
  const r = await request(i, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
  const id = JSON.parse(r.text)['ietf-mnat:output']['watcher-id'] as string;
  const put = await request(i, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, {
    'ietf-mnat:watcher': [{ id, 'joined-sg': [{ id: '1', ...cfg.channel }] }],
  });
  if (put.status !== 201) throw new Error(`PUT ${put.status} ${put.text}`);
  return id;
}

/** An SSE stream of the watcher's assigned-channels: resolves `ready` at the first update, calls done at the first change. */
async function follow(i: number, id: string, ready: () => void, done: (at: number) => void): Promise<void> {
  const r = await request(i, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', {
    'ietf-subscribed-notifications:input': {
      'ietf-yang-push:datastore': 'ietf-datastores:operational',
      'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']`,
      'ietf-yang-push:on-change': {},
    },
  });
  const uri = JSON.parse(r.text)['ietf-subscribed-notifications:output']['ietf-restconf-subscribed-notifications:uri'] as string;
  const stream = session(i).request({ ':method': 'GET', ':path': new URL(uri).pathname, accept: 'text/event-stream' });
  stream.setEncoding('utf8');
  if (process.env.FANOUT_DEBUG) stream.on('response', (h) => h[':status'] !== 200 && process.stderr.write(`stream ${i}: ${h[':status']}\n`));
  // Events may come split over DATA frames: look at what arrived so far.
  let text = '';
  let first = true;
  let changed = false;
  stream.on('data', (d: string) => {
    text += d;
    if (first && text.includes('push-update')) {
      first = false;
      ready();
      text = text.slice(text.lastIndexOf('\n\n') + 1);
    }
    if (!first && !changed && text.includes('push-change-update')) {
      changed = true;
      done(now());
    }
  });
  stream.on('error', () => undefined);
}

// ---- MQTT 3.1.1, just enough to subscribe -----------------------------------

function remaining(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 128;
    out.push(b);
  } while (n > 0);
  return out;
}
const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length >> 8, s.length & 255]), Buffer.from(s)]);
function connectPacket(clientId: string): Buffer {
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0x01, 0x2c]), str(clientId)]); // 3.1.1, clean session, keep-alive 300 s
  return Buffer.concat([Buffer.from([0x10, ...remaining(body.length)]), body]);
}
function subscribePacket(topic: string): Buffer {
  const body = Buffer.concat([Buffer.from([0, 1]), str(topic), Buffer.from([0])]);
  return Buffer.concat([Buffer.from([0x82, ...remaining(body.length)]), body]);
}

function subscribe(i: number, ready: () => void, done: (at: number) => void): void {
  const m = cfg.mqtt!;
  const socket = tlsConnect({ host: m.host, port: m.port, ca, cert: readFileSync(m.cert), key: readFileSync(m.key), servername: 'localhost' });
  let buf: Buffer = Buffer.alloc(0);
  let publishes = 0;
  socket.on('secureConnect', () => socket.write(Buffer.concat([connectPacket(`sim-${process.pid}-${i}`), subscribePacket(m.topic)])));
  socket.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      let len = 0;
      let mul = 1;
      let p = 1;
      for (; p < buf.length; p++) {
        len += (buf[p]! & 127) * mul;
        mul *= 128;
        if ((buf[p]! & 128) === 0) break;
      }
      if (p >= buf.length || buf.length < p + 1 + len) return;
      const type = buf[0]! >> 4;
      buf = buf.subarray(p + 1 + len);
      if (type !== 3) continue; // only PUBLISH matters
      publishes++;
      if (publishes === 1) ready(); // the retained current mapping
      else if (publishes === 2) done(now()); // the change
    }
  });
  socket.on('error', (err) => say({ event: 'error', error: err.message }));
}

async function main(): Promise<void> {
  const dbg = (m: string): void => void (process.env.FANOUT_DEBUG && process.stderr.write(`${m}\n`));
  const ids: string[] = [];
  const batch = 200;
  for (let i = 0; i < cfg.count; i += batch) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(batch, cfg.count - i) }, (_, k) => watcher(i + k)))));
    dbg(`watchers ${ids.length}`);
  }
  const at: number[] = [];
  let readyCount = 0;
  const ready = (): void => {
    if (++readyCount === cfg.count) say({ event: 'ready' });
  };
  const done = (t: number): void => {
    at.push(t);
    if (at.length === cfg.count) say({ event: 'delivered', at });
  };
  if (cfg.mode === 'sse') {
    for (let i = 0; i < cfg.count; i += batch) {
      await Promise.all(ids.slice(i, i + batch).map((id, k) => follow(i + k, id, ready, done)));
      dbg(`streams ${i + batch}, ready ${readyCount}`);
    }
  } else {
    for (let i = 0; i < cfg.count; i++) {
      subscribe(i, ready, done);
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20)); // do not flood the broker's accept queue
    }
  }
}

main().catch((err: Error) => {
  say({ event: 'error', error: err.stack ?? err.message });
  process.exit(1);
});
