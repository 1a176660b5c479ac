// A region on an etcd with authentication on (users and roles), as a shared
// etcd is run: the front ends log in with --etcd-user and
// --etcd-password-file under a role that may use only /mnat/east/; when a
// member restarts (its tokens are gone) they log in again by themselves. No
// user, a wrong password and a region outside the role are refused at once,
// each saying what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcdCluster } from '../../lab/etcd-cluster.ts';
import { client, eventually, joinsBody, newWatcher, req, startServer, tempDir } from '../server/helpers.ts';
import { assignedPath, joinedPath } from './region-helpers.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

test('etcd with authentication: a user whose role holds the region, a lost token, refusals that say what to do', async (t) => {
  const cluster = await startEtcdCluster(t, { members: 1 });
  const etcd = async (path: string, body: object): Promise<void> => {
    const res = await fetch(`http://${cluster.endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) });
    const answer = (await res.json()) as { error?: string };
    assert.equal(answer.error, undefined, `${path}: ${answer.error}`);
  };
  // What `etcdctl user add`, `role grant-permission --prefix` and `auth enable` do.
  await etcd('/v3/auth/user/add', { name: 'root', password: 'root-pw' });
  await etcd('/v3/auth/user/grant', { user: 'root', role: 'root' });
  await etcd('/v3/auth/role/add', { name: 'mnat-east' });
  await etcd('/v3/auth/role/grant', { name: 'mnat-east', perm: { permType: 'READWRITE', key: b64('/mnat/east/'), range_end: b64('/mnat/east0') } });
  await etcd('/v3/auth/user/add', { name: 'mnat', password: 'two words' });
  await etcd('/v3/auth/user/grant', { user: 'mnat', role: 'mnat-east' });
  await etcd('/v3/auth/enable', {});

  const dir = tempDir(t);
  writeFileSync(join(dir, 'password'), 'two words\n');
  writeFileSync(join(dir, 'wrong'), 'one word\n');
  const login = (file: string): string[] => ['--etcd-user', 'mnat', '--etcd-password-file', join(dir, file)];
  const fa = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fa', ...login('password')]);
  const fb = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fb', ...login('password')]);
  const ha = client(t, fa.origin);
  const hb = client(t, fb.origin);
  const id = await newWatcher(ha);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  await eventually(async () => (await req(hb, 'GET', assignedPath(id))).status === 200, 5000, 'the watcher on fb (its log watch carries the token)');

  // A restarted member has forgotten every token: the next request is refused once, then the front end logs in again.
  await cluster.kill(0);
  await cluster.restart(0);
  await cluster.waitHealthy();
  await eventually(async () => (await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.2']]))).status === 204, 15_000, 'fa takes changes after the restart');
  await eventually(async () => (await req(hb, 'GET', assignedPath(id))).body.includes('232.1.1.2'), 10_000, 'fb follows the log after the restart');

  // A new password: etcd's root changes it, the operator writes the file and sends SIGHUP.
  const root = (await (await fetch(`http://${cluster.endpoints[0]}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name: 'root', password: 'root-pw' }) })).json()) as { token: string };
  const changed = await fetch(`http://${cluster.endpoints[0]}/v3/auth/user/changepw`, { method: 'POST', headers: { authorization: root.token }, body: JSON.stringify({ name: 'mnat', password: 'three words now' }) });
  assert.equal(changed.status, 200);
  writeFileSync(join(dir, 'password'), 'three words now\n');
  fa.proc.kill('SIGHUP');
  await fa.waitForLine(/etcd password file read again/);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.3']]))).status, 204, 'fa still takes changes');
  await cluster.kill(0);
  await cluster.restart(0);
  await cluster.waitHealthy();
  await eventually(async () => (await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.4']]))).status === 204, 15_000, 'and again after the next restart');

  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const s = await startServer(t, ['--insecure', ...args], { expectExit: true });
    assert.equal(await s.exited, 1);
    assert.match(s.lines.join('\n'), message);
  };
  await refused(['--store', cluster.url('east'), '--frontend-id', 'fc'], /user name is empty \(etcd has authentication enabled: give --etcd-user and --etcd-password-file\)/);
  await refused(['--store', cluster.url('east'), '--frontend-id', 'fc', ...login('wrong')], /invalid user ID or password \(check --etcd-user mnat and the password in --etcd-password-file .*\/wrong\)/);
  await refused(['--store', cluster.url('west'), '--frontend-id', 'fc', ...login('password')], /permission denied \(etcd user mnat may not use \/mnat\/west\/: give its role readwrite on that prefix, e\.g\. etcdctl role grant-permission ROLE --prefix=true readwrite \/mnat\/west\/\)/);
});
