// Module loader hooks: transpile .ts sources with esbuild (types are stripped,
// not checked; `npm run typecheck` checks them).
import { readFile } from 'node:fs/promises';
import { transform } from 'esbuild';

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = new URL(url);
  const source = await readFile(path, 'utf8');
  const { code } = await transform(source, {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: path.pathname,
  });
  return { format: 'module', source: code, shortCircuit: true };
}
