// Builds the .ipk (build/package-ipk.mjs) into a scratch directory, unpacks it
// with the system tar the way opkg does (outer tar.gz, then control and data),
// and checks every file, its mode and owner, and the control fields.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIpk, makeTar, PACKAGE_DEPENDS } from '../../build/package-ipk.mjs';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from '../qjs/qjs-binary.ts';

const root = new URL('../..', import.meta.url).pathname;
let scratch = '';
let ipk = '';
let installRoot = '';
let controlDir = '';
let bundle = '';

function run(argv: string[], cwd?: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'mnat-pkg-'));
  // The bundle as `npm run build` makes it (built here so the test needs no prior build).
  bundle = join(scratch, 'mnat-egress.qjs.js');
  await bundleQuickjs(join(root, 'src/egress/main-qjs.ts'), bundle);
  ipk = buildIpk({ root, outDir: join(scratch, 'out'), bundle }).path;
  const outer = join(scratch, 'outer');
  controlDir = join(scratch, 'control');
  installRoot = join(scratch, 'root');
  for (const d of [outer, controlDir, installRoot]) mkdirSync(d);
  run(['tar', '-xzf', ipk, '-C', outer]);
  run(['tar', '-xzpf', join(outer, 'control.tar.gz'), '-C', controlDir]);
  run(['tar', '-xzpf', join(outer, 'data.tar.gz'), '-C', installRoot]);
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the .ipk is a gzip tar of debian-binary, data.tar.gz, control.tar.gz', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.match(ipk, new RegExp(`/mnat-egress_${pkg.version.replace(/\./g, '\\.')}-1_all\\.ipk$`));
  assert.deepEqual(run(['tar', '-tzf', ipk]).trim().split('\n'), ['./debian-binary', './data.tar.gz', './control.tar.gz']);
  assert.equal(run(['tar', '-xzOf', ipk, './debian-binary']), '2.0\n');
});

test('every member is owned by root', () => {
  const outer = join(scratch, 'outer');
  for (const archive of [ipk, join(outer, 'data.tar.gz'), join(outer, 'control.tar.gz')]) {
    for (const line of run(['tar', '-tzvf', archive]).trim().split('\n')) {
      assert.match(line, /^[-d]\S+ root\/root /, `${archive}: ${line}`);
    }
  }
});

test('data: exactly the expected files, with their modes and contents', () => {
  const listing = run(['tar', '-tzf', join(scratch, 'outer', 'data.tar.gz')]).trim().split('\n').filter((l) => !l.endsWith('/'));
  const expected: Array<[string, number, string | null]> = [
    ['./etc/config/mnat', 0o600, 'openwrt/etc/config/mnat'],
    ['./etc/init.d/mnat-egress', 0o755, 'openwrt/etc/init.d/mnat-egress'],
    ['./etc/uci-defaults/80_mnat', 0o755, 'openwrt/etc/uci-defaults/80_mnat'],
    ['./lib/bpf/mnat-translator.bpf.o', 0o644, null],
    ['./lib/bpf/mnat-translator.bpfeb.o', 0o644, null],
    ['./usr/sbin/mnat-egress', 0o755, 'openwrt/usr/sbin/mnat-egress'],
    ['./usr/share/mnat/mnat-egress.qjs.js', 0o644, null],
  ];
  assert.deepEqual(listing.sort(), expected.map(([p]) => p).sort());
  for (const [path, mode, source] of expected) {
    const full = join(installRoot, path);
    assert.equal(statSync(full).mode & 0o7777, mode, `${path} mode`);
    if (source) assert.deepEqual(readFileSync(full), readFileSync(join(root, source)), `${path} content`);
  }
  assert.deepEqual(readFileSync(join(installRoot, 'usr/share/mnat/mnat-egress.qjs.js')), readFileSync(bundle));
  for (const dir of ['etc', 'etc/init.d', 'lib/bpf', 'usr/share/mnat']) {
    assert.equal(statSync(join(installRoot, dir)).mode & 0o7777, 0o755, `${dir}/ mode`);
  }
});

test('data: the translator objects are eBPF ELF files of both byte orders, with BTF', () => {
  const elf = (p: string): Buffer => readFileSync(join(installRoot, 'lib/bpf', p));
  const el = elf('mnat-translator.bpf.o');
  const eb = elf('mnat-translator.bpfeb.o');
  assert.deepEqual([...el.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  assert.equal(el[5], 1, 'bpf.o is little-endian');
  assert.equal(eb[5], 2, 'bpfeb.o is big-endian');
  assert.equal(el.readUInt16LE(18), 247, 'e_machine EM_BPF');
  assert.equal(eb.readUInt16BE(18), 247, 'e_machine EM_BPF');
  for (const o of [el, eb]) {
    assert.ok(o.includes(Buffer.from('.BTF\0')), 'BTF kept (tc needs it for the maps)');
    assert.ok(!o.includes(Buffer.from('.debug_info')), 'DWARF stripped');
  }
});

test('data: the shipped bundle runs under qjs', () => {
  const qjs = findOrBuildQjs();
  const r = spawnSync(qjs, [join(installRoot, 'usr/share/mnat/mnat-egress.qjs.js'), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /usage: mnat-egress/);
});

// The router's flash budget for the egress (issue 4): 96 KiB. A change that
// grows the bundle past it should fail here, not be found in a release.
test('data: the shipped QuickJS bundle is within its 96 KiB budget', (t) => {
  const size = statSync(join(installRoot, 'usr/share/mnat/mnat-egress.qjs.js')).size;
  t.diagnostic(`mnat-egress.qjs.js: ${size} bytes (${(size / 1024).toFixed(1)} KiB), ${96 * 1024 - size} bytes to spare`);
  assert.ok(size <= 96 * 1024, `${size} bytes is over the 96 KiB budget by ${size - 96 * 1024}`);
});

test('data: the shell scripts parse', () => {
  for (const script of ['etc/init.d/mnat-egress', 'etc/uci-defaults/80_mnat', 'usr/sbin/mnat-egress']) {
    const r = spawnSync('sh', ['-n', join(installRoot, script)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
  }
});

test('control: fields, conffiles and the OpenWrt default maintainer scripts', () => {
  assert.deepEqual(readdirSync(controlDir).sort(), ['conffiles', 'control', 'postinst', 'prerm']);
  const text = readFileSync(join(controlDir, 'control'), 'utf8');
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z-]+): (.*)$/.exec(line);
    if (m) fields.set(m[1]!, m[2]!);
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  assert.equal(fields.get('Package'), 'mnat-egress');
  assert.equal(fields.get('Version'), `${pkg.version}-1`);
  assert.equal(fields.get('Architecture'), 'all');
  assert.equal(fields.get('License'), 'MIT');
  assert.equal(fields.get('Section'), 'net');
  const depends = (fields.get('Depends') ?? '').split(', ');
  assert.deepEqual(depends, PACKAGE_DEPENDS);
  for (const d of ['quickjs', 'tc-bpf', 'bpftool-minimal', 'ip', 'ip-bridge', 'curl', 'smcroute', 'coreutils-stdbuf', 'mosquitto-client-ssl', 'kmod-sched-bpf']) assert.ok(depends.includes(d), d);
  const files = run(['find', installRoot, '-type', 'f']).trim().split('\n');
  const total = files.reduce((n, f) => n + statSync(f).size, 0);
  assert.equal(Number(fields.get('Installed-Size')), total);
  assert.match(fields.get('Description') ?? '', /^Multicast NAT/);
  assert.match(text, /\n [^\n]+\n$/, 'description continuation lines start with a space');
  assert.equal(readFileSync(join(controlDir, 'conffiles'), 'utf8'), '/etc/config/mnat\n');
  for (const script of ['postinst', 'prerm']) {
    const body = readFileSync(join(controlDir, script), 'utf8');
    assert.equal(statSync(join(controlDir, script)).mode & 0o777, 0o755);
    assert.match(body, new RegExp(`^#!/bin/sh\\n[\\s\\S]*default_${script} \\$0 \\$@\\n$`));
    assert.equal(spawnSync('sh', ['-n', join(controlDir, script)]).status, 0);
  }
});

test('the same inputs give the same bytes (reproducible)', () => {
  const again = buildIpk({ root, outDir: join(scratch, 'again'), bundle }).path;
  assert.deepEqual(readFileSync(again), readFileSync(ipk));
});

test('makeTar: long paths use the ustar prefix field and round-trip through tar', () => {
  const dir = join(scratch, 'long');
  mkdirSync(dir);
  const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/file-with-a-long-name.txt`;
  const tar = makeTar([{ path: './', mode: 0o755 }, { path: `${'d'.repeat(60)}/`, mode: 0o700 }, { path: `${'d'.repeat(60)}/${'e'.repeat(60)}/`, mode: 0o755 }, { path: deep, mode: 0o640, data: 'x'.repeat(513) }], 1_700_000_000);
  const file = join(dir, 'a.tar');
  writeFileSync(file, tar);
  run(['tar', '-xpf', file, '-C', dir]);
  assert.equal(readFileSync(join(dir, deep), 'utf8'), 'x'.repeat(513));
  assert.equal(statSync(join(dir, deep)).mode & 0o777, 0o640);
  assert.equal(statSync(join(dir, deep)).mtimeMs, 1_700_000_000_000);
  assert.ok(existsSync(join(dir, 'd'.repeat(60))));
});
