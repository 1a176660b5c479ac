// The QuickJS child-process layer (src/host/quickjs-process.ts and the exec
// built on it) under the real qjs with OpenWrt's open-files limit (1024): a
// probe (fixtures/process-probe.ts) runs thousands of mixed short execs, some
// at once, and the ways a child can end that once left an exec unsettled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from './qjs-binary.ts';
import { collectProbeSteps } from './probe-steps.ts';

const root = new URL('../..', import.meta.url).pathname;
const ROUNDS = 120; // × 9 execs
const results = new Map<string, unknown>();
let stderr = '';
let scratch = '';

before(async () => {
  const qjs = findOrBuildQjs();
  scratch = mkdtempSync(join(tmpdir(), 'mnat-qjs-proc-'));
  const bundle = join(scratch, 'process-probe.js');
  await bundleQuickjs(join(root, 'test/qjs/fixtures/process-probe.ts'), bundle);
  const child = spawn('prlimit', ['--nofile=1024:1024', '--', qjs, bundle, String(ROUNDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  collectProbeSteps(child.stdout, results);
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // Bounded: a stalled exec must fail the tests, not hang them.
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function get<T>(step: string): T {
  assert.ok(!results.has('fatal'), `probe failed: ${String(results.get('fatal'))}`);
  assert.ok(results.has(step), `the probe never reported "${step}" (an exec never settled?); stderr:\n${stderr.slice(-2000)}`);
  return results.get(step) as T;
}

test('thousands of mixed execs under nofile=1024 all settle with the right results and leak no descriptor', () => {
  const r = get<{ runs: number; bad: string[]; fdsBefore: number; fdsAfter: number }>('stress');
  assert.equal(r.runs, ROUNDS * 9);
  assert.deepEqual(r.bad, []);
  assert.equal(r.fdsAfter, r.fdsBefore);
});

test('a timeout settles exec although a grandchild keeps the output pipes open', () => {
  const r = get<{ code: number | null; stderr: string; elapsedMs: number; fdsBefore: number; fdsAfter: number }>('grandchild-timeout');
  assert.equal(r.code, null);
  assert.match(r.stderr, /sh: killed after 300 ms/);
  // The grandchild sleeps 30 s: settling anywhere near that means the pipes were waited for.
  assert.ok(r.elapsedMs < 10_000, `settled after ${r.elapsedMs} ms`);
  assert.equal(r.fdsAfter, r.fdsBefore, 'the abandoned pipes were closed');
});

test('kill(SIGKILL) reports the exit although a grandchild keeps the output pipes open', () => {
  const r = get<{ exit: { code: number | null; signal: number | null }; elapsedMs: number }>('kill-grandchild');
  assert.deepEqual(r.exit, { code: null, signal: 9 });
  assert.ok(r.elapsedMs < 10_000, `reported after ${r.elapsedMs} ms`);
});

test('an output callback that throws on the last output does not keep the exit from being reported', () => {
  assert.deepEqual(get('throwing-sink'), { exit: { code: 0, signal: null } });
});

test('children do not inherit SIGPIPE ignored: one whose reader is gone dies of it rather than running on', () => {
  const line = get<string>('child-sigign');
  const m = /^SigIgn:\s*([0-9a-f]+)$/.exec(line);
  assert.ok(m, `unexpected status line: ${line}`);
  assert.equal(BigInt(`0x${m[1]}`) & (1n << 12n), 0n, `SIGPIPE (13) is ignored in the child: ${line}`);
});
