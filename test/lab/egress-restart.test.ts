// What an egress killed with SIGKILL leaves, and who removes it: the next run
// (its pins, or under `ip netns exec` its filter found by the owner record in
// the program's maps; the WAN joins it left in smcrouted, which it takes over
// and leaves once they are no longer wanted), or `mnat-egress cleanup` (what
// the init script runs after a stop). And a stop on a router so loaded that
// each tool exec takes 0.8 s still leaves nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeArgv, type Netns } from '../../lab/lab.ts';
import { createEgressLab, eventually, isEvent, leftovers, RX, TX, type EgressLab } from '../../lab/egress-lab.ts';

const SG4 = { source: '198.51.100.2', group: '232.1.1.1' };

/** smcrouted's joins, one "(S, G) IIF" line each. */
async function smcrouteJoins(el: EgressLab): Promise<string[]> {
  const out = await el.topo.cpes[0]!.ns.run([...el.smcroutectl!, '-p', '-t', 'show', 'groups']);
  return out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');
}
const joinOf = (c: { source: string; group: string }): string => `(${c.source}, ${c.group}) wan`;

/** The program ids of the translator filters on wan's ingress. */
async function translatorFilters(ns: Netns): Promise<number[]> {
  const out = await ns.run(['tc', '-j', 'filter', 'show', 'dev', 'wan', 'ingress']);
  const entries = JSON.parse(out || '[]') as Array<{ options?: { prog?: { id: number; name: string } } }>;
  return entries.flatMap((e) => (e.options?.prog?.name === 'mnat_translate' ? [e.options.prog.id] : []));
}

/** An egress carrying SG4 to the CPE's first host, with the sender of its local channel running. */
async function carrying(el: EgressLab) {
  const cpe = el.topo.cpes[0]!;
  await el.startEgress();
  const rx = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '20']));
  const local = await el.waitForMapping(SG4);
  await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local.source, local.group);
  el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local.group, '--interface', 'core0', '--rate', '100']));
  await rx.waitForJson(isEvent('first-packet'), 10_000);
  return { cpe, rx, local };
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('qjs: after a kill -9 the next egress takes over the smcroute join the dead one left: keeps it while wanted, leaves it once not; its stop leaves no WAN join', async (t) => {
  const el = await createEgressLab(t, { runtime: 'qjs' });
  const { cpe, rx, local } = await carrying(el);
  await el.egress.kill('SIGKILL');
  assert.ok((await smcrouteJoins(el)).includes(joinOf(local)), 'precondition: smcrouted keeps the dead agent\'s join');

  // Still wanted: the new run adopts it (no leave, no second join) and translates again.
  await el.startEgress();
  await el.egress.waitForLine(/took over upstream joins a dead run left in smcrouted.*joins=1/, 20_000);
  await el.waitForMapping(SG4);
  await rx.waitForJson((e) => e.event === 'progress', 10_000, rx.lines.length);
  assert.ok(!el.egress.lines.some((l) => l.includes(`leave (${local.source},${local.group})`)), 'the wanted join is kept, not left and joined again');

  // Killed again, and the host leaves meanwhile: the next run leaves the join nobody wants.
  await el.egress.kill('SIGKILL');
  rx.write('leave');
  await rx.waitForJson(isEvent('left'));
  await cpe.ns.waitForMdbChannel('br-lan', 'lan1', SG4.source, SG4.group, false);
  await el.startEgress();
  await el.egress.waitForLine(/took over upstream joins a dead run left in smcrouted.*joins=1/, 20_000);
  await el.egress.waitForLine(new RegExp(`msg="leave \\(${esc(local.source)},${esc(local.group)}\\) on wan"`), 30_000);
  await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local.source, local.group, false, 10_000);
  assert.deepEqual(await smcrouteJoins(el), []);
  assert.equal(await el.egress.kill('SIGTERM'), 0);
  assert.deepEqual(await leftovers(el), []);
});

test('qjs under ip netns exec: after a kill -9 (its pins gone with its mount namespace) the next egress removes the dead filter found by its owner record, takes over its join, and the stream is translated once', async (t) => {
  const el = await createEgressLab(t, { runtime: 'qjs', asUser: true });
  const { cpe, rx } = await carrying(el);
  const before = await translatorFilters(cpe.ns);
  assert.equal(before.length, 1);
  await el.egress.kill('SIGKILL');
  assert.deepEqual(await translatorFilters(cpe.ns), before, 'precondition: the dead agent\'s filter stays attached, with no pin left to find it by');

  await el.startEgress();
  await el.egress.waitForLine(/removed translator state left by an earlier run.*device=wan pid=\d+/, 20_000);
  await el.egress.waitForLine(/took over upstream joins a dead run left in smcrouted.*joins=1/, 20_000);
  await el.waitForMapping(SG4);
  const now = await translatorFilters(cpe.ns);
  assert.equal(now.length, 1, 'one translator on wan');
  assert.notEqual(now[0], before[0], 'the new agent\'s');
  const mark = rx.lines.length;
  await rx.waitForJson((e) => e.event === 'progress', 10_000, mark);
  assert.ok(!rx.lines.slice(mark).some((l) => l.includes('unexpected-source')), 'only the global source reaches the host');
  assert.equal(await el.egress.kill('SIGTERM'), 0);
  assert.deepEqual(await leftovers(el), []);
  assert.deepEqual(await smcrouteJoins(el), []);
});

test('qjs: `mnat-egress cleanup` refuses while the agent runs; after a kill -9 it removes filter, clsact, pins, the WAN join and the status file', async (t) => {
  const el = await createEgressLab(t, { runtime: 'qjs' });
  const { cpe, local } = await carrying(el);
  const refused = await cpe.ns.exec(el.egressArgv(['cleanup']));
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /mnat-egress is running; stop it first/);

  await el.egress.kill('SIGKILL');
  assert.notDeepEqual(await leftovers(el), [], 'precondition: the killed agent left its state');
  // Its status file is left too and looks current: `status` must say the agent is gone.
  const stale = await cpe.ns.exec(el.egressArgv(['status']));
  assert.equal(stale.code, 1, stale.stderr);
  assert.match(stale.stderr, /NOT RUNNING: pid \d+ is gone; the above is its last status\. `mnat-egress cleanup` removes what it left/);
  const r = await cpe.ns.exec(el.egressArgv(['cleanup']));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /cleaned up after a stopped agent.*rules=1 joinsLeft=1/);
  assert.deepEqual(await leftovers(el), []);
  assert.deepEqual(await smcrouteJoins(el), []);
  assert.equal(el.status(), null, 'the dead agent\'s status file is gone');
  await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local.source, local.group, false, 10_000);
  // Nothing left: a second run finds nothing and says so without failing.
  assert.equal((await cpe.ns.exec(el.egressArgv(['cleanup']))).code, 0);
});

test('qjs: a stop while every tool takes 0.8 s (a router under load) still leaves no qdisc, filter, pin or WAN join', async (t) => {
  // Tools behind wrappers that sleep once the flag file exists: the agent runs
  // at normal speed, its stop at a loaded router's.
  const el0 = { dir: '' };
  const wrap = (dir: string): string[] => {
    const bin = join(dir, 'slow-bin');
    mkdirSync(bin);
    for (const tool of ['tc', 'bpftool', 'ip', 'bridge', 'smcroutectl', 'curl']) {
      const file = join(bin, tool);
      writeFileSync(file, `#!/bin/sh\n[ -e ${dir}/slow ] && sleep 0.8\nPATH=${process.env.PATH} exec ${tool} "$@"\n`);
      chmodSync(file, 0o755);
    }
    return ['env', `PATH=${bin}:${process.env.PATH}`];
  };
  const { mkdtempSync, rmSync } = await import('node:fs');
  el0.dir = mkdtempSync(join((await import('node:os')).tmpdir(), 'mnat-slow-'));
  t.after(() => rmSync(el0.dir, { recursive: true, force: true }));
  const el = await createEgressLab(t, { runtime: 'qjs', egressPrefix: wrap(el0.dir) });
  const { cpe, local } = await carrying(el);
  writeFileSync(join(el0.dir, 'slow'), '');
  const started = Date.now();
  process.kill(el.egress.pid, 'SIGTERM');
  const code = await Promise.race([el.egress.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 40_000))]);
  t.diagnostic(`stop with 0.8 s per exec: ${Date.now() - started} ms`);
  assert.equal(code, 0, el.egress.lines.slice(-8).join('\n'));
  assert.deepEqual(await leftovers(el), []);
  assert.deepEqual(await smcrouteJoins(el), []);
  await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local.source, local.group, false, 10_000);
  await eventually(() => el.status() === null, 'the status file removed');
});
