// Runs Makefile.openwrt the way the SDK does (symlinked as package/mnat-egress/Makefile)
// against stand-ins for rules.mk, package.mk and bpf.mk (test/openwrt/sdk-stub):
// its Build/Prepare, Build/Compile (CompileBPF with the real clang, esbuild when
// the bundle is missing) and install recipes must produce the router's files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOrBuildQjs } from '../qjs/qjs-binary.ts';

const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const stub = join(root, 'test/openwrt/sdk-stub');
let scratch = '';

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mnat-sdk-'));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function runMake(name: string, extra: string[] = []): { out: string; installRoot: string; fields: Map<string, string> } {
  const pkg = join(scratch, name, 'package/mnat-egress');
  mkdirSync(pkg, { recursive: true });
  symlinkSync(join(root, 'Makefile.openwrt'), join(pkg, 'Makefile'));
  const installRoot = join(scratch, name, 'ipkg');
  const r = spawnSync('make', ['-C', pkg, `TOPDIR=${stub}`, `BUILD_DIR=${join(scratch, name, 'build')}`, `PKG_INSTALL_ROOT=${installRoot}`, ...extra], { encoding: 'utf8' });
  assert.equal(r.status, 0, `make failed:\n${r.stdout}\n${r.stderr}`);
  const fields = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) fields.set(m[1]!, m[2]!);
  }
  return { out: r.stdout, installRoot, fields };
}

const FILES: Array<[string, number]> = [
  ['usr/share/mnat/mnat-egress.qjs.js', 0o644],
  ['lib/bpf/mnat-translator.bpf.o', 0o644],
  ['etc/init.d/mnat-egress', 0o755],
  ['etc/config/mnat', 0o600],
  ['etc/uci-defaults/80_mnat', 0o755],
  ['usr/sbin/mnat-egress', 0o755],
];

test('the package metadata: name, version from package.json, dependencies, conffiles', () => {
  const { fields } = runMake('meta');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(fields.get('PKG_NAME'), 'mnat-egress');
  assert.equal(fields.get('PKG_VERSION'), pkg.version);
  assert.equal(fields.get('PKG_LICENSE'), 'MIT');
  assert.equal(fields.get('PKG_BUILD_DEPENDS'), 'bpf-headers');
  assert.equal(fields.get('SECTION'), 'net');
  assert.equal(
    fields.get('DEPENDS'),
    '+quickjs +tc-bpf +bpftool-minimal +ip +ip-bridge +curl @LIBCURL_NGHTTP2 +smcroute +coreutils-stdbuf +mosquitto-client-ssl +kmod-sched-bpf @HAS_BPF_TOOLCHAIN +@NEED_BPF_TOOLCHAIN',
  );
  assert.equal(fields.get('CONFFILES'), '/etc/config/mnat');
});

test('without a prebuilt bundle, Build/Compile bundles with esbuild; every file lands with its mode', () => {
  // A checkout without dist/: the sources, the build scripts (the mangled-props list, the intern pass), package.json and node_modules only.
  const checkout = join(scratch, 'checkout');
  mkdirSync(checkout);
  for (const entry of ['src', 'build', 'openwrt', 'package.json', 'node_modules', 'Makefile.openwrt']) symlinkSync(join(root, entry), join(checkout, entry));
  const { out, installRoot } = runMake('fresh', [`MNAT_SRC=${checkout}`]);
  assert.match(out, /esbuild .*main-qjs\.ts/);
  for (const [path, mode] of FILES) {
    assert.equal(statSync(join(installRoot, path)).mode & 0o7777, mode, path);
  }
  for (const path of ['etc/init.d/mnat-egress', 'etc/config/mnat', 'etc/uci-defaults/80_mnat', 'usr/sbin/mnat-egress']) {
    assert.deepEqual(readFileSync(join(installRoot, path)), readFileSync(join(root, 'openwrt', path)), path);
  }
  const object = readFileSync(join(installRoot, 'lib/bpf/mnat-translator.bpf.o'));
  assert.deepEqual([...object.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  assert.ok(!object.includes(Buffer.from('.debug_info')), 'CompileBPF strips DWARF');
  const qjs = findOrBuildQjs();
  const help = spawnSync(qjs, [join(installRoot, 'usr/share/mnat/mnat-egress.qjs.js'), '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /usage: mnat-egress/);
});
