import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeExec } from '../../src/host/node-host.ts';

test('exec collects output and the exit code, and passes input', async () => {
  const result = await nodeExec(['sh', '-c', 'cat; echo err >&2; exit 3'], { input: 'hello\n' });
  assert.deepEqual(result, { code: 3, stdout: 'hello\n', stderr: 'err\n' });
});

test('exec of a missing program answers 127 with the reason', async () => {
  const result = await nodeExec(['/nonexistent/mnat-tool']);
  assert.equal(result.code, 127);
  assert.match(result.stderr, /mnat-tool/);
});

test('a timeout ends exec even when a grandchild keeps the pipes open', { timeout: 10_000 }, async () => {
  // The shell forks a daemon-like sleep that inherits stdout/stderr, prints its
  // pid, then waits. Without the fix exec waited for the grandchild's 30 s.
  const result = await nodeExec(['sh', '-c', 'sleep 30 & echo $!; wait'], { timeoutMs: 300 });
  const grandchild = Number(result.stdout.trim());
  if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
  assert.equal(result.code, null);
  assert.match(result.stderr, /killed after 300 ms/);
});
