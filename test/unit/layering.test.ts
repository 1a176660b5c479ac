// The layering rules of docs/architecture.md, checked on the source itself:
// no import cycle in src/, core/ imports only core/ and the Host interface,
// host/ imports nothing above it, process.* only in the host seam and the
// entry points, no source file over 700 lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(new URL('../../src', import.meta.url).pathname);
const ENTRY_POINTS = new Set([
  'server/main.ts',
  'egress/main-node.ts',
  'egress/main-qjs.ts',
  'ingress/main.ts',
  'receiver/main.ts',
]);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

const files = sourceFiles(SRC);
const rel = (f: string): string => relative(SRC, f);

/** Relative imports (static and dynamic, type-only included) of one file, as src-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.[^'"]+)['"]/g)) {
    found.push(rel(resolve(dirname(file), m[1] as string)));
  }
  return found;
}

const graph = new Map(files.map((f) => [rel(f), importsOf(f)]));

test('src/ has no import cycle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]): void => {
    const s = state.get(node);
    if (s === 'done') return;
    if (s === 'open') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
      return;
    }
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) if (graph.has(next)) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

test('core/ imports only core/ and the Host interface; host/ imports nothing above it', () => {
  const wrong: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      if (file.startsWith('core/') && !dep.startsWith('core/') && dep !== 'host/host.ts') wrong.push(`${file} -> ${dep}`);
      if (file.startsWith('host/') && !dep.startsWith('host/')) wrong.push(`${file} -> ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('process.* appears only in the host seam and the entry points', () => {
  const wrong = files
    .filter((f) => !rel(f).startsWith('host/') && !ENTRY_POINTS.has(rel(f)))
    .filter((f) => /(^|[^.\w])process\.\w/m.test(readFileSync(f, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')))
    .map(rel);
  assert.deepEqual(wrong, []);
});

test('no source file is over 700 lines', () => {
  const long = files
    .map((f) => [rel(f), readFileSync(f, 'utf8').split('\n').length] as const)
    .filter(([, n]) => n > 700)
    .map(([f, n]) => `${f}: ${n} lines`);
  assert.deepEqual(long, []);
});
