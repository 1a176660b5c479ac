#!/usr/bin/env node
// Runs the node:test suites. `node build/run-tests.mjs [unit|server|lab ...]`
// picks suites by folder under test/; with no argument every suite runs.
// Lab suites need root (network namespaces); they are skipped with a reason
// when not root rather than failing in odd ways.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const wanted = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const files = findTests(join(root, 'test')).filter((f) => {
  const suite = relative(join(root, 'test'), f).split('/')[0];
  return wanted.length === 0 || wanted.includes(suite);
});
if (files.length === 0) {
  console.error(`no test files found for: ${wanted.join(' ') || '(all)'}`);
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  ['--import', join(root, 'build/ts-loader.mjs'), '--test', '--test-concurrency=1', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
