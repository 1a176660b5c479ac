// mnat-ingress in the ingest-manager model (--no-join --joinfile) in the full
// lab: the joinfile tracks the assignments while a reader in another process,
// woken by inotify for every change in the directory, never sees a partial
// file; the ingress joins nothing upstream but still translates; SIGTERM
// empties the joinfile and leaves nothing else behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CHANNELS, MnatLab, waitFor } from '../../demo/mnat-lab.ts';

// The reader an ingest manager would be: watches the directory (inotify via
// fs.watch), reads the file on every event, checks each read is a whole state.
const READER = `
const fs = require('node:fs');
const [dir, name] = process.argv.slice(1);
const seen = new Set();
let reads = 0, bad = 0;
fs.watch(dir, (ev, n) => {
  if (n !== name) return;
  let text;
  try { text = fs.readFileSync(dir + '/' + name, 'utf8'); } catch { return; }
  reads++;
  const ok = text === '' || (text.endsWith('\\n') && text.slice(0, -1).split('\\n').every((l) => /^[0-9a-f.:]+,[0-9a-f.:]+$/.test(l)));
  if (!ok) bad++;
  if (!seen.has(text)) { seen.add(text); process.stdout.write(JSON.stringify({ event: 'content', text }) + '\\n'); }
});
process.stdout.write(JSON.stringify({ event: 'ready' }) + '\\n');
process.stdin.on('data', () => { process.stdout.write(JSON.stringify({ event: 'report', reads, bad }) + '\\n'); process.exit(0); });
`;

test('--no-join --joinfile: the joinfile tracks assignments atomically, traffic is translated, SIGTERM empties it', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 2, joinfile: true, ingressExtraArgs: ['--no-join'] });
  const path = m.joinfilePath!;
  const reader = spawn(process.execPath, ['-e', READER, dirname(path), basename(path)], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => reader.kill());
  const events: Array<{ event: string; text?: string; reads?: number; bad?: number }> = [];
  let pending = '';
  const waiters: Array<() => void> = [];
  reader.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      events.push(JSON.parse(pending.slice(0, nl)));
      pending = pending.slice(nl + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  const readerEvent = (pred: (e: (typeof events)[number]) => boolean, what: string, timeoutMs = 15_000) =>
    new Promise<(typeof events)[number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reader: no ${what} within ${timeoutMs} ms; saw ${JSON.stringify(events)}`)), timeoutMs);
      const check = (): void => {
        const e = events.find(pred);
        if (e) {
          clearTimeout(timer);
          resolve(e);
        } else waiters.push(check);
      };
      check();
    });
  await readerEvent((e) => e.event === 'ready', 'ready');

  await m.startAll();
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v6, { rate: 200, stream: 2 });
  const v4 = `${CHANNELS.v4.source},${CHANNELS.v4.group}\n`;
  const v6 = `${CHANNELS.v6.source},${CHANNELS.v6.group}\n`;

  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  assert.equal((await rx1.waitForJson((e) => e.event === 'first-packet', 20_000)).source, CHANNELS.v4.source);
  await readerEvent((e) => e.event === 'content' && e.text === v4, 'the v4 channel in the joinfile');
  const rx2 = m.receiver(m.host(1, 2), CHANNELS.v6);
  assert.equal((await rx2.waitForJson((e) => e.event === 'first-packet', 20_000)).source, CHANNELS.v6.source);
  await readerEvent((e) => e.event === 'content' && e.text === v4 + v6, 'both channels in the joinfile, sorted');

  // --no-join: translated, but no upstream membership (the ingest manager's job).
  const mcfilter = await m.topo.ingress.ns.run(['cat', '/proc/net/mcfilter']);
  assert.ok(!/0xe8010101/i.test(mcfilter), 'no IGMP membership for 232.1.1.1 on the ingress');

  rx1.write('exit');
  await rx1.exited;
  await readerEvent((e) => e.event === 'content' && e.text === v6, 'the released v4 channel gone from the joinfile');
  assert.equal(readFileSync(path, 'utf8'), v6);

  // SIGTERM: the joinfile is written empty; its directory holds nothing else (no temp files).
  assert.equal(await m.ingress!.kill('SIGTERM'), 0);
  assert.equal(readFileSync(path, 'utf8'), '');
  assert.deepEqual(readdirSync(dirname(path)), [basename(path)]);
  await readerEvent((e) => e.event === 'content' && e.text === '', 'the empty joinfile');

  reader.stdin.write('report\n');
  const report = await readerEvent((e) => e.event === 'report', 'report');
  assert.equal(report.bad, 0, 'the reader never saw a partial joinfile');
  assert.ok((report.reads ?? 0) >= 4, `reader woke ${report.reads} times`);
  const contents = events.filter((e) => e.event === 'content').map((e) => e.text);
  for (const c of contents) assert.ok(['', v4, v6, v4 + v6].includes(c ?? 'x'), `unexpected joinfile state ${JSON.stringify(c)}`);
});
