import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { processRuns } from '../../src/host/process-runs.ts';

test('processRuns: this process runs; ids that name no process (0, negative, not a number) do not', () => {
  const files = { fileExists: existsSync };
  assert.equal(processRuns(files, process.pid), true);
  // /proc/0 and /proc/-1 are absent anyway; NaN would read "/proc/NaN" and a fraction "/proc/1.5".
  for (const pid of [0, -1, Number.NaN, 1.5]) assert.equal(processRuns(files, pid), false, String(pid));
  const asked: string[] = [];
  assert.equal(processRuns({ fileExists: (p) => (asked.push(p), false) }, 4242), false);
  assert.deepEqual(asked, ['/proc/4242']);
});
