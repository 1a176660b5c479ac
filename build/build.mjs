#!/usr/bin/env node
// `npm run build`: the Node bundles, the QuickJS bundle and the BPF object
// into dist/. Each step says what it made and how big it is.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBpf } from './build-bpf.mjs';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });

/** Node bundles: one self-contained ESM file per command. */
const nodeEntries = [
  { entry: 'src/server/main.ts', out: 'mnat-server.js' },
  { entry: 'src/egress/main-node.ts', out: 'mnat-egress.js' },
  { entry: 'src/ingress/main.ts', out: 'mnat-ingress.js' },
  { entry: 'src/receiver/main.ts', out: 'mnat-recv.js' },
];

function report(file) {
  const size = statSync(join(dist, file)).size;
  console.log(`built dist/${file} (${(size / 1024).toFixed(1)} KiB)`);
}

for (const { entry, out } of nodeEntries) {
  await build({
    entryPoints: [join(root, entry)],
    outfile: join(dist, out),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  report(out);
}

/**
 * The receiver library (package.json exports "./receiver"): an ESM bundle for
 * applications, and its type declarations (tsc, with the sources' .ts import
 * specifiers rewritten to .js so any TypeScript resolution finds the .d.ts).
 */
{
  await build({
    entryPoints: [join(root, 'src/receiver/index.ts')],
    outfile: join(dist, 'mnat-receiver.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  report('mnat-receiver.js');
  const types = join(dist, 'types');
  rmSync(types, { recursive: true, force: true });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'build/tsconfig.receiver-types.json')], { stdio: 'inherit' });
  const rewrite = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) rewrite(full);
      else writeFileSync(full, readFileSync(full, 'utf8').replace(/(from '\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
    }
  };
  rewrite(types);
  console.log('built dist/types/receiver/index.d.ts (declarations of the receiver library)');
}

/** The router's egress: one minified ES2020 file for QuickJS (qjs dist/mnat-egress.qjs.js). */
{
  const { bundleQuickjs } = await import('./qjs-bundle.mjs');
  await bundleQuickjs(join(root, 'src/egress/main-qjs.ts'), join(dist, 'mnat-egress.qjs.js'));
  report('mnat-egress.qjs.js');
}

/** The kernel translator (clang -target bpf). */
buildBpf(root, dist);
