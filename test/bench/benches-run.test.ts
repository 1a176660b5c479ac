// Every benchmark that takes a size, run at a tiny one: it must finish and
// print its figures. Nothing here is measured (the README's figures come from
// full runs); this keeps the benches runnable while the code under them
// changes. bench/region-scale.bench.ts once stopped starting when the region's
// quota settings grew, and only the next full run found it.
// The benches without a size (the labs of bench/system-*, egress-*, dataplane-*)
// build namespaces and VMs and are covered by the lab suites instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Runs bench/NAME.bench.ts with args; resolves with its exit code and output. */
function runBench(t: { after(fn: () => unknown): void }, name: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'bench', `${name}.bench.ts`), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the servers it starts go with it
  });
  // A bench still running at the test's end (its timeout) gets Ctrl-C, which
  // the benches clean up on (bench-support.ts), then SIGKILL.
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // the group is gone already
      }
    };
    signalGroup('SIGINT');
    const killer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
    await new Promise((resolve) => child.once('close', resolve));
    clearTimeout(killer);
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

const BENCHES: Array<{ name: string; args: string[]; prints: RegExp[]; timeoutS: number }> = [
  { name: 'core-state', args: ['2000'], prints: [/refreshWatcher: [\d.]+ us each/, /pool .*allocations in/], timeoutS: 120 },
  { name: 'server-scale', args: ['2000', '3'], prints: [/refresh phase: \d+ refreshes/, /restart from the snapshot/], timeoutS: 180 },
  { name: 'server-compaction', args: ['2000', '3', '50'], prints: [/s of continuous PUTs/, /normal client failures: 0/], timeoutS: 180 },
  { name: 'server-attacks', args: ['1'], prints: [/normal client: one request every 20 ms/, /refused so far/], timeoutS: 300 },
  { name: 'server-throughput', args: ['2000', '1'], prints: [/refresh POST: median ratio [\d.]+/, /assigned-channels GET: median ratio [\d.]+/, /bare-204-twin refresh POST: median ratio [\d.]+/], timeoutS: 180 },
  { name: 'region-throughput', args: ['2000', '2'], prints: [/front-B assigned-channels GET: median ratio [\d.]+/, /bare-204-twin assigned-channels GET: median ratio [\d.]+/], timeoutS: 300 },
  { name: 'region-scale', args: ['2000', '5', '30'], prints: [/refresh phase: \d+ refreshes .* 0 errors/, /push across front ends.*: 500 changes/, /same watcher ids: true/], timeoutS: 300 },
  { name: 'snapshot-steps', args: ['20000', '2'], prints: [/round 2: .* longest hold at once \/ in steps [\d.]+x/, /pack round 2: packed into \d+ chunks .* held it \d+ ms/], timeoutS: 120 },
  { name: 'mqtt-fanout', args: ['100', '1', '1'], prints: [/N=100: server CPU SSE\/MQTT/], timeoutS: 300 },
];

for (const b of BENCHES) {
  test(`bench/${b.name}.bench.ts ${b.args.join(' ')} runs to its figures`, { timeout: b.timeoutS * 1000 }, async (t) => {
    const r = await runBench(t, b.name, b.args);
    const tail = r.out.slice(-3000);
    assert.equal(r.code, 0, `bench/${b.name}.bench.ts exited ${r.code}:\n${tail}`);
    for (const p of b.prints) assert.match(r.out, p, `bench/${b.name}.bench.ts did not print ${p}:\n${tail}`);
  });
}
