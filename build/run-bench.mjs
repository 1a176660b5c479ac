#!/usr/bin/env node
// `npm run bench [-- NAME ...]`: runs bench/*.bench.ts one after another (never
// in parallel: they measure the machine), each through the ts loader with
// --expose-gc. NAME filters by substring, e.g. `npm run bench -- server`.
// Benchmarks print their own figures; none is a pass/fail test.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const benches = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
if (benches.length === 0) {
  console.error(`no benchmark matches ${filters.join(' ')}; see bench/*.bench.ts`);
  process.exit(2);
}
let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', join(root, 'build/ts-loader.mjs'), join(root, 'bench', file)], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    failed++;
    console.log(`=== ${file} exited ${r.status ?? r.signal}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
