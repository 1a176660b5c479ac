#!/usr/bin/env node
// `npm run package`: dist/mnat-egress_<version>-<release>_all.ipk without the
// OpenWrt SDK, laid out the way the SDK's ipkg-build makes it: a gzip'ed tar
// of ./debian-binary, ./data.tar.gz and ./control.tar.gz (opkg on OpenWrt 19.07
// and later reads this form), every member owned by root, times from
// SOURCE_DATE_EPOCH (or the last commit) so the same tree gives the same bytes.
//
// Architecture "all": the bundle is JavaScript, and the translator object is
// shipped in both byte orders (bpfel as mnat-translator.bpf.o, bpfeb as
// mnat-translator.bpfeb.o; the init script picks the one matching the CPU).
// An SDK build (Makefile.openwrt) compiles just the target's order instead.
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RELEASE = '1';

// One per tool the start-up check requires (src/agent/preflight.ts); "ip" is the
// virtual package ip-tiny and ip-full provide (opkg and apk both resolve it).
export const PACKAGE_DEPENDS = ['libc', 'quickjs', 'tc-bpf', 'bpftool-minimal', 'ip', 'ip-bridge', 'curl', 'smcroute', 'coreutils-stdbuf', 'mosquitto-client-ssl', 'kmod-sched-bpf'];

// The scripts OpenWrt's package-ipkg.mk writes for every package: default_postinst
// runs the package's uci-defaults and enables and starts its init script;
// default_prerm stops and disables it.
const POSTINST = `#!/bin/sh
[ "\${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
`;
const PRERM = `#!/bin/sh
[ -s \${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. \${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
`;

/** One ustar header block (POSIX.1-1988 + the ustar magic; names split into prefix/name). */
function tarHeader(name, { mode, size, mtime, type }) {
  const block = Buffer.alloc(512, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar: path too long: ${name}`);
  }
  const put = (text, offset, length) => block.write(text, offset, length, 'utf8');
  const octal = (value, offset, length) => put(value.toString(8).padStart(length - 1, '0') + '\0', offset, length);
  put(base, 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8); // uid root
  octal(0, 116, 8); // gid root
  octal(size, 124, 12);
  octal(mtime, 136, 12);
  block.fill(0x20, 148, 156); // checksum field counts as spaces
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  put(prefix, 345, 155);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return block;
}

/**
 * A tar archive of `entries` ({path, mode, data?}; directories end with "/"),
 * members named "./…" as ipkg-build names them, parents listed before children.
 */
export function makeTar(entries, mtime) {
  const parts = [];
  for (const entry of entries) {
    const name = entry.path === './' ? './' : `./${entry.path.replace(/^\.?\//, '')}`;
    if (name.endsWith('/')) {
      parts.push(tarHeader(name, { mode: entry.mode, size: 0, mtime, type: '5' }));
      continue;
    }
    const data = Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data, 'utf8');
    parts.push(tarHeader(name, { mode: entry.mode, size: data.length, mtime, type: '0' }));
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

/** gzip with no name and a zero timestamp (gzip -n), so the bytes depend only on the content. */
function gzip(buffer) {
  return gzipSync(buffer, { level: 9 });
}

/** Adds every parent directory of the files (mode 0755), sorted so parents come first. */
function withDirectories(files) {
  const dirs = new Set();
  for (const f of files) {
    const parts = f.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/') + '/');
  }
  const entries = [{ path: './', mode: 0o755 }, ...[...dirs].map((d) => ({ path: d, mode: 0o755 })), ...files];
  return entries.sort((a, b) => (a.path === './' ? -1 : b.path === './' ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sourceDateEpoch(root) {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  const git = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' });
  const t = Number(git.stdout?.trim());
  return Number.isInteger(t) && t > 0 ? t : Math.floor(Date.now() / 1000);
}

/** Compiles the translator for one byte order and strips DWARF (BTF stays: tc needs it for the maps). */
function compileBpf(root, target, out) {
  const clang = process.env.CLANG || 'clang';
  const includes = [];
  const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim();
  if (multiarch && existsSync(`/usr/include/${multiarch}`)) includes.push(`-I/usr/include/${multiarch}`);
  const args = ['-O2', '-g', '-Wall', '-Werror', '-target', target, ...includes, '-c', join(root, 'src/dataplane/mnat-translator.bpf.c'), '-o', out];
  const r = spawnSync(clang, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`cannot compile the translator for ${target}: ${r.error ? `${clang} not found (install clang, or set CLANG)` : r.stderr}`);
  }
  const strip = spawnSync(process.env.LLVM_STRIP || 'llvm-strip', ['-g', out], { encoding: 'utf8' });
  if (strip.error) console.warn(`package: llvm-strip not found, ${out} keeps its debug info`);
  return readFileSync(out);
}

function describe(version) {
  return [
    'Package: mnat-egress',
    `Version: ${version}`,
    `Depends: ${PACKAGE_DEPENDS.join(', ')}`,
    'Source: Makefile.openwrt',
    'SourceName: mnat-egress',
    'License: MIT',
    'Section: net',
    'URL: https://datatracker.ietf.org/doc/draft-ietf-mboned-mnat/',
    'Maintainer: MNAT contributors',
    'Architecture: all',
  ];
}

/** The files both packages install: [{ path (no leading /), mode, data }]. */
function packageFiles(root, bundle, scratch) {
  const openwrt = (p) => readFileSync(join(root, 'openwrt', p));
  return [
    { path: 'usr/share/mnat/mnat-egress.qjs.js', mode: 0o644, data: readFileSync(bundle) },
    { path: 'lib/bpf/mnat-translator.bpf.o', mode: 0o644, data: compileBpf(root, 'bpfel', join(scratch, 'el.o')) },
    { path: 'lib/bpf/mnat-translator.bpfeb.o', mode: 0o644, data: compileBpf(root, 'bpfeb', join(scratch, 'eb.o')) },
    { path: 'etc/init.d/mnat-egress', mode: 0o755, data: openwrt('etc/init.d/mnat-egress') },
    { path: 'etc/config/mnat', mode: 0o600, data: openwrt('etc/config/mnat') },
    { path: 'etc/uci-defaults/80_mnat', mode: 0o755, data: openwrt('etc/uci-defaults/80_mnat') },
    { path: 'usr/sbin/mnat-egress', mode: 0o755, data: openwrt('usr/sbin/mnat-egress') },
  ];
}

/**
 * Builds the .ipk into outDir. `bundle` is the QuickJS bundle to ship (default
 * dist/mnat-egress.qjs.js). Returns the path and what went in.
 */
export function buildIpk({ root, outDir, bundle = join(root, 'dist/mnat-egress.qjs.js') }) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const version = `${pkg.version}-${RELEASE}`;
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build first`);
  const scratch = mkdtempSync(join(tmpdir(), 'mnat-ipk-'));
  try {
    const files = packageFiles(root, bundle, scratch);
    const mtime = sourceDateEpoch(root);
    const installedSize = files.reduce((n, f) => n + f.data.length, 0);
    const control = [
      ...describe(version),
      `Installed-Size: ${installedSize}`,
      `SourceDateEpoch: ${mtime}`,
      'Description: Multicast NAT (draft-ietf-mboned-mnat) egress agent for QuickJS.',
      ' Lets LAN hosts receive globally addressed source-specific multicast',
      ' channels that the ISP carries on locally assigned addresses: learns the',
      " LAN's IGMPv3/MLDv2 joins, reports them to the MNAT server over HTTP/2 and",
      ' TLS, joins the assigned local channels on the WAN and translates them back',
      ' in the kernel with tc and eBPF.',
      '',
    ].join('\n');
    const controlTar = makeTar(
      [
        { path: './', mode: 0o755 },
        { path: 'control', mode: 0o644, data: control },
        { path: 'conffiles', mode: 0o644, data: '/etc/config/mnat\n' },
        { path: 'postinst', mode: 0o755, data: POSTINST },
        { path: 'prerm', mode: 0o755, data: PRERM },
      ],
      mtime,
    );
    const dataTar = makeTar(withDirectories(files), mtime);
    const outer = makeTar(
      [
        { path: 'debian-binary', mode: 0o644, data: '2.0\n' },
        { path: 'data.tar.gz', mode: 0o644, data: gzip(dataTar) },
        { path: 'control.tar.gz', mode: 0o644, data: gzip(controlTar) },
      ],
      mtime,
    );
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `mnat-egress_${version}_all.ipk`);
    writeFileSync(out, gzip(outer));
    return { path: out, version, files: files.map((f) => ({ path: `/${f.path}`, mode: f.mode, size: f.data.length })), control };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// The scripts an OpenWrt 25.12 SDK gives an .apk (apk-tools v3 runs them by these
// names): the same default_postinst / default_prerm of /lib/functions.sh as the .ipk's,
// told the package name, which apk does not pass as $0.
const APK_POST_INSTALL = `#!/bin/sh
[ "\${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "\${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "\${IPKG_INSTROOT}/lib/functions.sh"
export root="\${IPKG_INSTROOT}" pkgname=mnat-egress
add_group_and_user
default_postinst
`;
const APK_PRE_DEINSTALL = `#!/bin/sh
[ -s "\${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "\${IPKG_INSTROOT}/lib/functions.sh"
export root="\${IPKG_INSTROOT}" pkgname=mnat-egress
default_prerm
`;

/**
 * Builds dist/mnat-egress-<version>-r<release>.apk for OpenWrt 25.12 (apk-tools v3) with
 * `apk mkpkg` (the `apk` binary given, e.g. one built from apk-tools' sources). Laid out
 * as the SDK lays out an .apk: the files, /lib/apk/packages/mnat-egress.{list,conffiles,
 * conffiles_static} that OpenWrt's default_postinst/default_prerm read, and the
 * post-install, post-upgrade and pre-deinstall scripts.
 */
export function buildApk({ root, outDir, apk, bundle = join(root, 'dist/mnat-egress.qjs.js'), env = process.env }) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const version = `${pkg.version}-r${RELEASE}`;
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build first`);
  const scratch = mkdtempSync(join(tmpdir(), 'mnat-apk-'));
  try {
    const files = packageFiles(root, bundle, scratch);
    const tree = join(scratch, 'tree');
    const write = (path, data, mode) => {
      const full = join(tree, path);
      mkdirSync(full.slice(0, full.lastIndexOf('/')), { recursive: true });
      writeFileSync(full, data, { mode });
      chmodSync(full, mode);
    };
    for (const f of files) write(f.path, f.data, f.mode);
    const conffiles = ['/etc/config/mnat'];
    const sha256 = (data) => createHash('sha256').update(data).digest('hex');
    const listed = [...files.map((f) => `/${f.path}`), '/lib/apk/packages/mnat-egress.conffiles', '/lib/apk/packages/mnat-egress.conffiles_static', '/lib/apk/packages/mnat-egress.list'].sort();
    write('lib/apk/packages/mnat-egress.list', listed.join('\n') + '\n', 0o644);
    write('lib/apk/packages/mnat-egress.conffiles', conffiles.join('\n') + '\n', 0o644);
    write('lib/apk/packages/mnat-egress.conffiles_static', conffiles.map((c) => `${c} ${sha256(files.find((f) => `/${f.path}` === c).data)}`).join('\n') + '\n', 0o644);
    const scripts = join(scratch, 'scripts');
    mkdirSync(scripts);
    writeFileSync(join(scripts, 'post-install'), APK_POST_INSTALL, { mode: 0o755 });
    writeFileSync(join(scripts, 'post-upgrade'), `#!/bin/sh\nexport PKG_UPGRADE=1\n${APK_POST_INSTALL.replace(/^#!.*\n/, '')}`, { mode: 0o755 });
    writeFileSync(join(scripts, 'pre-deinstall'), APK_PRE_DEINSTALL, { mode: 0o755 });
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `mnat-egress-${version}.apk`);
    const args = [
      'mkpkg',
      '--info', 'name:mnat-egress',
      '--info', `version:${version}`,
      '--info', 'description:Multicast NAT (draft-ietf-mboned-mnat) egress agent for QuickJS',
      '--info', 'arch:noarch',
      '--info', 'license:MIT',
      '--info', 'origin:mnat-egress',
      '--info', 'url:https://datatracker.ietf.org/doc/draft-ietf-mboned-mnat/',
      '--info', 'maintainer:MNAT contributors',
      '--info', `depends:${PACKAGE_DEPENDS.join(' ')}`,
      '--script', `post-install:${join(scripts, 'post-install')}`,
      '--script', `post-upgrade:${join(scripts, 'post-upgrade')}`,
      '--script', `pre-deinstall:${join(scripts, 'pre-deinstall')}`,
      '--files', tree,
      '--output', out,
    ];
    const r = spawnSync(apk, args, { encoding: 'utf8', env });
    if (r.error || r.status !== 0) throw new Error(`apk mkpkg failed: ${r.error?.message ?? r.stderr.trim()}`);
    return { path: out, version, files: listed };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = new URL('..', import.meta.url).pathname;
  // `--apk [APK]`: the OpenWrt 25.12 package instead, made with apk-tools v3's `apk mkpkg`
  // (APK: the apk binary, default $MNAT_APK or `apk` on PATH).
  const apkAt = process.argv.indexOf('--apk');
  const result =
    apkAt >= 0
      ? buildApk({ root, outDir: join(root, 'dist'), apk: process.argv[apkAt + 1] ?? process.env.MNAT_APK ?? 'apk' })
      : buildIpk({ root, outDir: join(root, 'dist') });
  const size = statSync(result.path).size;
  console.log(`built ${result.path.slice(root.length)} (${(size / 1024).toFixed(1)} KiB)`);
  if (apkAt < 0) for (const f of result.files) console.log(`  ${f.mode.toString(8).padStart(4, '0')} ${String(f.size).padStart(7)} ${f.path}`);
}
