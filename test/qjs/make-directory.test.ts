// The QuickJS host's mkdir under the real qjs, in its own mount namespace: under
// a sysfs parent (what /sys/fs/bpf is before bpffs is mounted) and under a
// read-only parent it fails at once, naming the directory and the cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { runWithFreshMounts } from '../../lab/mount-ns.ts';
import { findOrBuildQjs } from './qjs-binary.ts';

const root = new URL('../..', import.meta.url).pathname;

test('mkdir under a sysfs parent and under a read-only parent: an error at once; elsewhere the whole path', { skip: process.getuid?.() !== 0 ? 'needs root (mount namespaces)' : false }, async (t) => {
  const qjs = findOrBuildQjs();
  const dir = mkdtempSync(join(tmpdir(), 'mnat-qjs-mkdir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'mkdir-probe.js');
  await bundleQuickjs(join(root, 'test/qjs/fixtures/mkdir-probe.ts'), bundle);
  const sys = join(dir, 'sys');
  const ro = join(dir, 'ro');
  mkdirSync(sys);
  mkdirSync(ro);
  const r = await runWithFreshMounts({ sysfsAt: sys, readOnlyAt: ro }, [qjs, bundle, `${sys}/fs/bpf/mnat/default`, `${ro}/a/b`, `${dir}/ok/x/y`], 20_000);
  assert.equal(r.code, 0, `the probe ended by itself\n${r.stderr}`);
  const [sysfs, readOnly, plain] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error: string | null });
  assert.equal(sysfs?.error, `cannot create directory ${sys}/fs/bpf/mnat: No such file or directory`);
  assert.equal(readOnly?.error, `cannot create directory ${ro}/a: Read-only file system`);
  assert.equal(plain?.error, null);
  assert.ok(existsSync(`${dir}/ok/x/y`));
});
