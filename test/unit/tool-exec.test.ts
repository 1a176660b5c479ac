// runTool: every tool run carries a bounded timeout, and a killed tool is an
// error that names the command (and is logged with its argv), never a result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTool, runToolOk, TOOL_TIMEOUT_MS, DataplaneError } from '../../src/dataplane/tool-exec.ts';
import type { ExecOptions, ExecResult, Host } from '../../src/host/host.ts';

function fakeHost(result: ExecResult): { host: Host; options: ExecOptions[]; logged: string[] } {
  const options: ExecOptions[] = [];
  const logged: string[] = [];
  const host = {
    exec: async (_argv: readonly string[], o: ExecOptions = {}) => (options.push(o), result),
    log: { error: (msg: string, f?: Record<string, unknown>) => logged.push(`${msg} ${JSON.stringify(f)}`) },
  } as unknown as Host;
  return { host, options, logged };
}

test('every run has a bounded timeout, with and without input', async () => {
  const f = fakeHost({ code: 0, stdout: 'x', stderr: '' });
  await runTool(f.host, ['tc', 'qdisc', 'show']);
  await runToolOk(f.host, ['bpftool', 'batch', 'file', '-'], 'map update\n');
  assert.deepEqual(f.options, [{ timeoutMs: TOOL_TIMEOUT_MS }, { input: 'map update\n', timeoutMs: TOOL_TIMEOUT_MS }]);
  assert.ok(TOOL_TIMEOUT_MS > 0 && TOOL_TIMEOUT_MS <= 60_000);
});

test('a killed tool throws command-failed naming the command, and is logged with its argv', async () => {
  const f = fakeHost({ code: null, stdout: 'partial', stderr: 'tc: killed after 30000 ms\n' });
  await assert.rejects(runTool(f.host, ['tc', 'filter', 'show', 'dev', 'wan 0']), (e: Error) => {
    assert.ok(e instanceof DataplaneError);
    assert.equal(e.kind, 'command-failed');
    assert.match(e.message, /`tc filter show dev "wan 0"` was killed/);
    return true;
  });
  assert.equal(f.logged.length, 1);
  assert.match(f.logged[0]!, /"argv":"tc filter show dev \\"wan 0\\""/);
});

test('exit 127 is a missing tool with an install hint', async () => {
  const f = fakeHost({ code: 127, stdout: '', stderr: '' });
  await assert.rejects(runTool(f.host, ['bpftool', 'prog']), (e: DataplaneError) => e.kind === 'missing-tool' && /install bpftool-minimal or bpftool-full \(OpenWrt\)/.test(e.message));
});
