// `mnat-server migrate`: an embedded deployment's state directory moves into
// an empty region without changing a mapping; both front ends answer every
// watcher as the embedded server did; a migrated watcher whose client
// refreshes stays, the others expire after the window; a region that holds
// state is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, eventually, joinsBody, monitorsBody, newWatcher, req, ROOT, startServer, tempDir } from '../server/helpers.ts';
import { loadPool } from '../../src/server/options.ts';
import { openEmbeddedStore } from '../../src/server/store/embedded-store.ts';
import { assignedPath, joinedPath, mappings, refresh, startCluster, startFrontEnd } from './region-helpers.ts';

const POOL = { 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/28', 'source-range': '10.1.0.0/24' }] } };

function runMigrate(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), 'migrate', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('migrate moves an embedded state directory into a region with every mapping unchanged', async (t) => {
  const dir = tempDir(t);
  const stateDir = join(dir, 'state');
  const poolFile = join(dir, 'pool.json');
  writeFileSync(poolFile, JSON.stringify(POOL));
  // A 15 s expiry window: the front ends start within it on a loaded machine.
  const settings = ['--pool', poolFile, '--refresh-period', '5', '--grace-period', '30'];

  // The embedded deployment: egress watchers (one channel shared, one released into grace), an ingress watcher.
  const embedded = await startServer(t, ['--insecure', '--state-dir', stateDir, ...settings]);
  const http = client(t, embedded.origin);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const id = await newWatcher(http);
    ids.push(id);
    const channels: Array<[string, string]> = [['192.0.2.1', '232.1.1.1'], ['192.0.2.1', `232.1.2.${i}`]];
    assert.equal((await req(http, 'PUT', joinedPath(id), joinsBody(id, channels))).status, 201);
  }
  assert.equal((await req(http, 'PUT', joinedPath(ids[3]!), joinsBody(ids[3]!, [['192.0.2.1', '232.1.1.1']]))).status, 204); // 232.1.2.3 goes into grace
  const ing = await newWatcher(http);
  ids.push(ing);
  assert.equal((await req(http, 'PUT', `/restconf/data/ietf-mnat:ingress-watching/watcher=${ing}`, monitorsBody(ing, ['192.0.2.0/24']))).status, 201);
  const before = new Map<string, unknown>();
  for (const id of ids) before.set(id, (await req(http, 'GET', assignedPath(id))).json['ietf-mnat:watcher'][0]['mapped-sg']);
  assert.equal((before.get(ing) as unknown[]).length, 4, 'the ingress sees every assigned channel');
  assert.equal(await embedded.stop('SIGTERM'), 0);

  const cluster = await startCluster(t);
  const done = runMigrate(['--from-state-dir', stateDir, '--store', cluster.url(), ...settings]);
  assert.equal(done.status, 0, done.out);
  assert.match(done.out, /msg="migrated; every mapping read back unchanged" watchers=5 channels=4/);
  const again = runMigrate(['--from-state-dir', stateDir, '--store', cluster.url(), ...settings]);
  assert.equal(again.status, 1);
  assert.match(again.out, /already holds \d+ keys; migrate only into an empty region/);

  const fa = await startFrontEnd(t, cluster, 'fa', settings);
  const fb = await startFrontEnd(t, cluster, 'fb', settings);
  // The client of ids[0] refreshes (at fb) from now on; the others never do.
  const keep = ids[0]!;
  const refresher = setInterval(() => void refresh(fb, keep).catch(() => undefined), 1000);
  t.after(() => clearInterval(refresher));
  for (const id of ids) {
    for (const fe of [fa, fb]) assert.deepEqual(await mappings(fe, id), before.get(id), `${fe.id} answers the migrated mapping`);
  }
  // The pool and its grace period came along: a new channel gets neither a group in use nor the one in grace.
  const fresh = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(fresh), joinsBody(fresh, [['192.0.2.1', '232.9.9.9']]))).status, 201);
  const used = new Set([...before.values()].flatMap((l) => (l as any[]).map((m) => m['local-mapping'].group)));
  const newGroup = (await mappings(fa, fresh))[0]!['local-mapping'].group;
  assert.ok(!used.has(newGroup), 'a new mapping avoids the migrated ones');

  // Watchers whose clients refresh stay; the others expire after the window.
  await fa.waitForLine(/msg="expiring watchers of a gone front end not refreshed elsewhere" frontend=migrated watchers=4/, 30_000);
  await eventually(async () => (await req(fb.http, 'GET', assignedPath(ids[1]!))).status === 404, 5000, 'unrefreshed migrated watchers expire');
  assert.deepEqual(await mappings(fb, keep), before.get(keep), 'the refreshed one keeps its mappings');
});

test('migrate refuses bad input with exit 2 and an unreachable etcd with exit 1', async (t) => {
  assert.equal(runMigrate(['--store', 'etcd://127.0.0.1:1']).status, 2);
  // A directory without state (a typo, or not the server's --state-dir) was created or taken as an empty state.
  for (const dir of [join(tempDir(t), 'missing'), tempDir(t)]) {
    const empty = runMigrate(['--from-state-dir', dir, '--store', 'etcd://127.0.0.1:1']);
    assert.equal(empty.status, 2, empty.out);
    assert.match(empty.out, /--from-state-dir .*: no mnat-server state there \(no snapshot\.json or journal\.log\)/);
    assert.ok(!existsSync(join(dir, 'journal.log')), 'nothing is created there');
  }
  const stateDir = tempDir(t);
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  await openEmbeddedStore({ state: { pool: loadPool(undefined).pool, refreshPeriodS: 10, gracePeriodS: 250, maxJoinsPerWatcher: 64 }, dir: stateDir, log: quiet, nowMs: Date.now() }).close();
  const unreachable = runMigrate(['--from-state-dir', stateDir, '--store', 'etcd://127.0.0.1:1']);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.out, /migrate: etcd unavailable .*ECONNREFUSED/);
  const noStore = runMigrate(['--from-state-dir', '/nonexistent']);
  assert.equal(noStore.status, 2);
  assert.match(noStore.out, /--store etcd:\/\/.* is required/);
  const help = runMigrate(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.out, /--from-state-dir/);
});
