// A full disk under the state directory, for real: a small tmpfs in a
// private mount namespace (lab/small-disk.ts), the server run inside it.
// A request refused because its change could not be stored changes nothing,
// also when the group commit fails part-way; the server stays up read-only
// (reads and refreshes served, changes 503), reports it (log, /metrics,
// status page), recovers by itself when space returns, starts on a full disk,
// and leaves no temp file behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallDisk, type SmallDisk } from '../../lab/small-disk.ts';
import { client, errorOf, eventually, joinsBody, newWatcher, req, startServer, type ServerProc } from './helpers.ts';

const E = '/restconf/data/ietf-mnat:egress-global-joined/watcher=';
const A = '/restconf/data/ietf-mnat:assigned-channels/watcher=';

async function disk(t: { after(fn: () => unknown): void; skip(msg: string): void }, size: number): Promise<SmallDisk | null> {
  try {
    const d = await smallDisk(size);
    t.after(() => d.close());
    return d;
  } catch (err) {
    t.skip(`needs root for a tmpfs in a mount namespace: ${(err as Error).message}`);
    return null;
  }
}

function noTempFiles(d: SmallDisk): void {
  const names = d.list('state');
  assert.deepEqual(names.filter((n) => n.endsWith('.tmp')), [], `temp files left: ${names.join(', ')}`);
}

test('full disk: a refused PUT changes nothing (also after kill -9); read-only while full; recovers when space returns', async (t) => {
  const d = await disk(t, 8 * 1024 * 1024);
  if (!d) return;
  const args = ['--insecure', '--state-dir', `${d.dir}/state`, '--new-watcher-burst', '100'];
  const s1 = await startServer(t, args, { enter: d.enter });
  const h1 = client(t, s1.origin);
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push(await newWatcher(h1));
  const acked = new Set<string>();
  for (const id of ids.slice(0, 8)) {
    assert.equal((await req(h1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', `232.1.0.${acked.size}`]]))).status, 201);
    acked.add(id);
  }
  // Leave two pages: some of the next group commits fit, then one fails part-way.
  d.fill(8192);
  const puts = await Promise.all(ids.slice(8).map(async (id, i) => ({ id, res: await req(h1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', `232.2.${i}.1`], ['192.0.2.2', `232.3.${i}.1`]])) })));
  const refused = puts.filter((p) => p.res.status === 503);
  for (const p of puts) {
    assert.ok([201, 503].includes(p.res.status), `PUT answered ${p.res.status}: ${p.res.body}`);
    if (p.res.status === 201) acked.add(p.id);
  }
  assert.ok(refused.length > 0, 'some PUTs must fail on the full disk');
  assert.match(errorOf(refused[0]!.res)['error-message'] as string, /stor/);
  // A refused PUT changed nothing: no joins, no mappings.
  for (const p of refused) {
    assert.equal((await req(h1, 'GET', E + p.id)).status, 404, 'a refused PUT left joins behind');
    assert.deepEqual((await req(h1, 'GET', A + p.id)).json['ietf-mnat:watcher'][0]['mapped-sg'] ?? [], []);
  }
  // Read-only: reads and refreshes served, changes refused, reported.
  const probeId = ids[0] as string;
  assert.equal((await req(h1, 'GET', A + probeId)).status, 200);
  assert.equal((await req(h1, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': probeId } })).status, 200);
  const later = await req(h1, 'PUT', E + probeId, joinsBody(probeId, [['192.0.2.9', '232.9.9.9']]));
  assert.equal(later.status, 503);
  assert.ok(Number(later.headers['retry-after']) >= 1);
  assert.match((await req(h1, 'GET', '/metrics')).body, /mnat_store_read_only 1\n/);
  assert.match((await req(h1, 'GET', '/status')).body, /READ-ONLY since .*ENOSPC/);
  await s1.waitForLine(/level=error .*read-only/);

  // kill -9 on the full disk, start again on it: read-only from the start, exactly the acknowledged state.
  await s1.stop('SIGKILL');
  const s2 = await startServer(t, args, { enter: d.enter });
  await s2.waitForLine(/starting read-only/);
  const h2 = client(t, s2.origin);
  for (const id of ids.slice(8)) {
    const got = await req(h2, 'GET', E + id);
    assert.equal(got.status, acked.has(id) ? 200 : 404, `watcher ${ids.indexOf(id)}: ${acked.has(id) ? 'acknowledged' : 'refused'} PUT after restart`);
  }
  assert.equal((await req(h2, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).status, 503);
  noTempFiles(d);

  // Space returns: the server accepts changes again by itself.
  d.free();
  await s2.waitForLine(/msg="writable again/, 15_000);
  const back = await req(h2, 'PUT', E + probeId, joinsBody(probeId, [['192.0.2.9', '232.9.9.9']]));
  assert.equal(back.status, 204, back.body + s2.lines.join('\n'));
  assert.match((await req(h2, 'GET', '/metrics')).body, /mnat_store_read_only 0\n/);
  assert.equal(await s2.stop('SIGTERM'), 0);
});

test('full disk at start with a compaction pending: starts read-only, the failed compaction leaves no temp file, both recover', async (t) => {
  const d = await disk(t, 4 * 1024 * 1024);
  if (!d) return;
  const args = ['--insecure', '--state-dir', `${d.dir}/state`, '--new-watcher-burst', '100'];
  const s1: ServerProc = await startServer(t, args, { enter: d.enter });
  const h1 = client(t, s1.origin);
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const id = await newWatcher(h1);
    ids.push(id);
    await req(h1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', `232.4.${i}.1`]]));
  }
  assert.equal(await s1.stop('SIGTERM'), 0);
  // As if a compaction had closed the journal and the process died before the snapshot was written.
  const { renameSync } = await import('node:fs');
  renameSync(d.hostPath('state/journal.log'), d.hostPath('state/journal.closed.log'));
  d.fill();
  const s2 = await startServer(t, args, { enter: d.enter });
  await s2.waitForLine(/starting read-only/);
  await s2.waitForLine(/compaction failed/);
  noTempFiles(d);
  const h2 = client(t, s2.origin);
  for (const id of ids) assert.equal((await req(h2, 'GET', E + id)).status, 200, 'the state of the closed journal is served');
  assert.equal((await req(h2, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).status, 503);
  d.free();
  await s2.waitForLine(/msg="state compacted"/, 15_000);
  await eventually(async () => (await req(h2, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).status === 200, 10_000, 'changes accepted again');
  assert.deepEqual(d.list('state'), ['journal.log', 'snapshot.json']);
  assert.equal(await s2.stop('SIGTERM'), 0);
  // and the compacted state comes back
  const s3 = await startServer(t, args, { enter: d.enter });
  const h3 = client(t, s3.origin);
  for (const id of ids) assert.equal((await req(h3, 'GET', E + id)).status, 200);
});
