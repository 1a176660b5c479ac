// The kernel translator with real packets in network namespaces: a local (S,G)
// stream arriving on a CPE's WAN reaches a LAN host that joined the global (S,G)
// with a real socket, with every byte checked in a capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLab, nodeArgv } from '../../lab/lab.ts';
import { buildTranslatorLab, MAP4, MAP6, netnsHost, stopCaptureWhen, udpChecksumErrors } from '../../lab/translator-lab.ts';
import { createTranslator, type Translator } from '../../src/dataplane/translator.ts';
import { listTranslatorRules, refreshTranslator } from '../../src/dataplane/translator-upkeep.ts';
import { multicastMac, parseAddress } from '../../src/core/address.ts';
import { addressBytes, checksumsValid, hex } from '../dataplane/packet.ts';
import { decodePayload } from '../../lab/traffic/payload.ts';

const RX = 'lab/traffic/receiver.ts';
const TX = 'lab/traffic/sender.ts';
const OBJECT = new URL('../../dist/mnat-translator.bpf.o', import.meta.url).pathname;
const isEvent = (name: string) => (e: Record<string, unknown>) => e.event === name;
const skip = !existsSync(OBJECT) ? 'dist/mnat-translator.bpf.o missing: run npm run build' : false;

/** A lab whose teardown first detaches the tracked translators (their commands need the namespaces), then destroys it. */
async function labWithCleanup(t: { after(fn: () => Promise<void>): void }) {
  const lab = await createLab();
  const translators: Translator[] = [];
  t.after(async () => {
    for (const tr of translators) await tr.detach().catch(() => undefined);
    await lab.destroy();
  });
  return Object.assign(lab, { track: (tr: Translator) => translators.push(tr) });
}

function uniquePinRoot(): string {
  return `/sys/fs/bpf/mnat-lab-${process.pid}-${randomBytes(3).toString('hex')}`;
}

for (const family of [4, 6] as const) {
  test(`IPv${family}: (Sl,Gl) on the WAN reaches a LAN host joined to (Sg,Gg); bytes, checksums, TTL, counters`, { skip }, async (t) => {
    const lab = await labWithCleanup(t);
    const { snd, cpe, lan } = await buildTranslatorLab(lab, { strictChecksums: true });
    const map = family === 4 ? MAP4 : MAP6;
    const unmappedGroup = family === 4 ? '232.1.1.2' : 'ff3e::8000:2';
    const pinRoot = uniquePinRoot();
    const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot, instance: 'cpe' });
    lab.track(translator);
    await translator.attach('wan');
    await translator.upsert({ from: map.local, to: map.global, outputs: ['br-lan'] });

    const N = 200;
    const size = 64;
    // Receivers end 1.5 s after their last datagram; expectations use what crossed the WAN wire
    // (the lab sender may lose its last datagrams: it closes its socket before queued sends are handed to the kernel).
    const rxArgs = ['--idle', '1500', '--timeout', '30000'];
    const rx = lan.spawn(nodeArgv(RX, ['--group', map.global.group, '--source', map.global.source, '--interface', 'eth0', ...rxArgs]));
    await rx.waitForJson(isEvent('joined'));
    await cpe.waitForMdbChannel('br-lan', 'lan0', map.global.source, map.global.group);
    // An unmapped stream from the same source must reach the CPE's own stack untouched.
    const rxWan = cpe.spawn(nodeArgv(RX, ['--group', unmappedGroup, '--source', map.local.source, '--interface', 'wan', ...rxArgs]));
    await rxWan.waitForJson(isEvent('joined'));

    const work = mkdtempSync(join(tmpdir(), 'mnat-xlat-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const pcap = join(work, 'lan.pcap');
    const wanPcap = join(work, 'wan.pcap');
    const dump = lan.spawn(['tcpdump', '--immediate-mode', '-U', '-n', '-i', 'eth0', '-w', pcap, 'udp']);
    const wanDump = cpe.spawn(['tcpdump', '--immediate-mode', '-U', '-n', '-i', 'wan', '-w', wanPcap, 'udp']);
    await dump.waitForLine(/listening on/);
    await wanDump.waitForLine(/listening on/);
    const csumBefore = await udpChecksumErrors(lan, family);

    const common = ['--source', map.local.source, '--interface', 'eth0', '--rate', '1000', '--count', String(N), '--ttl', '16', '--size', String(size)];
    const tx = snd.spawn(nodeArgv(TX, ['--group', map.local.group, ...common]));
    const txUnmapped = snd.spawn(nodeArgv(TX, ['--group', unmappedGroup, ...common, '--stream', '2']));
    assert.equal((await tx.waitForJson(isEvent('done'))).sent, N);
    assert.equal((await txUnmapped.waitForJson(isEvent('done'))).sent, N);

    // Every datagram that arrived on the WAN reaches the LAN socket, from the global source, payload intact.
    const sum = await rx.waitForJson(isEvent('summary'), 35_000);
    const sumWan = await rxWan.waitForJson(isEvent('summary'), 35_000);
    const dstOffset = family === 4 ? 30 : 38;
    const count = (packets: readonly { data: Uint8Array }[], group: string) => packets.filter((p) => hex(p.data.subarray(dstOffset, dstOffset + (family === 4 ? 4 : 16))) === hex(addressBytes(group))).length;
    // At least what the sockets behind it received has crossed the WAN.
    const wire = await stopCaptureWhen(wanDump, wanPcap, (p) => count(p, map.local.group) >= (sum.unique as number) && count(p, unmappedGroup) >= (sumWan.unique as number));
    const onWire = (group: string) => count(wire, group);
    const sent = onWire(map.local.group);
    assert.ok(sent >= N * 0.9, `${sent} of ${N} datagrams crossed the WAN`);
    assert.equal(sum.unique, sent, 'every datagram reached the LAN host (valid checksums)');
    assert.equal(sum.badPayload, 0);
    assert.deepEqual(sum.sources, { [map.global.source]: sent });
    assert.equal(sumWan.unique, onWire(unmappedGroup), 'the unmapped stream reached the CPE untouched');
    assert.deepEqual(sumWan.sources, { [map.local.source]: sumWan.unique });
    assert.equal(await udpChecksumErrors(lan, family), csumBefore, 'the LAN host saw no UDP checksum errors');

    // The capture: addresses, MACs, TTL - 1, checksums computed independently, payload.
    const packets = await stopCaptureWhen(dump, pcap, (p) => p.length >= sent);
    assert.equal(packets.length, sent, 'only the translated stream reaches the LAN');
    const brMac = JSON.parse(await cpe.run(['ip', '-j', 'link', 'show', 'dev', 'br-lan']))[0].address as string;
    const ipOff = 14;
    for (const { data } of packets) {
      assert.equal(hex(data.subarray(0, 6)), multicastMac(parseAddress(map.global.group)).replaceAll(':', ''));
      assert.equal(hex(data.subarray(6, 12)), brMac.replaceAll(':', ''), 'source MAC: the output device');
      assert.deepEqual(checksumsValid(data), { ip: true, udp: true });
      const l4 = family === 4 ? ipOff + 20 : ipOff + 40;
      assert.equal(data[family === 4 ? ipOff + 8 : ipOff + 7], 15, 'TTL / hop limit decremented once');
      assert.notEqual(decodePayload(data.subarray(l4 + 8)), null, 'payload intact');
    }

    const counters = await translator.counters();
    const l3 = family === 4 ? 20 : 40;
    assert.deepEqual(
      counters.map((c) => ({ ...c })),
      [{ from: map.local, packets: sent, bytes: sent * (14 + l3 + 8 + size) }],
    );
    assert.equal(Object.values(counters.drops ?? {}).reduce((a, b) => a + b, 0), 0);
  });
}

test('removing the mapping stops delivery at once; the stream then reaches the CPE untranslated', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { snd, cpe, lan } = await buildTranslatorLab(lab);
  const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot: uniquePinRoot(), instance: 'rm' });
  lab.track(translator);
    await translator.attach('wan');
  await translator.upsert({ from: MAP4.local, to: MAP4.global, outputs: ['br-lan'] });
  const rx = lan.spawn(nodeArgv(RX, ['--group', MAP4.global.group, '--source', MAP4.global.source, '--interface', 'eth0', '--progress', '10']));
  const rxWan = cpe.spawn(nodeArgv(RX, ['--group', MAP4.local.group, '--source', MAP4.local.source, '--interface', 'wan', '--progress', '10']));
  await rx.waitForJson(isEvent('joined'));
  await rxWan.waitForJson(isEvent('joined'));
  await cpe.waitForMdbChannel('br-lan', 'lan0', MAP4.global.source, MAP4.global.group);
  const send = async (stream: number) => {
    const tx = snd.spawn(nodeArgv(TX, ['--group', MAP4.local.group, '--source', MAP4.local.source, '--interface', 'eth0', '--rate', '1000', '--count', '50', '--stream', String(stream)]));
    assert.equal((await tx.waitForJson(isEvent('done'))).sent, 50);
  };
  await send(1);
  await rx.waitForJson((e) => e.event === 'progress' && e.unique === 40);
  const translatedCount = (await translator.counters())[0]?.packets ?? 0;
  assert.ok(translatedCount >= 40, `translated ${translatedCount}`);
  // Counters are bumped before the redirect; wait (event-free, bounded) until the LAN got them all.
  const deadline = Date.now() + 5000;
  while ((await rx.ask('stats', isEvent('stats'))).received !== translatedCount) {
    assert.ok(Date.now() < deadline, 'the LAN host got every translated datagram');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal((await rxWan.ask('stats', isEvent('stats'))).received, 0, 'translated packets are redirected, not passed up');

  await translator.remove(MAP4.local);
  await send(2);
  // The CPE's own socket gets the stream untranslated; by then the LAN host got none of it.
  await rxWan.waitForJson((e) => e.event === 'progress' && e.unique === 40);
  assert.equal((await rx.ask('stats', isEvent('stats'))).received, translatedCount, 'no packet translated after remove()');
  assert.deepEqual(await translator.counters(), Object.assign([], { drops: (await translator.counters()).drops, passed: (await translator.counters()).passed }));
});

test('two outputs (br-lan and a veth) both get the stream, with default checksum offloads', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { snd, cpe, lan, lan2 } = await buildTranslatorLab(lab, { second: true });
  const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot: uniquePinRoot(), instance: 'two' });
  lab.track(translator);
    await translator.attach('wan');
  await translator.upsert({ from: MAP6.local, to: MAP6.global, outputs: ['br-lan', 'l2'] });
  const args = ['--group', MAP6.global.group, '--source', MAP6.global.source, '--interface', 'eth0'];
  const N = 300;
  const rx1 = lan.spawn(nodeArgv(RX, [...args, '--idle', '1500', '--timeout', '30000']));
  const rx2 = lan2!.spawn(nodeArgv(RX, [...args, '--idle', '1500', '--timeout', '30000']));
  await rx1.waitForJson(isEvent('joined'));
  await rx2.waitForJson(isEvent('joined'));
  await cpe.waitForMdbChannel('br-lan', 'lan0', MAP6.global.source, MAP6.global.group);
  const tx = snd.spawn(nodeArgv(TX, ['--group', MAP6.local.group, '--source', MAP6.local.source, '--interface', 'eth0', '--rate', '1000', '--count', String(N)]));
  assert.equal((await tx.waitForJson(isEvent('done'))).sent, N);
  const summaries = [await rx1.waitForJson(isEvent('summary'), 35_000), await rx2.waitForJson(isEvent('summary'), 35_000)];
  const c = await translator.counters();
  const translated = c[0]?.packets ?? 0;
  assert.ok(translated >= N * 0.9, `${translated} of ${N} translated`);
  for (const s of summaries) {
    assert.equal(s.unique, translated);
    assert.deepEqual(s.sources, { [MAP6.global.source]: translated });
  }
  assert.equal(c.drops?.clone, 0);
  assert.deepEqual((await listTranslatorRules(translator)).map((r) => r.outputs), [['br-lan', 'l2']]);
});

test('VLAN: 802.1Q and QinQ tagged streams (outer tag held by the kernel, as with NIC offload) leave untagged', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { snd, cpe, lan } = await buildTranslatorLab(lab, { strictChecksums: true });
  const work = mkdtempSync(join(tmpdir(), 'mnat-vlan-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const source = new URL('./vlan-push.bpf.c', import.meta.url).pathname;
  const multiarch = `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  for (const variant of ['dot1q', 'qinq']) {
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I${multiarch}`, ...(variant === 'qinq' ? ['-DQINQ'] : []), '-c', source, '-o', join(work, `${variant}.o`)]);
  }
  const pusherPins = uniquePinRoot();
  mkdirSync(pusherPins);
  t.after(() => rmSync(pusherPins, { recursive: true, force: true }));
  const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot: uniquePinRoot(), instance: 'vlan' });
  lab.track(translator);
  await translator.attach('wan');
  await translator.upsert({ from: MAP4.local, to: MAP4.global, outputs: ['br-lan'] });
  const rx = lan.spawn(nodeArgv(RX, ['--group', MAP4.global.group, '--source', MAP4.global.source, '--interface', 'eth0']));
  await rx.waitForJson(isEvent('joined'));
  await cpe.waitForMdbChannel('br-lan', 'lan0', MAP4.global.source, MAP4.global.group);
  await snd.run(['tc', 'qdisc', 'add', 'dev', 'eth0', 'clsact']);
  let receivedBefore = 0;
  for (const variant of ['dot1q', 'qinq']) {
    const before = (await translator.counters())[0]?.packets ?? 0;
    // Loaded with bpftool into our own pin directory (tc's object loader would create /sys/fs/bpf/tc).
    const pin = `${pusherPins}/${variant}`;
    execFileSync('bpftool', ['prog', 'load', join(work, `${variant}.o`), pin, 'type', 'classifier']);
    await snd.exec(['tc', 'filter', 'del', 'dev', 'eth0', 'egress']);
    await snd.run(['tc', 'filter', 'add', 'dev', 'eth0', 'egress', 'bpf', 'direct-action', 'object-pinned', pin]);
    const pcap = join(work, `${variant}.pcap`);
    const wanPcap = join(work, `${variant}-wan.pcap`);
    const dump = lan.spawn(['tcpdump', '--immediate-mode', '-U', '-n', '-i', 'eth0', '-w', pcap, 'udp']);
    const wanDump = cpe.spawn(['tcpdump', '--immediate-mode', '-U', '-n', '-i', 'wan', '-w', wanPcap]);
    await dump.waitForLine(/listening on/);
    await wanDump.waitForLine(/listening on/);
    const tx = snd.spawn(nodeArgv(TX, ['--group', MAP4.local.group, '--source', MAP4.local.source, '--interface', 'eth0', '--rate', '1000', '--count', '100', '--stream', variant === 'qinq' ? '2' : '1']));
    await tx.waitForJson(isEvent('done'));
    // Counters and the socket follow the packets (no event to wait on): poll, bounded, until the
    // sender's datagrams are translated and the socket has every translated one.
    const deadline = Date.now() + 5000;
    let translated = before;
    let received = receivedBefore;
    for (;;) {
      translated = (await translator.counters())[0]?.packets ?? 0;
      received = (await rx.ask('stats', isEvent('stats'))).received as number;
      if ((translated >= before + 90 && received - receivedBefore === translated - before) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(received - receivedBefore, translated - before, `${variant}: every translated datagram reached the LAN socket`);
    const lanFrames = received - receivedBefore;
    receivedBefore = received;
    const streamFrames = (packets: readonly { data: Uint8Array }[]) => packets.filter((p) => p.data.length > 100);
    const out = await stopCaptureWhen(dump, pcap, (p) => p.length >= lanFrames);
    const wire = streamFrames(await stopCaptureWhen(wanDump, wanPcap, (p) => streamFrames(p).length >= translated - before));
    assert.ok(wire.length >= 90, `${variant}: ${wire.length} frames of the stream on the WAN capture`);
    // tcpdump shows the kernel-held tag re-inserted: the frames carried 1 (802.1Q) or 2 (802.1ad + 802.1Q) tags.
    const tpids = hex(wire[0]!.data.subarray(12, 14)) + (variant === 'qinq' ? hex(wire[0]!.data.subarray(16, 18)) : '');
    assert.equal(tpids, variant === 'qinq' ? '88a88100' : '8100', `${variant}: tags on the wire`);
    assert.ok(out.length >= 90, `${variant}: ${out.length} translated frames reached the LAN`);
    for (const { data } of out) {
      assert.equal(hex(data.subarray(12, 14)), '0800', `${variant}: untagged on the LAN`);
      assert.deepEqual(checksumsValid(data), { ip: true, udp: true });
    }
  }
  const c = await translator.counters();
  assert.equal(c.drops?.vlan, 0);
});

test('recreated devices: attach() re-attaches to a new WAN, refreshTranslator() follows a new output device', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { snd, cpe, lan2 } = await buildTranslatorLab(lab, { second: true });
  const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot: uniquePinRoot(), instance: 'hotplug' });
  lab.track(translator);
  await translator.attach('wan');
  await translator.upsert({ from: MAP4.local, to: MAP4.global, outputs: ['l2'] });
  const stream = async () => {
    const rx = lan2!.spawn(nodeArgv(RX, ['--group', MAP4.global.group, '--source', MAP4.global.source, '--interface', 'eth0', '--idle', '1000', '--timeout', '4000']));
    await rx.waitForJson(isEvent('joined'));
    const tx = snd.spawn(nodeArgv(TX, ['--group', MAP4.local.group, '--source', MAP4.local.source, '--interface', 'eth0', '--rate', '1000', '--count', '50']));
    await tx.waitForJson(isEvent('done'));
    const sum = await rx.waitForJson(isEvent('summary'), 10_000);
    assert.ok(Number(sum.unique) >= 45, `delivered ${String(sum.unique)}`);
  };
  await stream();

  // The WAN and the output are deleted and created again (new ifindexes, new MACs).
  await cpe.run(['ip', 'link', 'del', 'wan']);
  await cpe.run(['ip', 'link', 'del', 'l2']);
  await lab.link(snd, 'eth0', cpe, 'wan');
  await lab.link(cpe, 'l2', lan2!, 'eth0');
  await snd.addr('eth0', '10.0.0.1/24');
  await cpe.addr('wan', '10.0.0.2/24');
  await cpe.addr('l2', '192.168.2.1/24');
  await lan2!.addr('eth0', '192.168.2.10/24');
  assert.deepEqual(await refreshTranslator(translator), { reattached: ['wan'], rewritten: 1, missing: [] });
  assert.equal((await cpe.run(['tc', 'filter', 'show', 'dev', 'wan', 'ingress'])).match(/mnat_translate/g)?.length, 1);
  await translator.attach('wan'); // idempotent again
  assert.equal((await cpe.run(['tc', 'filter', 'show', 'dev', 'wan', 'ingress'])).match(/mnat_translate/g)?.length, 1);
  await stream();
  assert.deepEqual(await refreshTranslator(translator), { reattached: [], rewritten: 0, missing: [] });

  // A filter removed behind our back is put back by attach().
  await cpe.run(['tc', 'filter', 'del', 'dev', 'wan', 'ingress']);
  await translator.attach('wan');
  await stream();
});

async function snapshot(ns: { run(argv: readonly string[]): Promise<string> }, pinRoot: string) {
  return {
    qdisc: await ns.run(['tc', 'qdisc', 'show', 'dev', 'wan']),
    ingress: await ns.run(['tc', 'filter', 'show', 'dev', 'wan', 'ingress']),
    egress: await ns.run(['tc', 'filter', 'show', 'dev', 'wan', 'egress']),
    pins: existsSync(pinRoot) ? readdirSync(pinRoot, { recursive: true }).map(String).sort() : null,
  };
}

test('attach is idempotent; detach leaves the namespace as it found it (with and without a clsact of our own)', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { cpe } = await buildTranslatorLab(lab);
  const pinRoot = uniquePinRoot();
  t.after(() => rmSync(pinRoot, { recursive: true, force: true }));
  for (const preexisting of [false, true]) {
    if (preexisting) await cpe.run(['tc', 'qdisc', 'add', 'dev', 'wan', 'clsact']);
    const before = await snapshot(cpe, pinRoot);
    const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot, instance: 'idem' });
    lab.track(translator);
    await translator.attach('wan');
    await translator.attach('wan');
    await translator.upsert({ from: MAP4.local, to: MAP4.global, outputs: ['br-lan'] });
    const during = await snapshot(cpe, pinRoot);
    assert.match(during.qdisc, /clsact/);
    assert.equal(during.ingress.match(/mnat_translate/g)?.length, 1, 'one filter after two attaches');
    assert.deepEqual(during.pins, ['idem', 'idem/mnat_attach', 'idem/mnat_counters', 'idem/mnat_events', 'idem/mnat_rules', 'idem/prog']);
    await translator.detach();
    assert.deepEqual(await snapshot(cpe, pinRoot), before, preexisting ? 'a clsact we did not add stays' : 'nothing left');
  }
});

test('a restart after kill -9 cleans the stale filter and pins; a live owner is not disturbed', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { cpe } = await buildTranslatorLab(lab);
  const pinRoot = uniquePinRoot();
  t.after(() => rmSync(pinRoot, { recursive: true, force: true }));
  const before = await snapshot(cpe, pinRoot);
  const holder = cpe.spawn(nodeArgv('lab/translator-holder.ts', [OBJECT, pinRoot, 'crash', 'wan']));
  await holder.waitForLine(/^ready/, 20_000);
  const stale = await snapshot(cpe, pinRoot);
  assert.equal(stale.ingress.match(/mnat_translate/g)?.length, 1);

  const second = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot, instance: 'crash' });
  lab.track(second);
  await assert.rejects(second.attach('wan'), /in use by the running process/);
  assert.deepEqual(await snapshot(cpe, pinRoot), stale, 'the live owner keeps its state');

  await holder.kill('SIGKILL');
  await second.attach('wan');
  const after = await snapshot(cpe, pinRoot);
  assert.equal(after.ingress.match(/mnat_translate/g)?.length, 1, 'the stale filter is gone, ours is there');
  assert.notEqual(after.ingress, stale.ingress, 'a new program');
  assert.deepEqual(await listTranslatorRules(second), [], 'the stale rules are gone');
  await second.detach();
  assert.deepEqual(await snapshot(cpe, pinRoot), before);
});

test('errors name what is missing: device gone, no such attach device, a device without Ethernet', { skip }, async (t) => {
  const lab = await labWithCleanup(t);
  const { cpe } = await buildTranslatorLab(lab);
  const translator = createTranslator(netnsHost(cpe), { objectPath: OBJECT, pinRoot: uniquePinRoot(), instance: 'err' });
  lab.track(translator);
  await assert.rejects(translator.attach('nosuchdev'), (e: Error & { kind?: string }) => e.kind === 'device-gone' && /nosuchdev/.test(e.message));
  // A layer-3 device (as pppoe-wan or a tunnel is): packets start at the IP header, which the program would misread.
  await cpe.run(['ip', 'tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
  await cpe.run(['ip', 'link', 'set', 'tun0', 'up']);
  await assert.rejects(translator.attach('tun0'), (e: Error & { kind?: string }) => e.kind === 'not-ethernet' && /"tun0" is not Ethernet \(link type none\)/.test(e.message));
  assert.doesNotMatch(await cpe.run(['tc', 'qdisc', 'show', 'dev', 'tun0']), /clsact/, 'nothing attached to the refused device');
  await translator.attach('wan');
  await cpe.run(['ip', 'link', 'del', 'lan0']);
  await assert.rejects(translator.upsert({ from: MAP4.local, to: MAP4.global, outputs: ['lan0'] }), /"lan0" does not exist/);
});
