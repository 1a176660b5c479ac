// `mnat-egress status` and `mnat-ingress status` as an operator runs them: a
// running agent's status (exit 0), and the status file a killed agent left
// behind (kill -9, OOM), which looks current but must say it is not (exit 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EgressStatus } from '../../src/egress/egress-status.ts';
import type { IngressStatus } from '../../src/ingress/ingress-status.ts';

const root = new URL('../..', import.meta.url).pathname;
const now = new Date().toISOString();
const server = { origin: 'https://mnat.example.net:8443', connected: true, watcher: 'Ab3dE…', mode: 'push' };
const egress = (pid: number): EgressStatus => ({
  component: 'mnat-egress', version: 1, runtime: 'node', pid, startedAt: now, updatedAt: now, server,
  upstream: { name: 'wan', present: true, ifindex: 2, attached: true },
  downstream: { name: 'br-lan', present: true, ifindex: 3, membership: 'snooping table' },
  channels: [], counters: { reconciles: 1, actions: 0, failures: 0, lanJoins: 0, lanLeaves: 0, ignoredAsm: 0 },
});
const ingress = (pid: number): IngressStatus => ({
  component: 'mnat-ingress', version: 1, pid, startedAt: now, updatedAt: now, server, upstream: 'up0', downstream: ['d0'],
  monitors: ['0.0.0.0/0'], join: true, joinfile: null, channels: [], skipped: [], counters: { reconciles: 1, failures: 0, lastReconcileMs: 2 },
});

/** A pid that is certainly gone: a child that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

for (const [agent, main, status] of [
  ['mnat-egress', 'src/egress/main-node.ts', egress],
  ['mnat-ingress', 'src/ingress/main.ts', ingress],
] as const) {
  test(`${agent} status: a running agent's status exits 0; a killed agent's says NOT RUNNING and exits 1`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mnat-status-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'status.json');
    const run = () => spawnSync(process.execPath, ['--import', join(root, 'build/ts-loader.mjs'), join(root, main), 'status', '--status-file', file], { encoding: 'utf8' });

    writeFileSync(file, JSON.stringify(status(process.pid)));
    const alive = run();
    assert.equal(alive.status, 0, alive.stderr);
    assert.match(alive.stdout, new RegExp(`${agent}.*pid ${process.pid}`));
    assert.equal(alive.stderr, '');

    const pid = deadPid();
    writeFileSync(file, JSON.stringify(status(pid)));
    const gone = run();
    assert.equal(gone.status, 1);
    assert.match(gone.stdout, new RegExp(`pid ${pid}`), 'the last status is still shown');
    assert.match(gone.stderr, new RegExp(`${agent} status: NOT RUNNING: pid ${pid} is gone; the above is its last status`));
  });
}
