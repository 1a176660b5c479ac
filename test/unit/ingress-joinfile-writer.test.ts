import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JoinfileWriter } from '../../src/ingress/joinfile-writer.ts';
import type { Host, Logger } from '../../src/host/host.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import { startJoinfileReader } from '../../lab/joinfile-reader.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const log: Logger = { debug() {}, info() {}, warn() {}, error() {} };
// Files are real; the refresh timer runs on virtual time, which the test moves.
const time = createVirtualTime();
const host: Host = { ...createNodeHost(log), now: time.now, wallClock: time.wallClock, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout };

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-joinfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const channels = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ source: `23.212.${185 + (i >> 8)}.${(i & 255) + 1}`, group: `232.1.${i >> 8}.${i & 255}` }));

test('writes only on change, and exactly the rendered state', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ingress-joined.sgs');
  const w = new JoinfileWriter({ host, path, refreshS: 3600 });
  w.start();
  assert.equal(w.update([{ source: '23.212.185.4', group: '232.1.1.1' }]), true);
  assert.equal(w.update([{ source: '23.212.185.4', group: '232.1.1.1' }]), false);
  assert.equal(readFileSync(path, 'utf8'), '23.212.185.4,232.1.1.1\n');
  assert.equal(w.writeCount, 1);
  w.stop();
  assert.equal(readFileSync(path, 'utf8'), '');
  assert.deepEqual(readdirSync(dir), ['ingress-joined.sgs']);
});

test('a reader in another process, woken by every directory event, never sees a partial file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ingress-joined.sgs');
  // Every state written has 1 or 200 lines, each "a.b.c.d,232.x.y.z".
  const reader = await startJoinfileReader(t, path, { line: /^[0-9.]+,232\.[0-9.]+$/, lineCounts: [1, 200] });
  const w = new JoinfileWriter({ host, path, refreshS: 3600 });
  w.start();
  const big = channels(200);
  for (let round = 0; round < 1500; round++) {
    w.update(round % 2 === 0 ? big : channels(1));
    if (round % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  w.stop();
  await new Promise((r) => setTimeout(r, 200)); // the reader drains its queued events; fs.watch has no end marker
  const report = await reader.report(60_000);
  assert.ok(report.reads > 50, `the reader woke ${report.reads} times`);
  assert.equal(report.bad, 0, `${report.bad} of ${report.reads} reads saw a partial file`);
});

test('the periodic refresh rewrites the file (new mtime, same bytes) while nothing changes', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'j.sgs');
  const w = new JoinfileWriter({ host, path, refreshS: 1 });
  w.start();
  w.update([{ source: '2001:db8::5', group: 'ff3e::1' }]);
  const first = statSync(path).mtimeMs;
  const ino = statSync(path).ino;
  await time.advance(999);
  assert.equal(statSync(path).ino, ino, 'not yet: the refresh period is 1 s');
  await time.advance(1);
  assert.notEqual(statSync(path).ino, ino, 'replaced by rename');
  assert.ok(statSync(path).mtimeMs >= first);
  assert.equal(readFileSync(path, 'utf8'), '2001:db8::5,ff3e::1\n');
  assert.equal(w.writeCount, 2);
  w.stop();
});

test('start removes only its own stale temp files (dead writers), never other files', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'j.sgs');
  const stale = join(dir, '.j.sgs.mnat-ingress.999999999.tmp'); // no such pid
  const live = join(dir, `.j.sgs.mnat-ingress.${process.ppid}.tmp`); // a live process's: keep
  const foreign = [join(dir, '.j.sgs.other.tmp'), join(dir, 'j.sgs.bak'), join(dir, '.other.mnat-ingress.1.tmp')];
  for (const f of [stale, live, ...foreign]) writeFileSync(f, 'x');
  const w = new JoinfileWriter({ host, path, refreshS: 3600 });
  w.start();
  assert.equal(existsSync(stale), false);
  assert.equal(existsSync(live), true);
  for (const f of foreign) assert.equal(existsSync(f), true, f);
  w.stop();
});

test('a missing directory is an error naming it', () => {
  const w = new JoinfileWriter({ host, path: '/nonexistent-mnat-dir/j.sgs', refreshS: 30 });
  assert.throws(() => w.start(), /joinfile directory \/nonexistent-mnat-dir/);
});
