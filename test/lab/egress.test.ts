// mnat-egress end to end, under Node and under the real qjs: LAN hosts join
// (Sg,Gg) with real IGMPv3/MLDv2 sockets, the egress reports them to a real
// mnat-server (HTTP/2 + TLS, client certificate), joins the assigned (Sl,Gl)
// on its WAN and translates the (Sl,Gl) stream back onto br-lan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeArgv } from '../../lab/lab.ts';
import { createEgressLab, eventually, isEvent, leftovers, QJS, requirements, RX, TX, egressQjsBundle, type Runtime } from '../../lab/egress-lab.ts';
import { REMAP_OVERLAP_MS } from '../../src/egress/egress-agent.ts';

const SG4 = { source: '198.51.100.2', group: '232.1.1.1' };
const SG6 = { source: '2001:db8:100::2', group: 'ff3e::1:1' };

function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

for (const runtime of ['node', 'qjs'] as Runtime[]) {
  test(`${runtime}: join -> report -> translated stream; two hosts, one leaves; last leave empties the server and leaves the WAN; SIGTERM leaves nothing`, async (t) => {
    const missing = requirements(runtime);
    if (missing) return t.skip(missing);
    const el = await createEgressLab(t, { runtime, hostsPerCpe: 2 });
    const cpe = el.topo.cpes[0]!;
    const [h1, h2] = cpe.hosts as [typeof cpe.hosts[0], typeof cpe.hosts[0]];
    await el.startEgress();

    // Host 1 joins (Sg,Gg) v4 and v6; the egress maps them.
    const rx1 = h1.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '10']));
    const rx6 = h1.ns.spawn(nodeArgv(RX, ['--group', SG6.group, '--source', SG6.source, '--interface', 'eth0', '--progress', '10']));
    const local4 = await el.waitForMapping(SG4);
    const local6 = await el.waitForMapping(SG6);
    assert.equal(local4.source, el.topo.ingress.core.ipv4);
    assert.match(local4.group, /^239\.77\.0\./);
    assert.equal(local6.source, el.topo.ingress.core.ipv6);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local4.source, local4.group);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local6.source, local6.group);

    // The "ingress": (Sl,Gl) from the core side.
    el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local4.group, '--interface', 'core0', '--rate', '100']));
    el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local6.group, '--source', local6.source, '--interface', 'core0', '--rate', '100']));
    const first4 = await rx1.waitForJson(isEvent('first-packet'), 10_000);
    assert.equal(first4.source, SG4.source, 'the host sees the global source');
    const first6 = await rx6.waitForJson(isEvent('first-packet'), 10_000);
    assert.equal(first6.source, SG6.source);
    assert.equal(rx1.lines.some((l) => l.includes('unexpected-source')), false);

    // Host 2 joins the same v4 channel: no new mapping, it receives too.
    const rx2 = h2.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '10']));
    await rx2.waitForJson(isEvent('first-packet'), 10_000);

    // Host 1 leaves; host 2 keeps receiving after the bridge processed the leave.
    rx1.write('leave');
    await rx1.waitForJson(isEvent('left'));
    await cpe.ns.waitForMdbChannel('br-lan', 'lan1', SG4.source, SG4.group, false);
    const before = rx2.lines.length;
    await rx2.waitForJson((e) => e.event === 'progress', 5_000, before);
    await rx2.waitForJson((e) => e.event === 'progress', 5_000, rx2.lines.length);
    assert.ok(el.egress.lines.every((l) => !/LAN left.*232\.1\.1\.1/.test(l)), 'one leave must not drop the channel');

    // The status file and `mnat-egress status` show the channel for people.
    const st = await eventually(() => {
      const s = el.status();
      const chans = (s?.channels ?? []) as Array<Record<string, unknown>>;
      return chans.some((c) => c.global === `${SG4.source},${SG4.group}` && c.status === 'active') ? s : null;
    }, 'status file with the active channel');
    assert.equal((st.server as Record<string, unknown>).connected, true);
    const statusArgv = runtime === 'qjs' ? [QJS, await egressQjsBundle()] : nodeArgv('src/egress/main-node.ts');
    const shown = await run([...statusArgv, 'status', '--status-file', el.statusFile]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`198\\.51\\.100\\.2,232\\.1\\.1\\.1 +${local4.source.replace(/\./g, '\\.')},${local4.group.replace(/\./g, '\\.')} +active`));

    // Last leaves: the server's joined list empties, the WAN leaves.
    rx2.write('leave');
    rx6.write('leave');
    await el.egress.waitForLine(/LAN left.*232\.1\.1\.1/, 10_000);
    await el.egress.waitForLine(/LAN left.*ff3e::1:1/, 10_000);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local4.source, local4.group, false, 10_000);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local6.source, local6.group, false, 10_000);
    await eventually(async () => /mnat_channels\{state="assigned"\} 0\b/.test(await el.metrics()) && /mnat_channels\{state="unassigned"\} 0\b/.test(await el.metrics()), 'server joined list empty');

    // Join again, then SIGTERM with an active channel: exit 0 and nothing left behind.
    const rejoinAt = el.egress.lines.length;
    rx2.write('join');
    const again = await el.waitForMapping(SG4, rejoinAt);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, again.source, again.group, true, 10_000);
    const code = await el.egress.kill('SIGTERM');
    assert.equal(code, 0, el.egress.lines.slice(-10).join('\n'));
    assert.deepEqual(await leftovers(el), []);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, again.source, again.group, false, 10_000);
    assert.equal(el.status(), null, 'the status file is removed');
    // The joins were withdrawn: released now, not after the watcher expires.
    assert.match(await el.metrics(), /mnat_channels\{state="assigned"\} 0\b/);
  });
}

test('node: server killed and restarted -> packets keep flowing, the egress re-syncs', async (t) => {
  const missing = requirements('node');
  if (missing) return t.skip(missing);
  const el = await createEgressLab(t, { runtime: 'node' });
  const cpe = el.topo.cpes[0]!;
  await el.startEgress();
  const rx = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '20']));
  const local = await el.waitForMapping(SG4);
  el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local.group, '--interface', 'core0', '--rate', '100']));
  await rx.waitForJson(isEvent('first-packet'), 10_000);

  await el.server.kill('SIGKILL');
  await el.egress.waitForLine(/server unreachable/, 30_000);
  const mark = rx.lines.length;
  await rx.waitForJson((e) => e.event === 'progress', 5_000, mark);
  await rx.waitForJson((e) => e.event === 'progress', 5_000, rx.lines.length);

  const since = el.egress.lines.length;
  await el.startServer();
  await el.egress.waitForLine(/server connected/, 40_000, since);
  // Durable server state: the same watcher and mapping, so no kernel change is needed.
  await eventually(async () => /mnat_channels\{state="assigned"\} 1\b/.test(await el.metrics()), 'the server knows the join again');
  const after = rx.lines.length;
  await rx.waitForJson((e) => e.event === 'progress', 5_000, after);
  assert.ok(!el.egress.lines.slice(since).some((l) => /stop translating/.test(l)), 'no translation was removed');

  // A server that lost its state: unknown watcher -> new id -> re-PUT -> a new
  // mapping; the old translation is held until then, then replaced.
  await el.server.kill('SIGKILL');
  rmSync(join(el.dir, 'state'), { recursive: true, force: true });
  const lost = el.egress.lines.length;
  await el.startServer();
  await el.egress.waitForLine(/new watcher id|server connected/, 40_000, lost);
  await eventually(async () => /mnat_channels\{state="assigned"\} 1\b/.test(await el.metrics()), 'the new server assigned the join', 20_000);
  // The held translation is replaced by the new server's mapping (when the
  // pool happens to give the same local channel, 1 in 256, nothing changes).
  const remapped = await el.waitForMapping(SG4, lost).catch(() => local);
  if (remapped.group !== local.group) {
    el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', remapped.group, '--interface', 'core0', '--rate', '100']));
    // Make before break: the old local channel stays joined for REMAP_OVERLAP_MS beside the new one.
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local.source, local.group, false, REMAP_OVERLAP_MS + 10_000);
  }
  await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, remapped.source, remapped.group, true, 10_000);
  // A fresh receiver (the new sender's sequence starts again at 0).
  const rx2 = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '20']));
  await rx2.waitForJson((e) => e.event === 'progress', 10_000);
  const code = await el.egress.kill('SIGTERM');
  assert.equal(code, 0);
  assert.deepEqual(await leftovers(el), []);
});

for (const runtime of ['node', 'qjs'] as Runtime[]) {
  test(`${runtime}: WAN device deleted and re-created -> the egress re-attaches and re-joins`, async (t) => {
    const missing = requirements(runtime);
    if (missing) return t.skip(missing);
    const el = await createEgressLab(t, { runtime });
    const cpe = el.topo.cpes[0]!;
    const core = el.topo.core.ns;
    await el.startEgress();
    const rx = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '20']));
    const local = await el.waitForMapping(SG4);
    el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local.group, '--interface', 'core0', '--rate', '100']));
    await rx.waitForJson(isEvent('first-packet'), 10_000);

    const since = el.egress.lines.length;
    await cpe.ns.run(['ip', 'link', 'del', 'wan']);
    await el.egress.waitForLine(/upstream device missing/, 10_000, since);
    // PPPoE/DHCP coming back: a new device with the same name, a new ifindex.
    await el.lab.link(cpe.ns, 'wan', core, cpe.corePort);
    await core.run(['ip', 'link', 'set', cpe.corePort, 'master', 'br-core']);
    await core.run(['bridge', 'link', 'set', 'dev', cpe.corePort, 'mcast_flood', 'off', 'fastleave', 'on']);
    await cpe.ns.addr('wan', `${cpe.wan.ipv4}/24`);
    await cpe.ns.addr('wan', `${cpe.wan.ipv6}/64`);
    await cpe.ns.route(['224.0.0.0/4', 'dev', 'wan']);
    await el.egress.waitForLine(/upstream device appeared/, 10_000, since);
    await el.egress.waitForLine(/join \(10\.0\.0\.1,239\.77\.0\.\d+\) on wan/, 30_000, since);
    await core.waitForMdbChannel('br-core', cpe.corePort, local.source, local.group, true, 15_000);
    const mark = rx.lines.length;
    await rx.waitForJson((e) => e.event === 'progress', 10_000, mark);
    await rx.waitForJson((e) => e.event === 'progress', 5_000, rx.lines.length);
    const code = await el.egress.kill('SIGTERM');
    assert.equal(code, 0);
    assert.deepEqual(await leftovers(el), []);
  });
}

for (const runtime of ['node', 'qjs'] as Runtime[]) {
  test(`${runtime}: bad UCI or flags -> one clear line on stderr, exit 2`, async (t) => {
    if (runtime === 'qjs' && requirements('qjs')) return t.skip(requirements('qjs')!);
    const argv = runtime === 'qjs' ? [QJS, await egressQjsBundle()] : nodeArgv('src/egress/main-node.ts');
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'mnat-uci-'));
    t.after(() => (import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true }))));
    const bad = join(dir, 'mnat');
    writeFileSync(bad, "config egress 'egress'\n\toption server 'mnat.example.net'\n\toption upstream 'wan'\n\toption max_channels 'lots'\n");
    const r = await run([...argv, '--uci', bad]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^mnat-egress: ${bad}:4: option max_channels: 'lots' is not a whole number`));
    const unquoted = join(dir, 'broken');
    writeFileSync(unquoted, "config egress\n\toption server 'unterminated\n");
    const r2 = await run([...argv, '--uci', unquoted]);
    assert.equal(r2.code, 2);
    assert.equal(r2.stderr.trim().split('\n').length, 1, r2.stderr);
    assert.match(r2.stderr, /broken:2/);
    const r3 = await run([...argv, '--upstream-interface', 'wan']);
    assert.equal(r3.code, 2);
    assert.equal(r3.stderr, 'mnat-egress: --downstream-interface is required (the LAN bridge), or option downstream in the UCI file\n');
    const help = await run([...argv, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: mnat-egress/);
  });
}

for (const runtime of ['node', 'qjs'] as Runtime[]) {
  test(`${runtime}: UCI config with a control file; SIGHUP applies a new config and keeps the channels that stay valid`, async (t) => {
    const missing = requirements(runtime);
    if (missing) return t.skip(missing);
    const el = await createEgressLab(t, { runtime });
    const cpe = el.topo.cpes[0]!;
    const control = join(el.dir, 'channels');
    writeFileSync(control, `# scripted joins\n${SG6.source},${SG6.group}\nnot a channel\n`);
    const uci = el.writeUci({ membership: 'both', control_file: control, max_channels: '8' });
    await el.startEgress(['--uci', uci], true);
    await el.egress.waitForLine((l) => l.includes(`${control}:3: expected \\"source,group\\", got \\"not a channel\\"; line skipped`), 10_000);

    // The control file's channel and a LAN host's channel are both carried.
    const local6 = await el.waitForMapping(SG6);
    const rx = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0', '--progress', '20']));
    const local4 = await el.waitForMapping(SG4);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local6.source, local6.group);
    el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local4.group, '--interface', 'core0', '--rate', '100']));
    await rx.waitForJson(isEvent('first-packet'), 10_000);

    // New config: at most one channel. The active v4 channel keeps its place
    // (key order), the control file's v6 channel is dropped; nothing else moves.
    const since = el.egress.lines.length;
    el.writeUci({ membership: 'both', control_file: control, max_channels: '1', log_level: 'info' });
    process.kill(el.egress.pid, 'SIGHUP');
    await el.egress.waitForLine(/configuration reloaded.*max channels 8 -> 1/, 10_000, since);
    await el.egress.waitForLine(/channel not carried: max channels reached.*ff3e::1:1/, 10_000, since);
    await el.topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, local6.source, local6.group, false, 10_000);
    const mark = rx.lines.length;
    await rx.waitForJson((e) => e.event === 'progress', 5_000, mark);
    await rx.waitForJson((e) => e.event === 'progress', 5_000, rx.lines.length);
    const after = el.egress.lines.slice(since);
    assert.ok(!after.some((l) => l.includes(`stop translating (${local4.source},${local4.group})`)), after.join('\n'));
    assert.ok(!after.some((l) => /level=debug/.test(l)), 'log level info applies after the reload');

    // A broken config on SIGHUP is rejected; the running one stays.
    writeFileSync(uci, "config egress\n\toption max_channels 'x'\n");
    const bad = el.egress.lines.length;
    process.kill(el.egress.pid, 'SIGHUP');
    await el.egress.waitForLine(/reload rejected; the running configuration stays/, 10_000, bad);
    await rx.waitForJson((e) => e.event === 'progress', 5_000, rx.lines.length);
    assert.equal(await el.egress.kill('SIGTERM'), 0);
    assert.deepEqual(await leftovers(el), []);
  });
}
