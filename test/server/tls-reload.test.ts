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

  copyFileSync(join(renewed, 'server.pem'), cert);
  copyFileSync(join(renewed, 'server.key'), key);
  server.proc.kill('SIGHUP');
  await server.waitForLine(/msg="TLS files read again.*validTo=/);
  assert.equal(await servedFingerprint(server.port), fingerprintOf(join(renewed, 'server.pem')), 'a new connection gets the renewed certificate');
  assert.equal((await req(open, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': id } })).status, 200, 'the open connection goes on');

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
