// The listener closes HTTP/2 sessions without traffic (idle-sessions.ts) over
// real TLS and a real HTTP/2 client: an idle session goes after the idle time,
// one with requests flowing stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session } from 'node:http2';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listen } from '../../src/server/http/listener.ts';
import { ClientTable, DEFAULT_HTTP_LIMITS, Refusals } from '../../src/server/http/limits.ts';
import { devCerts } from './helpers.ts';

const IDLE_MS = 400;

async function server(t: { after(fn: () => unknown): void }) {
  const certs = devCerts();
  const listener = await listen(
    { host: '127.0.0.1', port: 0, insecure: false, tlsCert: join(certs, 'server.pem'), tlsKey: join(certs, 'server.key'), clients: new ClientTable({ ...DEFAULT_HTTP_LIMITS }, new Refusals()), idleSessionMs: IDLE_MS },
    (_req, res) => {
      res.writeHead(204);
      res.end();
    },
  );
  t.after(async () => {
    listener.destroyAll();
    await listener.close();
  });
  return listener.port;
}

function connect(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://localhost:${port}`, { ca: readFileSync(join(devCerts(), 'ca.pem')) });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function get(session: ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = session.request({ ':path': '/' });
    r.once('response', (h) => resolve(Number(h[':status'])));
    r.once('error', reject);
    r.resume();
  });
}

test('an HTTP/2 session without traffic is closed by the server after the idle time; one in use stays', { timeout: 20_000 }, async (t) => {
  const port = await server(t);
  const quiet = await connect(port);
  const busy = await connect(port);
  t.after(() => {
    quiet.destroy();
    busy.destroy();
  });
  const quietClosed = new Promise<number>((resolve) => quiet.once('close', () => resolve(Date.now())));
  let busyClosed = false;
  busy.once('close', () => (busyClosed = true));
  const start = Date.now();
  assert.equal(await get(quiet), 204);
  // The busy client asks every 50 ms until the quiet one is gone, and a while longer.
  let stop = false;
  const asking = (async () => {
    while (!stop) {
      assert.equal(await get(busy), 204);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const closedAt = await quietClosed;
  const idleFor = closedAt - start;
  assert.ok(idleFor >= IDLE_MS, `closed after ${idleFor} ms, before the idle time`);
  assert.ok(idleFor < IDLE_MS * 3 + 1000, `closed only after ${idleFor} ms`);
  await new Promise((r) => setTimeout(r, IDLE_MS * 2));
  stop = true;
  await asking;
  assert.equal(busyClosed, false, 'the session in use was closed');
  // Once the busy client stops asking, its session goes too.
  await new Promise<void>((resolve) => (busy.closed ? resolve() : busy.once('close', () => resolve())));
});
