// bench-support.ts's clean-up on signals, as timeout(1) sends them: SIGTERM to
// the bench and then to its process group, so twice in a row. The first must
// not leave the second to kill the bench halfway through its clean-up (which
// once left a starting mosquitto behind), and a clean-up already done is not
// run again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

test('benchCleanup: two SIGTERMs in a row finish every pending clean-up, then exit 130', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  const child = spawn(process.execPath, ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'test/bench/fixtures/cleanup-on-signals.ts'), out], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const printed = (word: string): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => void (stdout.includes(word) ? resolve() : child.stdout.once('data', check));
      check();
    });
  await printed('ready');
  child.kill('SIGTERM');
  // The second while the first one's clean-up runs (two at once would be merged into one by the kernel).
  await printed('cleaning');
  child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 130, signal: null });
  assert.equal(readFileSync(out, 'utf8'), 'first\nsecond\n');
});
