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

test('removeFile removes a file or an empty directory; a directory that is not empty, or nothing, stays quietly', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { createNodeHost } = await import('../../src/host/node-host.ts');
  const dir = mkdtempSync(join(tmpdir(), 'mnat-rm-'));
  try {
    const host = createNodeHost({ debug() {}, info() {}, warn() {}, error() {} });
    mkdirSync(join(dir, 'full'));
    writeFileSync(join(dir, 'full', 'f'), 'x');
    mkdirSync(join(dir, 'empty'));
    host.removeFile(join(dir, 'full'));
    host.removeFile(join(dir, 'empty'));
    host.removeFile(join(dir, 'absent'));
    assert.equal(existsSync(join(dir, 'full', 'f')), true);
    assert.equal(existsSync(join(dir, 'empty')), false);
    host.removeFile(join(dir, 'full', 'f'));
    host.removeFile(join(dir, 'full'));
    assert.equal(existsSync(join(dir, 'full')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
