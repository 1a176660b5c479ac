#!/usr/bin/env node
// `npm run build`: the Node bundles, the QuickJS bundle and the BPF object
// into dist/. Each step says what it made and how big it is.
import { build } from 'esbuild';
import { mkdirSync, statSync } from 'node:fs';
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

/** The router's egress: one minified ES2020 file for QuickJS (qjs dist/mnat-egress.qjs.js). */
{
  const { bundleQuickjs } = await import('./qjs-bundle.mjs');
  await bundleQuickjs(join(root, 'src/egress/main-qjs.ts'), join(dist, 'mnat-egress.qjs.js'));
  report('mnat-egress.qjs.js');
}

/** The kernel translator (clang -target bpf). */
buildBpf(root, dist);
