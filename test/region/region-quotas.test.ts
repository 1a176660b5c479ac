// Per-client watcher quotas hold region-wide: the counts and the
// get-new-watcher-id rate live in the replicated state machine, so one client
// address that spreads its requests over two front ends (even at the same
// instant) gets no more than the region's limit. The attacker is 127.0.0.2;
// a normal client on 127.0.0.1 still gets ids. A front end with other quota
// settings is refused (replicas agree only with the same settings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { ATTACKER, h2, NORMAL, Opened, request, type Answer } from '../../lab/hostile-clients.ts';
import { errorOf, startServer } from '../server/helpers.ts';
import { metric, startCluster, startFrontEnd, type FrontEnd } from './region-helpers.ts';

const NEW_ID = '/restconf/operations/ietf-mnat:get-new-watcher-id';

/** Two front ends over a new cluster with `flags`, and the attacker's session to each; open() makes more sessions. */
async function twoFrontEnds(t: { after(fn: () => unknown): void }, flags: string[]) {
  const cluster = await startCluster(t);
  const fa = await startFrontEnd(t, cluster, 'fa', flags);
  const fb = await startFrontEnd(t, cluster, 'fb', flags);
  const opened = new Opened();
  t.after(() => opened.closeAll());
  const open = (fe: FrontEnd, local: string): Promise<ClientHttp2Session> => h2(opened, { port: fe.port }, local);
  return { fa, fb, open, onA: await open(fa, ATTACKER), onB: await open(fb, ATTACKER) };
}

const appTag = (a: Answer): unknown => errorOf({ json: JSON.parse(a.body) })['error-app-tag'];

test('watchers per address hold across two front ends, also for requests made at the same instant on both', async (t) => {
  const { fa, fb, open, onA, onB } = await twoFrontEnds(t, ['--max-watchers-per-address', '10', '--new-watcher-burst', '1000']);

  // 15 at once through each front end: each front end's replica may see room
  // for all of them, the log order decides; exactly 10 are created.
  const answers = await Promise.all([...Array.from({ length: 15 }, () => request(onA, 'POST', NEW_ID)), ...Array.from({ length: 15 }, () => request(onB, 'POST', NEW_ID))]);
  const created = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status !== 200);
  assert.equal(created.length, 10, `statuses: ${answers.map((a) => a.status).join(' ')}`);
  for (const a of refused) {
    assert.equal(a.status, 429, a.body);
    assert.equal(appTag(a), 'ietf-mnat:watchers-per-address');
  }
  const viaA = answers.slice(0, 15).filter((a) => a.status === 200).length;
  t.diagnostic(`created through fa: ${viaA}, through fb: ${10 - viaA}`);

  // Later requests are refused on both front ends (the replica's count, no log write).
  for (const s of [onA, onB]) {
    const a = await request(s, 'POST', NEW_ID);
    assert.equal(a.status, 429, a.body);
    assert.equal(appTag(a), 'ietf-mnat:watchers-per-address');
  }
  // Another address is served by both.
  assert.equal((await request(await open(fa, NORMAL), 'POST', NEW_ID)).status, 200);
  assert.equal((await request(await open(fb, NORMAL), 'POST', NEW_ID)).status, 200);
  // Each front end counts the refusals it answered.
  const counted = (await metric(fa, 'mnat_limit_refusals_total{limit="watchers-per-address"}'))! + (await metric(fb, 'mnat_limit_refusals_total{limit="watchers-per-address"}'))!;
  assert.equal(counted, refused.length + 2);

});

test('the get-new-watcher-id rate is one bucket per client for the whole region', async (t) => {
  const { fb, open, onA, onB } = await twoFrontEnds(t, ['--new-watcher-burst', '6', '--new-watchers-per-minute', '1']);
  for (let i = 0; i < 3; i++) assert.equal((await request(onA, 'POST', NEW_ID)).status, 200);
  for (let i = 0; i < 3; i++) {
    // fb learns fa's creations from the log; its answer waits for its own entry to come back.
    assert.equal((await request(onB, 'POST', NEW_ID)).status, 200);
  }
  for (const s of [onB, onA]) {
    const a = await request(s, 'POST', NEW_ID);
    assert.equal(a.status, 429, a.body);
    assert.equal(appTag(a), 'ietf-mnat:new-watcher-rate');
    const retry = Number(a.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${a.headers['retry-after']}`);
  }
  assert.equal((await request(await open(fb, NORMAL), 'POST', NEW_ID)).status, 200, 'another address has its own bucket');
});

test('a front end whose quota settings differ from the region\'s is refused, naming the flag', async (t) => {
  const cluster = await startCluster(t);
  await startFrontEnd(t, cluster, 'fa', ['--max-watchers-per-address', '10']);
  const other = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fc', '--max-watchers-per-address', '20'], { expectExit: true });
  assert.equal(await other.exited, 1);
  assert.match(other.lines.join('\n'), /--max-watchers-per-address \(region: 10, here: 20\)/);
});
