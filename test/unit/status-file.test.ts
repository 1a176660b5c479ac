// The agents' status file writer: atomic writes soon after changes (one for a
// burst), a failing write logged once, the file gone when the agent stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStatusFile } from '../../src/agent/status-file.ts';
import type { Host } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

function setup() {
  const time = createVirtualTime();
  const files = new Map<string, string>();
  const dirs: string[] = [];
  const warnings: string[] = [];
  let broken = false;
  const host = {
    setTimeout: time.setTimeout,
    clearTimeout: time.clearTimeout,
    makeDirectory: (d: string) => void dirs.push(d),
    writeFileAtomic: (p: string, data: string) => {
      if (broken) throw new Error('EROFS: read-only file system');
      files.set(p, data);
    },
    removeFile: (p: string) => void files.delete(p),
    log: { warn: (m: string) => void warnings.push(m) },
  } as unknown as Host;
  return { time, files, dirs, warnings, host, break: (b: boolean) => void (broken = b) };
}

test('a burst of changes is one write; write() is at once; close() removes the file', async () => {
  const s = setup();
  let renders = 0;
  const file = createStatusFile(s.host, '/run/mnat/x.json', () => ({ n: ++renders }));
  for (let i = 0; i < 10; i++) file.changed();
  await s.time.advance(99);
  assert.equal(s.files.size, 0);
  await s.time.advance(1);
  assert.equal(s.files.get('/run/mnat/x.json'), '{\n "n": 1\n}\n');
  assert.deepEqual(s.dirs, ['/run/mnat']);
  file.write();
  assert.equal(renders, 2);
  file.changed();
  file.close();
  await s.time.advance(1000);
  assert.equal(s.files.size, 0, 'removed, and no write after close');
  assert.equal(renders, 2);
});

test('a failing write is logged once until a write works; moveTo removes the old file', async () => {
  const s = setup();
  const file = createStatusFile(s.host, '/a/x.json', () => ({}));
  file.write();
  s.break(true);
  file.write();
  file.write();
  assert.deepEqual(s.warnings, ['cannot write the status file']);
  s.break(false);
  file.write();
  s.break(true);
  file.write();
  assert.equal(s.warnings.length, 2, 'logged again after a write worked in between');
  s.break(false);
  file.moveTo('/b/y.json');
  file.write();
  assert.deepEqual([...s.files.keys()], ['/b/y.json']);
});
