// What the agents' start-up check costs under qjs, started as on the router:
// `ip netns exec` (a fresh mount namespace: the first run mounts bpffs) with
// procd's open-files limit of 1024 (QuickJS closes every descriptor up to it in
// each child). Prints the median and range of the tool probes (the time the
// check adds to a start) and of the whole check with the translator load (which
// the agent did anyway, at its first attach).
// Run as root: node --import ./build/ts-loader.mjs bench/agent-preflight.bench.ts [runs=20]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs } from '../build/qjs-bundle.mjs';
import { asUserInNetns, REPO_ROOT } from '../lab/lab.ts';
import { BPF_OBJECT, describeQjs, QJS } from '../lab/egress-lab.ts';

const runs = Number(process.argv[2] ?? 20);
const dir = mkdtempSync(join(tmpdir(), 'mnat-preflight-bench-'));
const ns = `mn-prebench-${process.pid}`;
try {
  const bundle = join(dir, 'probe.js');
  await bundleQuickjs(join(REPO_ROOT, 'bench/preflight-qjs-probe.ts'), bundle);
  execFileSync('ip', ['netns', 'add', ns]);
  const out = execFileSync('prlimit', ['--nofile=1024:1024', '--', ...asUserInNetns(ns, [QJS, bundle, BPF_OBJECT, String(runs)])], { encoding: 'utf8' });
  const rows = out.trim().split('\n').map((l) => JSON.parse(l) as { probesOk: boolean; allOk: boolean; floorMs: number; probesMs: number; withLoadMs: number });
  if (rows.some((r) => !r.probesOk || !r.allOk)) throw new Error(`a check failed:\n${out}`);
  const stat = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms (${s[0]!.toFixed(1)}–${s[s.length - 1]!.toFixed(1)})`;
  };
  console.log(`agent start-up check under qjs (${describeQjs()}), ip netns exec, nofile 1024, ${runs} runs (the first mounts bpffs):`);
  console.log(`  floor: six \`true\` execs side by side:                                      ${stat(rows.map((r) => r.floorMs))}`);
  console.log(`  tool probes (tc, bpftool, ip, bridge, curl, smcroutectl, side by side): ${stat(rows.map((r) => r.probesMs))}`);
  console.log(`  probes + translator load (bpffs, bpftool prog load, owner slot):        ${stat(rows.map((r) => r.withLoadMs))}`);
} finally {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // not created
  }
  rmSync(dir, { recursive: true, force: true });
}
