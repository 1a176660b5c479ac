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
    // QuickJS 2021-03-27 has native class fields and #private members (checked
    // with its qjs); keeping them unlowered lets #names minify. It lacks
    // `#x in obj` (brand checks) and static blocks, so those stay lowered.
    supported: {
      'class-field': true,
      'class-static-field': true,
      'class-private-field': true,
      'class-private-method': true,
      'class-private-accessor': true,
      'class-private-static-field': true,
      'class-private-static-method': true,
      'class-private-static-accessor': true,
    },
    // Define semantics for class fields: `name = 'X'` stays a field instead of a
    // constructor(...arguments) wrapper. Safe here: `tsc --noEmit
    // --useDefineForClassFields true` is clean (no field shadows a base one).
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, verbatimModuleSyntax: true } },
    legalComments: 'none',
    logLevel: 'warning',
  });
  return statSync(outfile).size;
}
