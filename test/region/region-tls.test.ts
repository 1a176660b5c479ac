// A region whose etcd takes clients over TLS with client certificates:
// --etcd-cacert, --etcd-cert and --etcd-key reach it; SIGHUP reads them again
// (a renewed certificate without a restart); a front end without a client
// certificate, or not trusting etcd's, is refused at once with a message
// naming the flags; one speaking plaintext to TLS members is told to try TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { etcdMemberCert, startEtcdCluster } from '../../lab/etcd-cluster.ts';
import { client, devCerts, eventually, joinsBody, newWatcher, req, ROOT, startServer, tempDir } from '../server/helpers.ts';
import { assignedPath, joinedPath } from './region-helpers.ts';

test('etcd over TLS with client certificates', async (t) => {
  const d = devCerts();
  const member = etcdMemberCert(tempDir(t), join(d, 'ca.pem'), join(d, 'ca.key'));
  const cluster = await startEtcdCluster(t, {
    tls: { cert: member.cert, key: member.key, ca: join(d, 'ca.pem'), clientCert: join(d, 'egress.pem'), clientKey: join(d, 'egress.key') },
  });
  const etcdTls = (who: string) => ['--etcd-cacert', join(d, 'ca.pem'), '--etcd-cert', join(d, `${who}.pem`), '--etcd-key', join(d, `${who}.key`)];
  // fa's files where an operator renews them.
  const renewed = tempDir(t);
  copyFileSync(join(d, 'egress.pem'), join(renewed, 'egress.pem'));
  copyFileSync(join(d, 'egress.key'), join(renewed, 'egress.key'));
  const fa = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fa', '--etcd-cacert', join(d, 'ca.pem'), '--etcd-cert', join(renewed, 'egress.pem'), '--etcd-key', join(renewed, 'egress.key')]);
  const fb = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fb', ...etcdTls('ingress')]);
  const ha = client(t, fa.origin);
  const hb = client(t, fb.origin);
  const id = await newWatcher(ha);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  await eventually(async () => (await req(hb, 'GET', assignedPath(id))).status === 200, 5000, 'the watcher on fb');
  await eventually(async () => /mnat_etcd_member_up\{name="m0",leader="(true|false)"\} 1/.test((await req(hb, 'GET', '/metrics')).body), 8000, 'members over TLS');

  assert.match((await req(ha, 'GET', '/metrics')).body, /^mnat_etcd_client_certificate_expiry_timestamp_seconds \d+$/m);

  // SIGHUP: the renewed certificate from the next connection to etcd on; files that do not fit are refused and the old ones kept.
  copyFileSync(join(d, 'other.pem'), join(renewed, 'egress.pem'));
  copyFileSync(join(d, 'other.key'), join(renewed, 'egress.key'));
  fa.proc.kill('SIGHUP');
  assert.match(await fa.waitForLine(/etcd TLS files read again/), /CN=other/);
  writeFileSync(join(renewed, 'egress.key'), 'not a key');
  fa.proc.kill('SIGHUP');
  assert.match(await fa.waitForLine(/etcd TLS files not reloaded/), /--etcd-key .*egress\.key/);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.2']]))).status, 204, 'fa still takes changes');
  assert.match((await req(ha, 'GET', '/status')).body, /etcd client certificate: CN=other/);

  // A renewed certificate that expires within two weeks: a warning, and an alarm on /status.
  const made = spawnSync('sh', ['-c', 'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=short -keyout "$1/egress.key" -out "$1/short.csr" && openssl x509 -req -in "$1/short.csr" -CA "$2/ca.pem" -CAkey "$2/ca.key" -set_serial 4242 -days 3 -out "$1/egress.pem"', 'sh', renewed, d], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  fa.proc.kill('SIGHUP');
  await fa.waitForLine(/level=warn .*the etcd client certificate \(--etcd-cert\) expires soon: renew it and send SIGHUP.* subject="CN=short"/);
  assert.match((await req(ha, 'GET', '/status')).body, /<p class="alarm">The etcd client certificate \(--etcd-cert\) expires \d{4}-[^<]*: renew it and send SIGHUP\.<\/p>/);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.3']]))).status, 204, 'etcd takes the renewed certificate');

  const started = Date.now();
  const anonymous = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fc', '--etcd-cacert', join(d, 'ca.pem')], { expectExit: true });
  assert.equal(await anonymous.exited, 1);
  assert.match(anonymous.lines.join('\n'), /TLS with etcd at 127\.0\.0\.1:\d+ failed: .*check --etcd-cacert, --etcd-cert, --etcd-key/);
  assert.ok(Date.now() - started < 15_000, 'refused without waiting for etcd to become reachable');

  // etcd's certificate from a CA the front end was not given: refused at once too.
  const elsewhere = tempDir(t);
  assert.equal(spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), elsewhere, 'localhost', 'fe']).status, 0);
  const untrusted = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fd', '--etcd-cacert', join(elsewhere, 'ca.pem'), '--etcd-cert', join(d, 'egress.pem'), '--etcd-key', join(d, 'egress.key')], { expectExit: true });
  assert.equal(await untrusted.exited, 1);
  assert.match(untrusted.lines.join('\n'), /TLS with etcd at .* failed: unable to verify the first certificate \(check --etcd-cacert/);

  // Plaintext to members that serve TLS: they reset it; the wait says what to try.
  const plaintext = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fe'], { expectExit: true });
  await plaintext.waitForLine(/waiting for etcd.*ECONNRESET \(if the members serve TLS, give --etcd-cacert\)/);
  plaintext.proc.kill('SIGTERM');
});
