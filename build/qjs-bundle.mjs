// The QuickJS bundle: one minified ES2020 module for OpenWrt's qjs, with the
// QuickJS `std` and `os` modules left as imports. Used by build.mjs (the
// egress bundle) and by the qjs tests (their probe programs).
import { build } from 'esbuild';
import { statSync } from 'node:fs';

/** Bundles `entry` to `outfile`; returns the output size in bytes. */
export async function bundleQuickjs(entry, outfile, { minify = true } = {}) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external: ['std', 'os'],
    minify,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return statSync(outfile).size;
}
