// Where the translator pins, on a machine where nobody mounted bpffs: each run
// happens in its own mount namespace (unshare -m) prepared like a fresh /sys,
// so neither the root namespace's mounts matter nor are they touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeArgv } from '../../lab/lab.ts';
import { runWithFreshMounts } from '../../lab/mount-ns.ts';

const OBJECT = new URL('../../dist/mnat-translator.bpf.o', import.meta.url).pathname;
const skip = process.getuid?.() !== 0 ? 'needs root (mount namespaces, BPF)' : !existsSync(OBJECT) ? 'dist/mnat-translator.bpf.o missing: run npm run build' : false;

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-pinroot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('Node host: mkdir under a sysfs parent and under a read-only parent fails at once, naming the directory and the cause', { skip }, async (t) => {
  const dir = scratch(t);
  const sys = join(dir, 'sys');
  const ro = join(dir, 'ro');
  mkdirSync(sys);
  mkdirSync(ro);
  const paths = [`${sys}/fs/bpf/mnat/default`, `${ro}/a/b`, `${dir}/ok/x/y`];
  // Bounded: Node's recursive mkdirSync used to spin here for ever (ENOENT, EEXIST, ENOENT, …).
  const r = await runWithFreshMounts({ sysfsAt: sys, readOnlyAt: ro }, nodeArgv('test/dataplane/fixtures/mkdir-probe.ts', paths), 20_000);
  assert.equal(r.code, 0, `the probe ended by itself\n${r.stderr}`);
  const [sysfs, readOnly, plain] = jsonLines(r.stdout);
  assert.equal(sysfs?.error, `cannot create directory ${sys}/fs/bpf/mnat: ENOENT: no such file or directory`);
  assert.equal(readOnly?.error, `cannot create directory ${ro}/a: EROFS: read-only file system`);
  assert.equal(plain?.error, null);
  assert.ok(existsSync(`${dir}/ok/x/y`));
});

test('no bpffs at /sys/fs/bpf: the translator mounts it itself (as OpenWrt boot does), pins there and loads', { skip }, async () => {
  const r = await runWithFreshMounts({ unmount: ['/sys/fs/bpf'] }, nodeArgv('test/dataplane/fixtures/pin-root-probe.ts', [OBJECT, '/sys/fs/bpf/mnat']), 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(jsonLines(r.stdout), [{ loaded: true, fsType: 'bpf' }]);
  assert.match(r.stderr, /msg="mounted bpffs" at=\/sys\/fs\/bpf was=sysfs/);
});

test('no bpffs and no way to mount it: one line that says what to mount, at once', { skip }, async (t) => {
  // A PATH with everything but mount.
  const dir = scratch(t);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const tool of ['bpftool', 'tc', 'ip', 'rmdir']) {
    const found = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (found) symlinkSync(found, join(bin, tool));
  }
  const r = await runWithFreshMounts({ unmount: ['/sys/fs/bpf'] }, nodeArgv('test/dataplane/fixtures/pin-root-probe.ts', [OBJECT, '/sys/fs/bpf/mnat']), 30_000, { PATH: bin });
  assert.equal(r.code, 0, r.stderr);
  const [out] = jsonLines(r.stdout);
  assert.equal(out?.kind, 'no-bpffs');
  assert.equal(
    out?.error,
    'bpffs: /sys/fs/bpf/mnat is on sysfs, not bpffs, and mounting it failed: mount is not installed or not on PATH: install mount (OpenWrt); mount it: mount -t bpf bpf /sys/fs/bpf (as OpenWrt\'s /etc/init.d/boot does)',
  );
});

test('a pin root elsewhere that is not on bpffs: one line naming its filesystem, no mount attempted', { skip }, async (t) => {
  const dir = scratch(t);
  const r = await runWithFreshMounts({ readOnlyAt: dir }, nodeArgv('test/dataplane/fixtures/pin-root-probe.ts', [OBJECT, `${dir}/pins`]), 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(jsonLines(r.stdout), [{ error: `bpffs: ${dir}/pins is on tmpfs, not bpffs; mount it: mount -t bpf bpf ${dir}/pins (as OpenWrt's /etc/init.d/boot does)`, kind: 'no-bpffs' }]);
});
