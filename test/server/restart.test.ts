import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, joinsBody, monitorsBody, newWatcher, req, startServer, tempDir } from './helpers.ts';

const E = '/restconf/data/ietf-mnat:egress-global-joined/watcher=';
const I = '/restconf/data/ietf-mnat:ingress-watching/watcher=';
const A = '/restconf/data/ietf-mnat:assigned-channels/watcher=';

async function assignedOf(http: ReturnType<typeof client>, id: string): Promise<unknown> {
  const res = await req(http, 'GET', A + id);
  assert.equal(res.status, 200, res.body);
  return res.json['ietf-mnat:watcher'][0]['mapped-sg'];
}

test('kill -9 and restart: watchers, joins, monitors, mappings and grace survive', async (t) => {
  const dir = tempDir(t);
  // 21 watchers from one address at once: more than the default burst of get-new-watcher-id
  const args = ['--insecure', '--state-dir', dir, '--new-watcher-burst', '100'];
  const s1 = await startServer(t, args);
  const h1 = client(t, s1.origin);
  const ing = await newWatcher(h1);
  await req(h1, 'PUT', I + ing, monitorsBody(ing, ['192.0.2.0/24']));
  const egress: string[] = [];
  for (let i = 0; i < 20; i++) {
    const id = await newWatcher(h1);
    egress.push(id);
    const res = await req(h1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', `232.1.1.${i % 5}`], ['198.51.100.1', `232.9.9.${i}`]]));
    assert.equal(res.status, 201);
  }
  // one leave puts its local group into grace
  await req(h1, 'PUT', E + egress[19], joinsBody(egress[19] as string, [['192.0.2.1', '232.1.1.4']]));
  const before = new Map<string, unknown>();
  for (const id of [ing, ...egress]) before.set(id, await assignedOf(h1, id));
  const metricsBefore = (await req(h1, 'GET', '/metrics')).body;
  const graceBefore = /mnat_pool_in_grace (\d+)/.exec(metricsBefore)?.[1];
  assert.equal(graceBefore, '1');
  h1.close();
  await s1.stop('SIGKILL');

  const s2 = await startServer(t, args);
  await s2.waitForLine(/msg="state restored".* watchers=21/);
  const h2 = client(t, s2.origin);
  for (const [id, mapped] of before) assert.deepEqual(await assignedOf(h2, id), mapped, `watcher ${id} after restart`);
  assert.equal((await req(h2, 'GET', E + egress[0])).json['ietf-mnat:watcher'][0]['joined-sg'].length, 2);
  const metricsAfter = (await req(h2, 'GET', '/metrics')).body;
  assert.equal(/mnat_pool_in_grace (\d+)/.exec(metricsAfter)?.[1], graceBefore);
  assert.equal(/mnat_pool_in_use (\d+)/.exec(metricsAfter)?.[1], /mnat_pool_in_use (\d+)/.exec(metricsBefore)?.[1]);
  // refreshes work on the restored ids
  assert.equal((await req(h2, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': egress[3] } })).status, 200);
  // a new join after restart does not collide with any restored local group
  const fresh = await newWatcher(h2);
  await req(h2, 'PUT', E + fresh, joinsBody(fresh, [['203.0.113.5', '232.7.7.7']]));
  const locals = new Set<string>();
  for (const id of [...egress, fresh]) for (const m of (await assignedOf(h2, id)) as any[]) locals.add(`${m['global-subscription'].group}>${m['local-mapping'].group}`);
  const byLocal = new Map<string, string>();
  for (const pair of locals) {
    const [g, l] = pair.split('>') as [string, string];
    assert.ok(!byLocal.has(l) || byLocal.get(l) === g, `local group ${l} used for two channels`);
    byLocal.set(l, g);
  }
  // SIGTERM: graceful exit 0
  assert.equal(await s2.stop('SIGTERM'), 0);
});

test('a torn journal tail is reported with its offset and cut; acknowledged state stays', async (t) => {
  const dir = tempDir(t);
  const args = ['--insecure', '--state-dir', dir];
  const s1 = await startServer(t, args);
  const h1 = client(t, s1.origin);
  const id = await newWatcher(h1);
  await req(h1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', '232.1.1.1']]));
  const mapped = await assignedOf(h1, id);
  h1.close();
  await s1.stop('SIGKILL');
  const journal = join(dir, 'journal.log');
  const size = statSync(journal).size;
  appendFileSync(journal, '120 1234abcd {"op":"joins-set","id":"');
  const s2 = await startServer(t, args);
  const warn = await s2.waitForLine(/torn tail/);
  assert.match(warn, new RegExp(`offset=${size}\\b`));
  const h2 = client(t, s2.origin);
  assert.deepEqual(await assignedOf(h2, id), mapped);
  await s2.stop('SIGTERM');
});

test('corruption in the middle of the journal or in the snapshot refuses to start', async (t) => {
  const dir = tempDir(t);
  const args = ['--insecure', '--state-dir', dir];
  const s1 = await startServer(t, args);
  const h1 = client(t, s1.origin);
  for (let i = 0; i < 3; i++) {
    const id = await newWatcher(h1);
    await req(h1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', `232.1.1.${i}`]]));
  }
  h1.close();
  await s1.stop('SIGKILL');
  const journal = join(dir, 'journal.log');
  const data = readFileSync(journal);
  const at = data.indexOf('232.1.1.0');
  data[at + 8] = '7'.charCodeAt(0);
  writeFileSync(journal, data);
  const s2 = await startServer(t, args, { expectExit: true });
  assert.equal(await s2.exited, 1);
  assert.ok(s2.lines.some((l) => /corrupt record at byte offset \d+/.test(l)), s2.lines.join('\n'));

  // with the journal repaired, enough writes make a compaction (a snapshot); corrupting that refuses too
  data[at + 8] = '0'.charCodeAt(0);
  writeFileSync(journal, data);
  const s3 = await startServer(t, [...args, '--journal-compact-bytes', '4096']);
  const h3 = client(t, s3.origin);
  const w = await newWatcher(h3);
  // each PUT journals a joins-set and a mapping-assigned record: 40 are well past 4 KiB
  for (let n = 0; n < 40; n++) assert.ok([201, 204].includes((await req(h3, 'PUT', E + w, joinsBody(w, [['192.0.2.1', `232.2.${n}.1`]]))).status));
  await s3.waitForLine(/msg="state compacted"/);
  await s3.stop('SIGTERM');
  const snap = join(dir, 'snapshot.json');
  writeFileSync(snap, readFileSync(snap, 'utf8').replace('232.1.1.1', '232.1.1.9'));
  const s4 = await startServer(t, args, { expectExit: true });
  assert.equal(await s4.exited, 1);
  assert.ok(s4.lines.some((l) => /fails its checksum/.test(l)), s4.lines.join('\n'));
});
