// SIGHUP reads the TLS files again: a renewed certificate reaches new
// connections without a restart, open connections keep working, files that do
// not fit are refused with the old certificate kept. Without the handler
// Node's default for SIGHUP ended the server at once (exit 129), streams cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { HttpTransport } from '../../src/host/host.ts';
import { client, devCerts, newWatcher, req, ROOT, startServer, tempDir } from './helpers.ts';

/** The SHA-256 fingerprint of the certificate a new TLS connection to port gets. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

const fingerprintOf = (pem: string): string =>
  spawnSync('openssl', ['x509', '-in', pem, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).stdout.trim().replace(/^.*=/, '');
/** The certificate's notAfter in Unix seconds. */
const notAfterOf = (pem: string): number =>
  Date.parse(spawnSync('openssl', ['x509', '-in', pem, '-noout', '-enddate'], { encoding: 'utf8' }).stdout.trim().replace(/^notAfter=/, '')) / 1000;
const expiryGauge = async (http: HttpTransport): Promise<number> =>
  Number(/^mnat_tls_certificate_expiry_timestamp_seconds (\d+)$/m.exec((await req(http, 'GET', '/metrics')).body)?.[1]);

test('SIGHUP: new connections get the renewed certificate, open ones keep working, bad files are refused', async (t) => {
  const dir = tempDir(t);
  const first = devCerts();
  const renewed = join(dir, 'renewed');
  assert.equal(spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), renewed, 'localhost']).status, 0);
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  copyFileSync(join(first, 'server.pem'), cert);
  copyFileSync(join(first, 'server.key'), key);

  const server = await startServer(t, ['--tls-cert', cert, '--tls-key', key, '--state-dir', join(dir, 'state')]);
  assert.match(server.lines.find((l) => l.includes('msg=listening'))!, /certificateValidTo=\d{4}-/);
  assert.equal(await servedFingerprint(server.port), fingerprintOf(cert));
  const open = client(t, server.origin); // trusts the first CA: its connection must outlive the reload
  const id = await newWatcher(open);
  assert.equal(await expiryGauge(open), notAfterOf(cert));

  copyFileSync(join(renewed, 'server.pem'), cert);
  copyFileSync(join(renewed, 'server.key'), key);
  server.proc.kill('SIGHUP');
  await server.waitForLine(/msg="TLS files read again.*validTo=/);
  assert.equal(await servedFingerprint(server.port), fingerprintOf(join(renewed, 'server.pem')), 'a new connection gets the renewed certificate');
  assert.equal((await req(open, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': id } })).status, 200, 'the open connection goes on');
  assert.equal(await expiryGauge(open), notAfterOf(join(renewed, 'server.pem')), '/metrics follows the renewed certificate');

  writeFileSync(key, 'not a key\n');
  server.proc.kill('SIGHUP');
  await server.waitForLine(/level=error .*msg="TLS files not reloaded.*TLS certificate .*server\.pem and key .*server\.key/);
  assert.equal(await servedFingerprint(server.port), fingerprintOf(join(renewed, 'server.pem')), 'the previous certificate stays');
  assert.equal(await server.stop('SIGTERM'), 0);
});

test('SIGHUP on a plaintext server: logged, nothing else', async (t) => {
  const server = await startServer(t, ['--insecure']);
  server.proc.kill('SIGHUP');
  await server.waitForLine(/SIGHUP: plaintext \(--insecure\), no TLS files to read again/);
  const http = client(t, server.origin);
  await newWatcher(http);
  assert.equal(await server.stop('SIGTERM'), 0);
});

test('a certificate that expires within two weeks: a warning at start, an alarm on /status', async (t) => {
  const dir = tempDir(t);
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3', '-subj', '/CN=localhost', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const server = await startServer(t, ['--tls-cert', join(dir, 'c.pem'), '--tls-key', join(dir, 'k.pem')]);
  assert.ok(server.lines.some((l) => /level=warn .*msg="the TLS certificate expires soon: renew it and send SIGHUP" subject="CN=localhost" validTo=.* daysLeft=2/.test(l)), server.lines.join('\n'));
  const page = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', rejectUnauthorized: false }, () => socket.end('GET /status HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n'));
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text)).on('error', reject);
  });
  assert.match(page, /<p class="alarm">The TLS certificate expires \d{4}-[^<]*: renew it and send SIGHUP\.<\/p>/);
  assert.match(page, /TLS certificate: CN=localhost, valid until \d{4}-/);
});
