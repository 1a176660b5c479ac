// A step of the server's wall clock (NTP correcting a wrong clock, a VM
// resumed or migrated), made with libfaketime in the server process only
// (its monotonic clock untouched). Forward, it once expired every watcher at
// the next tick (each last refresh looked two hours old); backward, it would
// have held watchers that stopped refreshing, and every grace period, for two
// hours. Expiry now runs on elapsed time (src/server/clock.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, eventually, joinsBody, newWatcher, req, startServer, tempDir } from './helpers.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const assigned = (id: string): string => `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`;
const joined = (id: string): string => `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`;

test('a step of the wall clock expires no watcher, and a silent watcher still expires on time', async (t) => {
  assert.ok(existsSync(LIBFAKETIME), `${LIBFAKETIME} missing: apt-get install faketime (build/setup-debian.sh does)`);
  const dir = tempDir(t);
  const offset = join(dir, 'offset');
  writeFileSync(offset, '+0');
  const server = await startServer(t, ['--insecure', '--state-dir', join(dir, 'state'), '--refresh-period', '2'], {
    enter: ['env', `LD_PRELOAD=${LIBFAKETIME}`, `FAKETIME_TIMESTAMP_FILE=${offset}`, 'FAKETIME_NO_CACHE=1', 'DONT_FAKE_MONOTONIC=1'],
  });
  // libfaketime's shared memory and semaphore, left behind when the server is killed (a failed test).
  t.after(() => {
    for (const name of [`faketime_shm_${server.proc.pid}`, `sem.faketime_sem_${server.proc.pid}`]) rmSync(join('/dev/shm', name), { force: true });
  });
  const http = client(t, server.origin);
  const refresh = async (id: string): Promise<number> => (await req(http, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': id } })).status;
  const id = await newWatcher(http);
  assert.equal((await req(http, 'PUT', joined(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  const before = (await req(http, 'GET', assigned(id))).body;

  writeFileSync(offset, '+2h');
  await server.waitForLine(/level=warn .*msg="the wall clock jumped; watcher expiry and grace periods go on by elapsed time" jumpS=7200/);
  assert.equal(await refresh(id), 200, 'the watcher outlived the step');
  assert.equal((await req(http, 'GET', assigned(id))).body, before, 'its mapping unchanged');

  writeFileSync(offset, '-2h');
  await server.waitForLine(/msg="the wall clock jumped.*jumpS=-14400/);
  const silent = await newWatcher(http);
  assert.equal(await refresh(id), 200);
  // Refresh period 2 s: expired after 3 missed refreshes (about 6 s of elapsed time), not two hours.
  // The other watcher is refreshed on every look, as its client would.
  await eventually(async () => ((await refresh(id)) === 200 && /mnat_watchers\{role="none"\} 0/.test((await req(http, 'GET', '/metrics')).body)) || null, 15_000, 'the silent watcher expired');
  assert.notEqual(await refresh(silent), 200);
  assert.equal((await req(http, 'GET', assigned(id))).body, before, 'the refreshed watcher and its mapping stay');
  assert.equal(await server.stop('SIGTERM'), 0);
});
