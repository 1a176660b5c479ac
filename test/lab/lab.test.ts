// Lab harness sanity: the reference topology comes up, snooping bridges deliver
// by membership only, and destroy/cleanupStale leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { createLab, cleanupStale, labPinRoot, nodeArgv, mdbHasChannel } from '../../lab/lab.ts';
import { buildTopology } from '../../lab/topology.ts';
import { MARKER_DIR } from '../../lab/lab-registry.ts';

const RX = 'lab/traffic/receiver.ts';
const TX = 'lab/traffic/sender.ts';
const isEvent = (name: string) => (e: Record<string, unknown>) => e.event === name;

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '');
}

for (const v of [4, 6] as const) {
  test(`IPv${v}: a LAN host gets an SSM stream through the CPE's snooping br-lan only after joining`, async (t) => {
    const lab = await createLab(t);
    const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: 2 });
    const cpe = topo.cpes[0]!;
    const [h1, h2] = cpe.hosts as [typeof cpe.hosts[0], typeof cpe.hosts[0]];
    const src = v === 4 ? cpe.lan.ipv4 : cpe.lan.ipv6;
    const group = v === 4 ? '232.1.2.3' : 'ff3e::1:2:3';
    const rxArgs = ['--group', group, '--source', src, '--interface', 'eth0'];
    const late = h1.ns.spawn(nodeArgv(RX, [...rxArgs, '--no-join']));
    const early = h2.ns.spawn(nodeArgv(RX, [...rxArgs, '--progress', '20']));
    await late.waitForJson(isEvent('ready'));
    await early.waitForJson(isEvent('joined'));
    await cpe.ns.waitForMdbChannel('br-lan', 'lan2', src, group);
    const tx = cpe.ns.spawn(nodeArgv(TX, ['--group', group, '--source', src, '--interface', 'br-lan', '--rate', '200']));
    const first = await early.waitForJson(isEvent('first-packet'));
    assert.equal(first.source, src);
    // While the joined host receives, the host that has not joined gets nothing.
    await early.waitForJson((e) => e.event === 'progress' && Number(e.unique) >= 20);
    const quiet = await late.ask('stats', isEvent('stats'));
    assert.equal(quiet.received, 0, 'a host that has not joined must not receive (br-lan floods?)');
    late.write('join');
    const late1 = await late.waitForJson(isEvent('first-packet'));
    assert.equal(late1.source, src);
    await tx.kill();
    early.write('exit');
    const sum = await early.waitForJson(isEvent('summary'));
    assert.equal(sum.duplicates, 0);
    assert.equal(sum.badPayload, 0);
  });
}

test('the core (mcast_flood off) delivers a local (S,G) to a CPE only after that CPE joined', async (t) => {
  const lab = await createLab(t);
  const topo = await buildTopology(lab, { cpes: 2, hostsPerCpe: 1 });
  const [c1, c2] = topo.cpes as [typeof topo.cpes[0], typeof topo.cpes[0]];
  const src = topo.ingress.core.ipv4;
  const group = '232.9.9.9';
  const dump = c2.ns.spawn(['tcpdump', '-nli', 'wan', 'udp', 'and', 'dst', group]);
  await dump.waitForLine(/listening on/);
  const rx1 = c1.ns.spawn(nodeArgv(RX, ['--group', group, '--source', src, '--interface', 'wan', '--progress', '20']));
  await rx1.waitForJson(isEvent('joined'));
  const mdb = await topo.core.ns.waitForMdb('br-core', (e) => mdbHasChannel(e, 'p-cpe1', src, group));
  assert.ok(!mdbHasChannel(mdb, 'p-cpe2', src, group));
  const tx = topo.ingress.ns.spawn(nodeArgv(TX, ['--group', group, '--source', src, '--rate', '200']));
  await rx1.waitForJson(isEvent('first-packet'));
  await rx1.waitForJson((e) => e.event === 'progress' && Number(e.unique) >= 20);
  assert.deepEqual(dump.lines.filter((l) => l.includes(group)), [], 'CPE 2 got the stream without joining');
  const rx2 = c2.ns.spawn(nodeArgv(RX, ['--group', group, '--source', src, '--interface', 'wan']));
  const f2 = await rx2.waitForJson(isEvent('first-packet'));
  assert.equal(f2.source, src);
  await tx.kill();
});

test('destroy removes every namespace and the marker; it is idempotent', async () => {
  const lab = await createLab();
  const a = await lab.netns('a');
  const b = await lab.netns('b');
  await lab.link(a, 'x0', b, 'x1');
  const sleeper = a.spawn(['sleep', '600']);
  // Commands in a lab namespace share the root's bpffs (nsenter, not ip netns exec).
  assert.equal((await a.run(['stat', '-f', '-c', '%T', '/sys/fs/bpf'])).trim(), 'bpf_fs');
  assert.match(await a.run(['ip', '-o', 'link', 'show', 'x0']), /x0@/);
  assert.ok(netnsList().includes(a.name));
  assert.ok(existsSync(`${MARKER_DIR}/${lab.id}.json`));
  await lab.destroy();
  await lab.destroy();
  assert.equal(await sleeper.exited.then(() => 'exited'), 'exited');
  assert.deepEqual(netnsList().filter((n) => n.endsWith(`-${lab.id}`)), []);
  assert.ok(!existsSync(`${MARKER_DIR}/${lab.id}.json`));
});

test('cleanupStale removes the namespaces and translator pins of dead owners only', async (t) => {
  const live = await createLab(t);
  const mine = await live.netns('keep');
  // A crashed run: a marker whose pid has exited, and its namespace.
  const dead = spawnSync('true').pid!;
  const id = `zz${Date.now().toString(36).slice(-5)}`;
  mkdirSync(MARKER_DIR, { recursive: true });
  writeFileSync(`${MARKER_DIR}/${id}.json`, JSON.stringify({ id, pid: dead, startTime: 'gone', createdAt: '' }));
  execFileSync('ip', ['netns', 'add', `mn-old-${id}`]);
  // Its agents were killed with it, so their pin root is still there (an empty
  // instance directory stands in for the pins: the root goes as a whole); a
  // live lab's stays.
  mkdirSync(`${labPinRoot(id)}/egress-wan`, { recursive: true });
  mkdirSync(labPinRoot(live.id), { recursive: true });
  t.after(() => rmSync(labPinRoot(live.id), { recursive: true, force: true }));
  const removed = await cleanupStale();
  assert.deepEqual(removed, [`mn-old-${id}`]);
  assert.ok(!netnsList().includes(`mn-old-${id}`));
  assert.ok(netnsList().includes(mine.name));
  assert.ok(!existsSync(`${MARKER_DIR}/${id}.json`));
  assert.ok(!existsSync(labPinRoot(id)), 'the dead run\'s pin root is gone');
  assert.ok(existsSync(labPinRoot(live.id)), 'the live run\'s pin root stays');
});

for (const v of [4, 6] as const) {
  test(`IPv${v} traffic tools: every datagram of a counted run arrives once, in order, from the bound source`, async (t) => {
    const lab = await createLab(t);
    const a = await lab.netns('a');
    const b = await lab.netns('b');
    await lab.link(a, 'eth0', b, 'eth0');
    const src = v === 4 ? '10.9.0.1' : 'fd00:9::1';
    await a.addr('eth0', v === 4 ? '10.9.0.1/24' : 'fd00:9::1/64');
    await b.addr('eth0', v === 4 ? '10.9.0.2/24' : 'fd00:9::2/64');
    const group = v === 4 ? '232.7.7.7' : 'ff3e::7:7';
    const rx = b.spawn(nodeArgv(RX, ['--group', group, '--source', src, '--interface', 'eth0', '--count', '300']));
    await rx.waitForJson(isEvent('joined'));
    const tx = a.spawn(nodeArgv(TX, ['--group', group, '--source', src, '--interface', 'eth0', '--rate', '2000', '--count', '300', '--size', '300']));
    assert.equal((await tx.waitForJson(isEvent('done'))).sent, 300);
    assert.equal(await tx.exited, 0);
    const sum = await rx.waitForJson(isEvent('summary'));
    assert.equal(sum.reason, 'count');
    assert.deepEqual(
      { unique: sum.unique, duplicates: sum.duplicates, reorders: sum.reorders, missing: sum.missing, firstSeq: sum.firstSeq, highestSeq: sum.highestSeq, bytes: sum.bytes, sources: sum.sources },
      { unique: 300, duplicates: 0, reorders: 0, missing: 0, firstSeq: 0, highestSeq: 299, bytes: 300 * 300, sources: { [src]: 300 } },
    );
  });
}
