// The QuickJS bundle: one minified ES2020 module for OpenWrt's qjs, with the
// QuickJS `std` and `os` modules left as imports. Used by build.mjs (the
// egress bundle) and by the qjs tests (their probe programs), so the tests run
// what ships. esbuild bundles and minifies; terser then compresses the result
// further (it inlines and merges across the whole bundle where esbuild works
// module by module: about 1.5 KB of the router's 96 KiB budget), and
// qjs-intern.mjs makes each often repeated string literal, and each property
// name often read with `.name`, one variable (about 6.8 KB raw).
import { build } from 'esbuild';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { minify as terser } from 'terser';
import { internStrings } from './qjs-intern.mjs';

/**
 * The internal property names esbuild shortens (build/qjs-mangled-props.txt:
 * one per line, # comments; the rules a name must meet are written there).
 */
export const MANGLED_PROPS = readFileSync(new URL('qjs-mangled-props.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter((line) => line !== '');
const MANGLE_PROPS = new RegExp(`^(${MANGLED_PROPS.join('|')})$`);

/**
 * The terser pass (Makefile.openwrt repeats it for SDK builds without dist/).
 * unsafe_arrows and unsafe_methods turn function expressions into arrows and
 * concise methods; they are unsafe only for a function called with `new` or
 * read for its prototype, and every constructor here is a class.
 * unsafe assumes the built-ins are the standard ones: `new Error(m)` becomes
 * `Error(m)`, `String(x)` and `${x}` become `x+""` (differs only for a Symbol,
 * which no message or log field carries), and calls on constants are folded.
 */
export const TERSER_OPTIONS = {
  module: true,
  ecma: 2020,
  compress: { passes: 3, unsafe: true, unsafe_arrows: true, unsafe_methods: true },
  mangle: { toplevel: true },
  format: { comments: false },
};

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
    ...(minify ? { mangleProps: MANGLE_PROPS } : {}),
    // mnat-egress checks at start that ip is iproute2's with -j (agent/preflight.ts):
    // the device reads need no sysfs fallback (src/dataplane/link-info.ts).
    define: { MNAT_IPROUTE2_REQUIRED: 'true' },
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
  if (minify) {
    const out = await terser(readFileSync(outfile, 'utf8'), TERSER_OPTIONS);
    writeFileSync(outfile, internStrings(out.code));
  }
  return statSync(outfile).size;
}
