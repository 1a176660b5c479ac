// Renewed client certificates without a restart. The Node HTTP/2 client
// (ingress, Node egress, receiver) and MQTT.js read their TLS files again for
// each new connection; mnat-server's etcd client reads them on SIGHUP. A file
// that cannot be read keeps the last good copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureServer, type Http2Session } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { connectMqtt } from '../../src/host/node-mqtt.ts';
import { createNodeHttpTransport } from '../../src/host/node-http.ts';
import { EtcdClient } from '../../src/server/store/etcd-client.ts';
import { devCerts, tempDir } from './helpers.ts';

/** The dev certificate "egress" copied where a test renews it; renew() puts "other" in its place, as an operator would. */
function renewableClientFiles(t: { after(fn: () => unknown): void }): { certFile: string; keyFile: string; renew(): void } {
  const certs = devCerts();
  const dir = tempDir(t);
  const certFile = join(dir, 'client.pem');
  const keyFile = join(dir, 'client.key');
  const put = (who: string): void => {
    copyFileSync(join(certs, `${who}.pem`), certFile);
    copyFileSync(join(certs, `${who}.key`), keyFile);
  };
  put('egress');
  return { certFile, keyFile, renew: () => put('other') };
}

test('a renewed client certificate is presented from the next connection on', async (t) => {
  const certs = devCerts();
  const { certFile: cert, keyFile: key, renew } = renewableClientFiles(t);
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
  renew();
  assert.equal(await presented(), 'egress', 'an open connection keeps its certificate');
  assert.equal(await reconnected(), 'other', 'the next connection presents the renewed one');
  rmSync(key);
  assert.equal(await reconnected(), 'other', 'a file missing mid-rotation: the last good copy');
});

test('mnat-server towards etcd: SIGHUP reads the client certificate again; open requests finish on the old connection', async (t) => {
  const certs = devCerts();
  const { certFile, keyFile, renew } = renewableClientFiles(t);
  const files = { caFile: join(certs, 'ca.pem'), certFile, keyFile };
  // Answers a range like etcd's gateway; one request at a time can be held back.
  const presented: string[] = [];
  let held: (() => void) | null = null;
  let holdNext = false;
  const connections: TLSSocket[] = [];
  const server = createHttpsServer({ cert: readFileSync(join(certs, 'server.pem')), key: readFileSync(join(certs, 'server.key')), ca: readFileSync(join(certs, 'ca.pem')), requestCert: true, rejectUnauthorized: true });
  server.on('secureConnection', (s: TLSSocket) => connections.push(s));
  server.on('request', (req, res) => {
    req.resume();
    req.on('end', () => {
      presented.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
      const answer = () => res.end(JSON.stringify({ header: { revision: String(presented.length) }, count: '0' }));
      if (holdNext) {
        holdNext = false;
        held = answer;
      } else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const etcd = new EtcdClient({ endpoints: [`localhost:${(server.address() as { port: number }).port}`], tls: files, timeoutMs: 10_000 });
  t.after(() => etcd.close());

  await etcd.range('k');
  renew();
  await etcd.range('k');
  assert.deepEqual(presented, ['egress', 'egress'], 'without a reload the open connection goes on with the certificate read at start');

  holdNext = true;
  const inFlight = etcd.range('k');
  await waitUntil(() => held !== null);
  assert.equal(etcd.reloadCredentials()?.subject, 'CN=other');
  const firstClosed = new Promise((r) => connections[0]!.once('close', r));
  await etcd.range('k');
  assert.equal(presented.at(-1), 'other', 'a new connection presents the renewed certificate');
  assert.equal(connections.length, 2);
  held!();
  await inFlight;
  await firstClosed; // the replaced connection closes once its request is answered
  // Each reload lets go of the agents replaced before whose connections have all closed.
  const retired = (): number => (etcd as unknown as { retiredAgents: unknown[] }).retiredAgents.length;
  assert.equal(retired(), 1);
  etcd.reloadCredentials();
  etcd.reloadCredentials();
  assert.equal(retired(), 1, 'only the agent replaced last (its idle connection closed) is kept');

  writeFileSync(files.keyFile, 'not a key');
  assert.throws(() => etcd.reloadCredentials(), /--etcd-cert .*\/client\.pem and --etcd-key .*\/client\.key: .*both PEM/);
  await etcd.range('k');
  assert.equal(presented.at(-1), 'other', 'files that do not fit: the ones in use stay');
  assert.equal(etcd.clientCertificate?.subject, 'CN=other');
});

test('MQTT over TLS: each reconnection presents the client certificate as the files are then', async (t) => {
  const certs = devCerts();
  const { certFile, keyFile, renew } = renewableClientFiles(t);
  // Not a broker: it notes who connected and hangs up, so the client reconnects.
  const connected: Array<{ cn: string; socket: TLSSocket }> = [];
  let notify: (() => void) | null = null;
  const server = createTlsServer({ cert: readFileSync(join(certs, 'server.pem')), key: readFileSync(join(certs, 'server.key')), ca: readFileSync(join(certs, 'ca.pem')), requestCert: true, rejectUnauthorized: true }, (socket) => {
    connected.push({ cn: String(socket.getPeerCertificate().subject?.CN), socket });
    notify?.();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const nthConnection = (n: number): Promise<void> => (connected.length >= n ? Promise.resolve() : new Promise((r) => (notify = () => connected.length >= n && r())));
  const client = await connectMqtt({ tls: true, host: 'localhost', port: (server.address() as { port: number }).port, caFile: join(certs, 'ca.pem'), certFile, keyFile }, { clientIdPrefix: 'test', protocolVersion: 4, reconnectMs: 20 });
  client.on('error', () => undefined);
  t.after(() => client.end(true));

  await nthConnection(1);
  renew();
  connected[0]!.socket.destroy();
  await nthConnection(2);
  rmSync(keyFile);
  connected[1]!.socket.destroy();
  await nthConnection(3);
  assert.deepEqual(connected.slice(0, 3).map((c) => c.cn), ['egress', 'other', 'other'], 'renewed on reconnection; a file missing mid-rotation keeps the last good copy');
});

async function waitUntil(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setImmediate(r));
}
