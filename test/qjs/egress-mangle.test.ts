// The shipped bundle shortens internal property names (build/qjs-mangled-props.txt).
// A name shortened by mistake changes what the egress writes or reads without
// failing a unit test, so the egress runs here twice under the real qjs
// ($MNAT_QJS or .cache/qjs/qjs) on the same scripted machine and server
// (fixtures/egress-probe.ts): built as it ships, and built without minifying.
// Everything that leaves the process must be the same: log lines, tool command
// lines and input, HTTP requests and headers, the status file, the texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs, MANGLED_PROPS } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from './qjs-binary.ts';

const root = new URL('../..', import.meta.url).pathname;

function run(qjs: string, bundle: string): string[] {
  const r = spawnSync(qjs, [bundle], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${bundle} exited ${r.status}:\n${r.stdout.slice(-3000)}\n${r.stderr}`);
  // Log lines carry the wall clock of the run.
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.replace(/ts=\S+ /g, 'ts=… '));
}

test('the egress built as shipped (names shortened, minified) and built plain write, send and print the same', async (t) => {
  const qjs = findOrBuildQjs();
  const dir = mkdtempSync(join(tmpdir(), 'mnat-mangle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const probe = join(root, 'test/qjs/fixtures/egress-probe.ts');
  await bundleQuickjs(probe, join(dir, 'shipped.js'));
  await bundleQuickjs(probe, join(dir, 'plain.js'), { minify: false });
  // The shipped build really is shortened: no listed name is left as a property.
  const shipped = readFileSync(join(dir, 'shipped.js'), 'utf8');
  assert.deepEqual(MANGLED_PROPS.filter((n) => new RegExp(`\\.${n}\\b`).test(shipped)), []);
  assert.ok(readFileSync(join(dir, 'plain.js'), 'utf8').includes('.fileExists('));

  const plain = run(qjs, join(dir, 'plain.js'));
  const steps = plain.map((l) => JSON.parse(l) as { step: string; value: unknown });
  // The probe got through the whole life of the agent.
  const status = steps.filter((s) => s.step === 'status-file').map((s) => s.value as { channels: Array<{ status: string; packets?: number }> });
  assert.deepEqual(status[0]?.channels.map((c) => c.status), ['active', 'active']);
  assert.ok(status[0]?.channels.some((c) => c.packets === 5), 'counters read from the scripted bpftool');
  assert.ok(steps.some((s) => s.step === 'request' && (s.value as { method: string }).method === 'DELETE'), 'the joins were withdrawn at stop');
  assert.deepEqual(steps.filter((s) => s.step === 'exit').map((s) => s.value), [0, 2, 2, 1, 1, 0, 0]);
  assert.ok(plain.some((l) => l.includes('ip: no iproute2 -j support; install ip-tiny or ip-full (OpenWrt)')), 'the preflight refused BusyBox ip');

  assert.deepEqual(run(qjs, join(dir, 'shipped.js')), plain);
});
