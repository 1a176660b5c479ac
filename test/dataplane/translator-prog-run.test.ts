// The BPF translator run on crafted frames with BPF_PROG_TEST_RUN (`bpftool prog
// run`): no namespaces, no traffic. Every output byte is compared with a frame
// built from scratch with the translated fields (checksums computed independently).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createNodeHost, createStderrLogger } from '../../src/host/node-host.ts';
import { createTranslator } from '../../src/dataplane/translator.ts';
import { listTranslatorRules } from '../../src/dataplane/translator-upkeep.ts';
import {
  COUNTER_SIZE,
  encodeKey,
  encodeValue,
  hexArgs,
  KEY_SIZE,
  VALUE_SIZE,
  ATTACH_SIZE,
} from '../../src/dataplane/bpf-map-codec.ts';
import { checksumsValid, frame, hex, onesSum, udpDatagram, type FrameSpec } from './packet.ts';
import type { Channel } from '../../src/core/channel.ts';

const OBJECT = new URL('../../dist/mnat-translator.bpf.o', import.meta.url).pathname;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

const skip =
  process.getuid?.() !== 0
    ? 'needs root (BPF_PROG_TEST_RUN)'
    : !existsSync(OBJECT)
      ? 'dist/mnat-translator.bpf.o missing: run npm run build'
      : false;

const host = createNodeHost(createStderrLogger('test', 'error'));
const pinRoot = `/sys/fs/bpf/mnat-test-${process.pid}-${randomBytes(3).toString('hex')}`;
const translator = createTranslator(host, { objectPath: OBJECT, pinRoot, instance: 'progrun' });
const work = mkdtempSync(join(tmpdir(), 'mnat-progrun-'));

const LOCAL: Channel = { source: '10.0.0.1', group: '232.1.1.1' };
const GLOBAL: Channel = { source: '198.51.100.7', group: '232.200.3.4' };
const LOCAL6: Channel = { source: 'fd00::1', group: 'ff3e::8000:1' };
const GLOBAL6: Channel = { source: '2001:db8::7', group: 'ff3e::1234:5678' };
const OUT_MAC = '02:aa:bb:cc:dd:01';
const OUT_MAC2 = '02:aa:bb:cc:dd:02';

function bpftool(args: string[]): string {
  return execFileSync('bpftool', args, { encoding: 'utf8' });
}

/** Writes a rule straight into the map (arbitrary ifindex and MACs, no devices needed). */
function putRule(from: Channel, to: Channel, outputs: Array<{ ifindex: number; mac: string }>, flags = 0): void {
  bpftool(['map', 'update', 'pinned', `${translator.pinDir}/mnat_rules`, 'key', 'hex', ...hexArgs(encodeKey(from)), 'value', 'hex', ...hexArgs(encodeValue({ to, outputs, flags }))]);
}

function run(input: Uint8Array): { retval: number; out: Uint8Array } {
  const inFile = join(work, 'in');
  const outFile = join(work, 'out');
  writeFileSync(inFile, input);
  rmSync(outFile, { force: true });
  const json = JSON.parse(
    bpftool(['-j', 'prog', 'run', 'pinned', translator.progPin, 'data_in', inFile, 'data_out', outFile, 'data_size_out', '4096']),
  ) as { retval: number };
  return { retval: json.retval, out: existsSync(outFile) ? new Uint8Array(readFileSync(outFile)) : new Uint8Array(0) };
}

async function events(): Promise<Record<string, number>> {
  const c = await translator.counters();
  return { ...c.drops, ...c.passed };
}

function payload(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

/** The same frame before and after translation (addresses, TTL, MACs), both built from scratch. */
function pair(spec: Omit<FrameSpec, 'l4'> & { payload: Uint8Array; zero?: boolean }, to: Channel, outMac = OUT_MAC) {
  const l4in = udpDatagram(spec.family, spec.src, spec.dst, 5000, 6000, spec.payload, spec.zero);
  const l4out = udpDatagram(spec.family, to.source, to.group, 5000, 6000, spec.payload, spec.zero);
  const input = frame({ ...spec, l4: l4in });
  const expected = frame({ ...spec, src: to.source, dst: to.group, ttl: (spec.ttl ?? 64) - 1, srcMac: outMac, vlans: [], l4: l4out });
  return { input, expected };
}

before(async () => {
  if (skip) return;
  await translator.load();
  putRule(LOCAL, GLOBAL, [{ ifindex: 1, mac: OUT_MAC }]);
  putRule(LOCAL6, GLOBAL6, [{ ifindex: 1, mac: OUT_MAC }]);
});

after(async () => {
  if (!skip) await translator.detach();
  rmSync(work, { recursive: true, force: true });
  if (!skip) assert.equal(existsSync(translator.pinDir), false, 'detach removes the pin directory');
  rmSync(pinRoot, { recursive: true, force: true }); // the empty directory of the 'notool' case
});

test('map layouts in the object match the codec', { skip }, () => {
  const btf = JSON.parse(bpftool(['-j', 'btf', 'dump', 'file', OBJECT])) as { types: Array<{ kind: string; name: string; size?: number }> };
  const size = (name: string) => btf.types.find((t) => t.kind === 'STRUCT' && t.name === name)?.size;
  assert.equal(size('mnat_key'), KEY_SIZE);
  assert.equal(size('mnat_value'), VALUE_SIZE);
  assert.equal(size('mnat_counter'), COUNTER_SIZE);
  assert.equal(size('mnat_attach'), ATTACH_SIZE);
});

test('IPv4 UDP: addresses, TTL, MACs and both checksums rewritten exactly', { skip }, () => {
  const { input, expected } = pair({ family: 4, src: LOCAL.source, dst: LOCAL.group, payload: payload(100) }, GLOBAL);
  const { retval, out } = run(input);
  assert.equal(retval, TC_ACT_REDIRECT);
  assert.equal(hex(out), hex(expected));
  assert.deepEqual(checksumsValid(out), { ip: true, udp: true });
  assert.equal(out[22], 63, 'TTL decremented');
});

test('IPv6 UDP: addresses, hop limit, 33:33 MAC and UDP checksum', { skip }, () => {
  const { input, expected } = pair({ family: 6, src: LOCAL6.source, dst: LOCAL6.group, payload: payload(333), ttl: 5 }, GLOBAL6);
  const { retval, out } = run(input);
  assert.equal(retval, TC_ACT_REDIRECT);
  assert.equal(hex(out), hex(expected));
  assert.equal(hex(out.subarray(0, 6)), '333312345678');
  assert.equal(out[21], 4);
  assert.equal(checksumsValid(out).udp, true);
});

test('IPv4 with options: ihl respected, UDP found after the options', { skip }, () => {
  const options = Uint8Array.of(0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00); // router alert + NOPs + EOL
  const { input, expected } = pair({ family: 4, src: LOCAL.source, dst: LOCAL.group, payload: payload(40), ipv4Options: options }, GLOBAL);
  const { retval, out } = run(input);
  assert.equal(retval, TC_ACT_REDIRECT);
  assert.equal(hex(out), hex(expected));
  assert.deepEqual(checksumsValid(out), { ip: true, udp: true });
});

test('a zero IPv4 UDP checksum stays zero', { skip }, () => {
  const { input, expected } = pair({ family: 4, src: LOCAL.source, dst: LOCAL.group, payload: payload(64), zero: true }, GLOBAL);
  const { out } = run(input);
  assert.equal(hex(out), hex(expected));
  assert.equal((out[40]! << 8) | out[41]!, 0);
});

test('a translated UDP checksum that computes to zero is sent as 0xffff', { skip }, () => {
  // Choose the last two payload bytes so that the translated datagram's checksum is exactly 0.
  const p = payload(32);
  p[30] = 0;
  p[31] = 0;
  const probe = udpDatagram(4, GLOBAL.source, GLOBAL.group, 5000, 6000, p);
  const sum = 0xffff - ((probe[6]! << 8) | probe[7]!); // folded sum without the tail (checksum field = 0)
  const need = 0xffff - sum; // add this word so that the sum becomes 0xffff, i.e. checksum 0
  p[30] = need >> 8;
  p[31] = need & 0xff;
  const { input, expected } = pair({ family: 4, src: LOCAL.source, dst: LOCAL.group, payload: p }, GLOBAL);
  assert.equal((expected[40]! << 8) | expected[41]!, 0xffff, 'test setup: checksum 0 is transmitted as 0xffff');
  const { out } = run(input);
  assert.equal(hex(out), hex(expected));
});

test('TTL / hop limit 1 is dropped and counted; 2 is forwarded with 1', { skip }, async () => {
  const before = await events();
  for (const family of [4, 6] as const) {
    const [l, g] = family === 4 ? [LOCAL, GLOBAL] : [LOCAL6, GLOBAL6];
    const dead = pair({ family, src: l.source, dst: l.group, payload: payload(20), ttl: 1 }, g);
    assert.equal(run(dead.input).retval, TC_ACT_SHOT);
    const alive = pair({ family, src: l.source, dst: l.group, payload: payload(20), ttl: 2 }, g);
    const r = run(alive.input);
    assert.equal(r.retval, TC_ACT_REDIRECT);
    assert.equal(hex(r.out), hex(alive.expected));
  }
  const zero = frame({ family: 4, src: LOCAL.source, dst: LOCAL.group, ttl: 0, l4: udpDatagram(4, LOCAL.source, LOCAL.group, 1, 2, payload(4)) });
  assert.equal(run(zero).retval, TC_ACT_SHOT);
  assert.equal((await events()).ttl! - (before.ttl ?? 0), 3);
});

test('keepTtl translates without decrementing, even at TTL 1', { skip }, () => {
  const from: Channel = { source: '10.0.0.9', group: '232.9.9.9' };
  putRule(from, GLOBAL, [{ ifindex: 1, mac: OUT_MAC }], 0x01);
  const l4 = udpDatagram(4, from.source, from.group, 5000, 6000, payload(10));
  const input = frame({ family: 4, src: from.source, dst: from.group, ttl: 1, l4 });
  const expected = frame({ family: 4, src: GLOBAL.source, dst: GLOBAL.group, ttl: 1, srcMac: OUT_MAC, l4: udpDatagram(4, GLOBAL.source, GLOBAL.group, 5000, 6000, payload(10)) });
  const { retval, out } = run(input);
  assert.equal(retval, TC_ACT_REDIRECT);
  assert.equal(hex(out), hex(expected));
});

test('one 802.1Q tag and two tags (802.1ad + 802.1Q) are removed', { skip }, () => {
  for (const vlans of [[{ tpid: 0x8100, vid: 7 }], [{ tpid: 0x88a8, vid: 100 }, { tpid: 0x8100, vid: 7 }]]) {
    for (const family of [4, 6] as const) {
      const [l, g] = family === 4 ? [LOCAL, GLOBAL] : [LOCAL6, GLOBAL6];
      const { input, expected } = pair({ family, src: l.source, dst: l.group, payload: payload(50), vlans }, g);
      const { retval, out } = run(input);
      assert.equal(retval, TC_ACT_REDIRECT, `${vlans.length} tags, IPv${family}`);
      assert.equal(hex(out), hex(expected), `${vlans.length} tags, IPv${family}`);
    }
  }
});

test('IPv4 fragments: all translated, UDP checksum fixed in the first only', { skip }, () => {
  const data = payload(300, 7);
  const whole = udpDatagram(4, LOCAL.source, LOCAL.group, 5000, 6000, data);
  const translated = udpDatagram(4, GLOBAL.source, GLOBAL.group, 5000, 6000, data);
  const cuts = [0, 104, 208, whole.length];
  for (let i = 0; i < 3; i++) {
    const fragment = { offset: cuts[i]!, more: i < 2, id: 0x4242 };
    const input = frame({ family: 4, src: LOCAL.source, dst: LOCAL.group, fragment, l4: whole.subarray(cuts[i], cuts[i + 1]) });
    const expected = frame({ family: 4, src: GLOBAL.source, dst: GLOBAL.group, ttl: 63, srcMac: OUT_MAC, fragment, l4: translated.subarray(cuts[i], cuts[i + 1]) });
    const { retval, out } = run(input);
    assert.equal(retval, TC_ACT_REDIRECT, `fragment ${i}`);
    assert.equal(hex(out), hex(expected), `fragment ${i}`);
    assert.equal(onesSum(out.subarray(14, 34)), 0xffff, `fragment ${i} header checksum`);
  }
});

test('IPv6 fragments and hop-by-hop / destination options headers', { skip }, () => {
  const data = payload(200, 3);
  const whole = udpDatagram(6, LOCAL6.source, LOCAL6.group, 5000, 6000, data);
  const translated = udpDatagram(6, GLOBAL6.source, GLOBAL6.group, 5000, 6000, data);
  for (const v6Ext of [[], [0], [0, 60]]) {
    const cuts = [0, 96, whole.length];
    for (let i = 0; i < 2; i++) {
      const fragment = { offset: cuts[i]!, more: i === 0, id: 0x77 };
      const input = frame({ family: 6, src: LOCAL6.source, dst: LOCAL6.group, v6Ext, fragment, l4: whole.subarray(cuts[i], cuts[i + 1]) });
      const expected = frame({ family: 6, src: GLOBAL6.source, dst: GLOBAL6.group, ttl: 63, srcMac: OUT_MAC, v6Ext, fragment, l4: translated.subarray(cuts[i], cuts[i + 1]) });
      const { retval, out } = run(input);
      assert.equal(retval, TC_ACT_REDIRECT, `ext ${v6Ext.join(',')} fragment ${i}`);
      assert.equal(hex(out), hex(expected), `ext ${v6Ext.join(',')} fragment ${i}`);
    }
  }
  // Not fragmented, behind a hop-by-hop header.
  const input = frame({ family: 6, src: LOCAL6.source, dst: LOCAL6.group, v6Ext: [0], l4: whole });
  const expected = frame({ family: 6, src: GLOBAL6.source, dst: GLOBAL6.group, ttl: 63, srcMac: OUT_MAC, v6Ext: [0], l4: translated });
  assert.equal(hex(run(input).out), hex(expected));
});

test('IPv6: destination options after the fragment header, all fragments translated', { skip }, () => {
  // RFC 8200 4.5: options after the fragment header belong to the fragmentable
  // part, so only the first fragment carries them; every later fragment's
  // fragment header still names them (60), and what follows it is payload.
  const destOptions = Uint8Array.of(17, 0, 1, 4, 0, 0, 0, 0); // next UDP, PadN
  const data = payload(200, 3);
  // Later fragments start with bytes a header walk would misread: 0x41 (not UDP), 0x3c 0xff (options, too long).
  data.set([0x41, 0x00], 96 - 8 - 8);
  data.set([0x3c, 0xff], 160 - 8 - 8);
  const whole = new Uint8Array([...destOptions, ...udpDatagram(6, LOCAL6.source, LOCAL6.group, 5000, 6000, data)]);
  const translated = new Uint8Array([...destOptions, ...udpDatagram(6, GLOBAL6.source, GLOBAL6.group, 5000, 6000, data)]);
  const cuts = [0, 96, 160, whole.length];
  for (let i = 0; i < 3; i++) {
    const fragment = { offset: cuts[i]!, more: i < 2, id: 0x99 };
    const input = frame({ family: 6, src: LOCAL6.source, dst: LOCAL6.group, proto: 60, fragment, l4: whole.subarray(cuts[i], cuts[i + 1]) });
    const expected = frame({ family: 6, src: GLOBAL6.source, dst: GLOBAL6.group, proto: 60, ttl: 63, srcMac: OUT_MAC, fragment, l4: translated.subarray(cuts[i], cuts[i + 1]) });
    const { retval, out } = run(input);
    assert.equal(retval, TC_ACT_REDIRECT, `fragment ${i}`);
    assert.equal(hex(out), hex(expected), `fragment ${i}`);
  }
});

test('matching non-UDP and routing-header packets pass untouched and are counted', { skip }, async () => {
  const before = await events();
  const icmp = frame({ family: 4, src: LOCAL.source, dst: LOCAL.group, proto: 1, l4: Uint8Array.of(8, 0, 0xf7, 0xff, 0, 0, 0, 0) });
  let r = run(icmp);
  assert.equal(r.retval, TC_ACT_OK);
  assert.equal(hex(r.out), hex(icmp));
  const icmp6 = frame({ family: 6, src: LOCAL6.source, dst: LOCAL6.group, proto: 58, l4: Uint8Array.of(128, 0, 0, 0, 0, 0, 0, 0) });
  r = run(icmp6);
  assert.equal(r.retval, TC_ACT_OK);
  assert.equal(hex(r.out), hex(icmp6));
  const routed = frame({ family: 6, src: LOCAL6.source, dst: LOCAL6.group, v6Ext: [43], l4: udpDatagram(6, LOCAL6.source, LOCAL6.group, 1, 2, payload(8)) });
  r = run(routed);
  assert.equal(r.retval, TC_ACT_OK);
  assert.equal(hex(r.out), hex(routed));
  const now = await events();
  assert.equal(now['not-udp']! - (before['not-udp'] ?? 0), 2);
  assert.equal(now['ext-header']! - (before['ext-header'] ?? 0), 1);
});

test('unmapped traffic passes untouched', { skip }, () => {
  const frames = [
    frame({ family: 4, src: '10.0.0.2', dst: LOCAL.group, l4: udpDatagram(4, '10.0.0.2', LOCAL.group, 1, 2, payload(10)) }),
    frame({ family: 4, src: LOCAL.source, dst: '232.1.1.2', l4: udpDatagram(4, LOCAL.source, '232.1.1.2', 1, 2, payload(10)) }),
    frame({ family: 4, src: LOCAL.source, dst: '192.0.2.1', dstMac: '02:00:00:00:00:99', l4: udpDatagram(4, LOCAL.source, '192.0.2.1', 1, 2, payload(10)) }),
    frame({ family: 6, src: 'fd00::2', dst: LOCAL6.group, l4: udpDatagram(6, 'fd00::2', LOCAL6.group, 1, 2, payload(10)) }),
    Uint8Array.from([...Array(12).fill(0xff), 0x08, 0x06, ...Array(28).fill(1)]), // ARP broadcast
    new Uint8Array(14).fill(0xff), // a bare Ethernet header (test_run refuses a truncated IP header itself)
  ];
  for (const f of frames) {
    const { retval, out } = run(f);
    assert.equal(retval, TC_ACT_OK);
    assert.equal(hex(out), hex(f));
  }
});

test('a matching packet with a truncated UDP header is dropped as malformed', { skip }, async () => {
  const before = await events();
  const full = frame({ family: 4, src: LOCAL.source, dst: LOCAL.group, l4: udpDatagram(4, LOCAL.source, LOCAL.group, 1, 2, new Uint8Array(0)) });
  full.set([0x00, 0x1a], 16); // total length 26: header + 6 bytes of UDP
  full.set([0, 0], 24);
  full.set([(0xffff - onesSum(full.subarray(14, 34))) >> 8, (0xffff - onesSum(full.subarray(14, 34))) & 0xff], 24);
  assert.equal(run(full.subarray(0, 40)).retval, TC_ACT_SHOT);
  assert.equal((await events()).malformed! - (before.malformed ?? 0), 1);
});

test('two outputs: clone to the first, redirect to the last with its MAC; none: translate in place', { skip }, async () => {
  const from: Channel = { source: '10.0.0.3', group: '232.1.1.3' };
  putRule(from, GLOBAL, [
    { ifindex: 1, mac: OUT_MAC },
    { ifindex: 999999, mac: OUT_MAC2 },
  ]);
  const { input, expected } = pair({ family: 4, src: from.source, dst: from.group, payload: payload(30) }, GLOBAL, OUT_MAC2);
  const r = run(input);
  assert.equal(r.retval, TC_ACT_REDIRECT);
  assert.equal(hex(r.out), hex(expected));

  const before = await events();
  putRule(from, GLOBAL, [
    { ifindex: 999998, mac: OUT_MAC },
    { ifindex: 999999, mac: OUT_MAC2 },
  ]);
  assert.equal(run(input).retval, TC_ACT_REDIRECT);
  assert.equal((await events()).clone! - (before.clone ?? 0), 1, 'a clone to a missing device is counted');

  putRule(from, GLOBAL, []);
  const inPlace = run(input);
  assert.equal(inPlace.retval, TC_ACT_OK);
  assert.equal(hex(inPlace.out), hex(pair({ family: 4, src: from.source, dst: from.group, payload: payload(30) }, GLOBAL, '02:00:00:00:00:01').expected));
});

test('upsert, list (translator-upkeep), counters, remove through the Translator API', { skip }, async () => {
  const from: Channel = { source: '10.1.0.1', group: '232.5.5.5' };
  const to: Channel = { source: '203.0.113.5', group: '232.77.0.1' };
  await translator.upsert({ from, to, outputs: ['lo'] });
  const listed = await listTranslatorRules(translator);
  assert.deepEqual(listed.find((r) => r.from.source === from.source && r.from.group === from.group), { from, to, outputs: ['lo'] });
  const f = frame({ family: 4, src: from.source, dst: from.group, l4: udpDatagram(4, from.source, from.group, 1, 2, payload(100)) });
  for (let i = 0; i < 5; i++) assert.equal(run(f).retval, TC_ACT_REDIRECT);
  let c = (await translator.counters()).find((x) => x.from.group === from.group);
  assert.deepEqual(c, { from, packets: 5, bytes: 5 * f.length });
  // Re-upserting keeps counters; remove then re-add starts from zero.
  await translator.upsert({ from, to, outputs: ['lo'], keepTtl: true });
  c = (await translator.counters()).find((x) => x.from.group === from.group);
  assert.equal(c?.packets, 5);
  await translator.remove(from);
  await translator.remove(from); // idempotent
  assert.equal(run(f).retval, TC_ACT_OK, 'removed: passes untouched');
  assert.equal((await translator.counters()).some((x) => x.from.group === from.group), false);
  await translator.upsert({ from, to, outputs: ['lo'] });
  c = (await translator.counters()).find((x) => x.from.group === from.group);
  assert.deepEqual(c, { from, packets: 0, bytes: 0 });
  await translator.remove(from);
});

test('sync replaces the whole rule set in one exec', { skip }, async () => {
  const rules = Array.from({ length: 50 }, (_, i) => ({
    from: { source: '10.2.0.1', group: `232.3.0.${i + 1}` },
    to: { source: '203.0.113.9', group: `232.4.0.${i + 1}` },
    outputs: ['lo'],
  }));
  await translator.sync(rules);
  assert.equal((await listTranslatorRules(translator)).length, 50);
  await translator.sync(rules.slice(10, 20));
  const listed = await listTranslatorRules(translator);
  assert.deepEqual(listed.map((r) => r.from.group).sort(), rules.slice(10, 20).map((r) => r.from.group).sort());
  await translator.sync([]);
  assert.equal((await listTranslatorRules(translator)).length, 0);
});

test('errors say what is wrong', { skip }, async () => {
  await assert.rejects(translator.upsert({ from: LOCAL, to: GLOBAL6, outputs: [] }), /changes the IP family/);
  await assert.rejects(translator.upsert({ from: LOCAL, to: GLOBAL, outputs: ['no-such-dev0'] }), (e: Error & { kind?: string }) => e.kind === 'device-gone' && /no-such-dev0/.test(e.message));
  await assert.rejects(translator.upsert({ from: LOCAL, to: GLOBAL, outputs: ['a', 'b', 'c', 'd', 'e'] }), /at most 4/);
  const missing = createTranslator(host, { objectPath: '/nonexistent/x.bpf.o', pinRoot, instance: 'missing' });
  await assert.rejects(missing.attach('lo'), (e: Error & { kind?: string }) => e.kind === 'object-not-found' && /\/nonexistent\/x\.bpf\.o/.test(e.message) && /npm run build/.test(e.message));
  const noTool = createTranslator({ ...host, exec: (argv, o) => host.exec(argv[0] === 'bpftool' ? ['bpftool-not-installed', ...argv.slice(1)] : argv, o) }, { objectPath: OBJECT, pinRoot, instance: 'notool' });
  await assert.rejects(noTool.load(), /not installed/);
});

test('the map-full error names the limit', { skip, timeout: 120_000 }, async () => {
  const rules = Array.from({ length: 4097 }, (_, i) => ({
    from: { source: '10.9.0.1', group: `232.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    to: { source: '203.0.113.9', group: `232.100.${(i >> 8) & 255}.${i & 255}` },
    outputs: [] as string[],
  }));
  await assert.rejects(translator.sync(rules), (e: Error & { kind?: string }) => e.kind === 'map-full' && /4096/.test(e.message));
  await translator.sync(rules.slice(0, 4096));
  await assert.rejects(
    translator.upsert({ from: { source: '10.9.0.2', group: '232.1.2.3' }, to: GLOBAL, outputs: [] }),
    (e: Error & { kind?: string }) => e.kind === 'map-full',
  );
  await translator.sync([]);
});
