// Compiles the kernel translator: src/dataplane/mnat-translator.bpf.c ->
// dist/mnat-translator.bpf.o with clang -O2 -g -target bpf against the plain
// uapi headers (linux-libc-dev, libbpf-dev). Runnable alone: node build/build-bpf.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function buildBpf(root, dist) {
  const source = join(root, 'src/dataplane/mnat-translator.bpf.c');
  const out = join(dist, 'mnat-translator.bpf.o');
  const clang = process.env.CLANG || 'clang';
  const probe = spawnSync(clang, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `cannot compile ${source}: ${clang} not found. Install clang and the BPF headers ` +
        '(Debian: apt install clang llvm libbpf-dev linux-libc-dev; or run build/setup-debian.sh), or set CLANG=/path/to/clang',
    );
  }
  // <linux/types.h> includes <asm/types.h>, which Debian keeps in the multiarch directory.
  const includes = [];
  const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim() || `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  if (existsSync(`/usr/include/${multiarch}`)) includes.push(`-I/usr/include/${multiarch}`);
  mkdirSync(dist, { recursive: true });
  const args = ['-O2', '-g', '-Wall', '-Werror', '-target', 'bpf', ...includes, '-c', source, '-o', out];
  const result = spawnSync(clang, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${clang} ${args.join(' ')} failed:\n${result.stderr || result.stdout}`);
  }
  console.log(`built dist/mnat-translator.bpf.o (${(statSync(out).size / 1024).toFixed(1)} KiB)`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = new URL('..', import.meta.url).pathname;
  buildBpf(root, join(root, 'dist'));
}
