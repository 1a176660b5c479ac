// Each agent started as users start it (ip netns exec, dist bundles) with a
// PATH that lacks one tool at a time (symlinks in a temp dir): it names the
// missing piece and its OpenWrt package in one line and exits 1, never hangs
// and never retries for ever. With every tool there it starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, REPO_ROOT, type LabProcess, type Netns } from '../../lab/lab.ts';
import { QJS } from '../../lab/egress-lab.ts';

const TOOLS = ['tc', 'bpftool', 'ip', 'bridge', 'curl', 'smcroutectl', 'mount', 'rmdir', 'stdbuf'];
const WHERE = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const dist = (f: string): string => join(REPO_ROOT, 'dist', f);

const LINES: Record<string, string> = {
  tc: 'tc: not found; install tc-bpf or tc-full (OpenWrt)',
  bpftool: 'bpftool: not found; install bpftool-minimal or bpftool-full (OpenWrt)',
  ip: 'ip: not found; install ip-tiny or ip-full (OpenWrt)',
  bridge: 'bridge: not found; install ip-bridge (OpenWrt)',
  curl: 'curl: not found; install curl with a libcurl built with LIBCURL_NGHTTP2 (OpenWrt)',
  smcroutectl: 'smcroutectl: not found; install smcroute (OpenWrt)',
  mount:
    'bpffs: /sys/fs/bpf/mnat is on sysfs, not bpffs, and mounting it failed: mount is not installed or not on PATH: install mount (OpenWrt); ' +
    "mount it: mount -t bpf bpf /sys/fs/bpf (as OpenWrt's /etc/init.d/boot does)",
};

interface Agent {
  name: 'mnat-egress' | 'mnat-ingress';
  label: string;
  argv(dir: string, extra?: string[]): string[];
  needs: string[];
  /** The line that says it got past the check. */
  started: RegExp;
}

const egressArgs = (dir: string): string[] => ['--upstream-interface', 'up0', '--downstream-interface', 'core0', '--server', '127.0.0.1', '--insecure', '--status-file', join(dir, 'status.json')];
const AGENTS: Agent[] = [
  { name: 'mnat-egress', label: 'egress on Node', argv: (d, x = []) => [process.execPath, dist('mnat-egress.js'), ...egressArgs(d), ...x], needs: ['tc', 'bpftool', 'ip', 'bridge', 'mount'], started: /mnat-egress starting/ },
  { name: 'mnat-egress', label: 'egress on qjs', argv: (d, x = []) => [QJS, dist('mnat-egress.qjs.js'), ...egressArgs(d), ...x], needs: ['tc', 'bpftool', 'ip', 'bridge', 'curl', 'smcroutectl', 'mount'], started: /mnat-egress starting/ },
  { name: 'mnat-ingress', label: 'ingress on Node', argv: (d, x = []) => [process.execPath, dist('mnat-ingress.js'), ...egressArgs(d), ...x], needs: ['tc', 'bpftool', 'mount'], started: /msg=started/ },
];

/** A directory of symlinks to every tool but `without`: the PATH a router missing those packages has. */
function pathWithout(dir: string, without: readonly string[]): string {
  const bin = join(dir, `bin-${without.join('-') || 'all'}`);
  mkdirSync(bin);
  for (const tool of TOOLS) {
    if (without.includes(tool)) continue;
    const found = WHERE.map((w) => join(w, tool)).find((p) => existsSync(p));
    if (found) symlinkSync(found, join(bin, tool));
  }
  return bin;
}

/** Resolves with the exit code, or kills the agent and fails when it has not exited in time (a hang). */
async function exitWithin(p: LabProcess, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  const code = await Promise.race([p.exited, timeout]);
  clearTimeout(timer);
  if (code === 'hung') {
    await p.kill('SIGKILL');
    assert.fail(`${what} did not exit within ${ms} ms:\n${p.lines.slice(-10).join('\n')}`);
  }
  return code;
}

const preflightLines = (p: LabProcess, name: string): string[] => p.lines.filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2));

async function setup(t: { after(fn: () => Promise<void> | void): void }): Promise<{ ns: Netns; dir: string }> {
  for (const f of ['mnat-egress.js', 'mnat-egress.qjs.js', 'mnat-ingress.js', 'mnat-translator.bpf.o']) assert.ok(existsSync(dist(f)), `dist/${f}: run npm run build`);
  assert.ok(existsSync(QJS), `${QJS}: run build/qjs.sh`);
  const lab = await createLab(t);
  const ns = await lab.netns('pre');
  await ns.run(['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'core0']);
  for (const dev of ['up0', 'core0']) await ns.up(dev);
  const dir = mkdtempSync(join(tmpdir(), 'mnat-prereq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { ns, dir };
}

for (const agent of AGENTS) {
  test(`${agent.label}: each missing tool is one line with its package and exit 1; with all of them it starts`, async (t) => {
    const { ns, dir } = await setup(t);
    for (const tool of agent.needs) {
      const p = ns.spawn(agent.argv(dir), { asUser: true, env: { PATH: pathWithout(dir, [tool]) }, label: `${agent.label} without ${tool}` });
      const code = await exitWithin(p, 20_000, `${agent.label} without ${tool}`);
      assert.deepEqual(preflightLines(p, agent.name), [LINES[tool]], `${agent.label} without ${tool}`);
      assert.equal(code, 1, `${agent.label} without ${tool}: exit 1 (environment)`);
    }
    const all = ns.spawn(agent.argv(dir), { asUser: true, env: { PATH: pathWithout(dir, []) }, label: `${agent.label} with every tool` });
    await all.waitForLine(agent.started, 20_000);
    assert.deepEqual(preflightLines(all, agent.name), []);
    assert.equal(await all.kill('SIGTERM'), 0);
  });
}

test('several pieces missing at once: one line each; a BPF object that does not load is named too', async (t) => {
  const { ns, dir } = await setup(t);
  const qjsEgress = AGENTS[1]!;
  const p = ns.spawn(qjsEgress.argv(dir), { asUser: true, env: { PATH: pathWithout(dir, ['tc', 'curl', 'smcroutectl', 'mount']) } });
  assert.equal(await exitWithin(p, 20_000, 'egress without four tools'), 1);
  assert.deepEqual(preflightLines(p, 'mnat-egress'), [LINES.tc, LINES.curl, LINES.smcroutectl, LINES.mount]);

  const bogus = join(dir, 'not-bpf.o');
  writeFileSync(bogus, 'this is not an ELF object\n');
  const ingress = AGENTS[2]!;
  const q = ns.spawn(ingress.argv(dir, ['--bpf-object', bogus, '--join-backend', 'smcroute']), { asUser: true, env: { PATH: pathWithout(dir, ['smcroutectl']) } });
  assert.equal(await exitWithin(q, 20_000, 'ingress with a bad BPF object'), 1);
  const lines = preflightLines(q, 'mnat-ingress');
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.equal(lines[0], LINES.smcroutectl);
  assert.match(lines[1]!, /^loading the BPF program failed \(is the kernel built with BPF and cls_bpf\?\): `bpftool prog load .*not-bpf\.o/);
});
