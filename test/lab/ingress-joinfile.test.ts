// mnat-ingress in the ingest-manager model (--no-join --joinfile) in the full
// lab: the joinfile tracks the assignments while a reader in another process,
// woken by inotify for every change in the directory, never sees a partial
// file; the ingress joins nothing upstream but still translates; SIGTERM
// empties the joinfile and leaves nothing else behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CHANNELS, MnatLab, waitFor } from '../../lab/mnat-lab.ts';
import { startJoinfileReader } from '../../lab/joinfile-reader.ts';

test('--no-join --joinfile: the joinfile tracks assignments atomically, traffic is translated, SIGTERM empties it', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 2, joinfile: true, ingressExtraArgs: ['--no-join'] });
  const path = m.joinfilePath!;
  const reader = await startJoinfileReader(t, path, { line: /^[0-9a-f.:]+,[0-9a-f.:]+$/ });

  await m.startAll();
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v6, { rate: 200, stream: 2 });
  const v4 = `${CHANNELS.v4.source},${CHANNELS.v4.group}\n`;
  const v6 = `${CHANNELS.v6.source},${CHANNELS.v6.group}\n`;

  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  assert.equal((await rx1.waitForJson((e) => e.event === 'first-packet', 20_000)).source, CHANNELS.v4.source);
  await reader.sawContent(v4, 'the v4 channel in the joinfile');
  const rx2 = m.receiver(m.host(1, 2), CHANNELS.v6);
  assert.equal((await rx2.waitForJson((e) => e.event === 'first-packet', 20_000)).source, CHANNELS.v6.source);
  await reader.sawContent(v4 + v6, 'both channels in the joinfile, sorted');

  // --no-join: translated, but no upstream membership (the ingest manager's job).
  const mcfilter = await m.topo.ingress.ns.run(['cat', '/proc/net/mcfilter']);
  assert.ok(!/0xe8010101/i.test(mcfilter), 'no IGMP membership for 232.1.1.1 on the ingress');

  // SIGHUP (a reload, or a hangup of the shell it was started from) no longer ends it
  // on the spot with its translator and joinfile left as they were.
  process.kill(m.ingress!.pid, 'SIGHUP');
  await m.ingress!.waitForLine(/SIGHUP: the TLS files are read again at the next connection/, 10_000);

  rx1.write('exit');
  await rx1.exited;
  await reader.sawContent(v6, 'the released v4 channel gone from the joinfile');
  assert.equal(readFileSync(path, 'utf8'), v6);

  // SIGTERM: the joinfile is written empty; its directory holds nothing else (no temp files).
  assert.equal(await m.ingress!.kill('SIGTERM'), 0);
  assert.equal(readFileSync(path, 'utf8'), '');
  assert.deepEqual(readdirSync(dirname(path)), [basename(path)]);
  await reader.sawContent('', 'the empty joinfile');

  const report = await reader.report();
  assert.equal(report.bad, 0, 'the reader never saw a partial joinfile');
  assert.ok(report.reads >= 4, `reader woke ${report.reads} times`);
  for (const c of reader.contents()) assert.ok(['', v4, v6, v4 + v6].includes(c), `unexpected joinfile state ${JSON.stringify(c)}`);
});
