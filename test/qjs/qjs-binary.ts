// Finds the test qjs ($MNAT_QJS, else .cache/qjs/qjs) or builds it with
// build/qjs.sh. Fails loudly: the qjs suites must never skip silently.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('../..', import.meta.url).pathname;

export function findOrBuildQjs(): string {
  const fromEnv = process.env.MNAT_QJS;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MNAT_QJS=${fromEnv} does not exist`);
    return fromEnv;
  }
  const cached = `${root}.cache/qjs/qjs`;
  if (existsSync(cached)) return cached;
  const r = spawnSync('bash', [`${root}build/qjs.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !existsSync(path)) {
    throw new Error('no qjs: build/qjs.sh failed (it needs npm registry access, make and gcc); run it by hand to see why');
  }
  return path;
}
