// The QuickJS logger under the real qjs when stderr's reader goes away
// (`mnat-egress … 2>&1 | head`, a restarted log daemon): the line is lost,
// the agent is not (SIGPIPE would end it before it cleans up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from './qjs-binary.ts';

const root = new URL('../..', import.meta.url).pathname;

test('logging into a stderr pipe nobody reads: the line is lost, the process lives on', async (t) => {
  const qjs = findOrBuildQjs();
  const dir = mkdtempSync(join(tmpdir(), 'mnat-qjs-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'log-probe.js');
  await bundleQuickjs(join(root, 'test/qjs/fixtures/log-probe.ts'), bundle);
  const probe = spawn(qjs, [bundle], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => probe.kill('SIGKILL'));
  const exited = once(probe, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  probe.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [first] = (await once(probe.stderr, 'data')) as [Buffer];
  assert.match(first.toString(), /msg="first line"/);
  probe.stderr.destroy();
  probe.stdin.end('go\n');
  const [code, signal] = await exited;
  assert.equal(signal, null, 'not ended by a signal (SIGPIPE)');
  assert.equal(code, 0);
  assert.equal(out, 'alive\n');
});
