// The Node HTTP/2 client (ingress, Node egress, receiver) reads its TLS files
// again for each new connection: a renewed client certificate is presented
// from the next reconnect on, without a restart; a file that cannot be read
// then keeps the last good copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { createSecureServer, type Http2Session } from 'node:http2';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createNodeHttpTransport } from '../../src/host/node-http.ts';
import { devCerts, tempDir } from './helpers.ts';

test('a renewed client certificate is presented from the next connection on', async (t) => {
  const certs = devCerts();
  const dir = tempDir(t);
  const cert = join(dir, 'client.pem');
  const key = join(dir, 'client.key');
  copyFileSync(join(certs, 'egress.pem'), cert);
  copyFileSync(join(certs, 'egress.key'), key);
  const sessions: Http2Session[] = [];
  const server = createSecureServer({ cert: readFileSync(join(certs, 'server.pem')), key: readFileSync(join(certs, 'server.key')), ca: readFileSync(join(certs, 'ca.pem')), requestCert: true });
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream) => {
    const peer = (stream.session!.socket as TLSSocket).getPeerCertificate();
    stream.respond({ ':status': 200 });
    stream.end(String(peer.subject?.CN));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const http = createNodeHttpTransport({ origin: `https://localhost:${(server.address() as { port: number }).port}`, caFile: join(certs, 'ca.pem'), certFile: cert, keyFile: key });
  t.after(() => http.close());
  const presented = async (): Promise<string> => (await http.request({ method: 'GET', path: '/' })).body;
  /** Drops the connection; the first request after it may meet the dying session, as the agents' retries do. */
  const reconnected = async (): Promise<string> => {
    for (const s of sessions.splice(0)) s.destroy();
    for (let attempt = 1; ; attempt++) {
      try {
        return await presented();
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  };

  assert.equal(await presented(), 'egress');
  copyFileSync(join(certs, 'other.pem'), cert);
  copyFileSync(join(certs, 'other.key'), key);
  assert.equal(await presented(), 'egress', 'an open connection keeps its certificate');
  assert.equal(await reconnected(), 'other', 'the next connection presents the renewed one');
  rmSync(key);
  assert.equal(await reconnected(), 'other', 'a file missing mid-rotation: the last good copy');
});
