// A small lab for the kernel translator (tests and bench/dataplane-*):
//
//   snd eth0 ──(wan)── cpe ── br-lan ──(lan0|eth0)── lan      local (Sl,Gl) arrives on wan, translated
//   snd eth1 ──(wanb)─┘  (wanb is a br-lan port)            baseline: global (Sg,Gg) bridged, untranslated
//                     cpe l2 ──(eth0)── lan2                 a second output (plain veth)
//
//   snd  eth0 10.0.0.1/24 fd00::1/64      eth1 198.51.100.7/24 2001:db8::7/64
//   cpe  wan  10.0.0.2/24 fd00::2/64      br-lan 192.168.1.1/24 fd01::1/64 (snooping, querier)
//   lan  eth0 192.168.1.10/24 fd01::10/64 lan2 eth0 192.168.2.10/24 fd02::10/64 (cpe l2 .1 / ::1)
//
// A Host for the Translator runs its commands in the CPE's namespace with
// nsenter --net (the mount namespace, and so /sys/fs/bpf, stays shared).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createNodeHost, createStderrLogger, nodeExec } from '../src/host/node-host.ts';
import type { Host } from '../src/host/host.ts';
import type { Channel } from '../src/core/channel.ts';
import { inNetns, type Lab, type Netns } from './lab.ts';

export const MAP4 = {
  local: { source: '10.0.0.1', group: '232.1.1.1' } as Channel,
  global: { source: '198.51.100.7', group: '232.200.3.4' } as Channel,
};
export const MAP6 = {
  local: { source: 'fd00::1', group: 'ff3e::8000:1' } as Channel,
  global: { source: '2001:db8::7', group: 'ff3e::1234:5678' } as Channel,
};

export interface TranslatorLab {
  snd: Netns;
  cpe: Netns;
  lan: Netns;
  lan2: Netns | null;
}

export function netnsHost(ns: Netns, component = 'translator'): Host {
  const base = createNodeHost(createStderrLogger(component, 'error'));
  return { ...base, exec: (argv, options) => nodeExec(inNetns(ns.name, argv), options) };
}

export interface TranslatorLabOptions {
  /** A second output: cpe l2 ↔ lan2. */
  second?: boolean;
  /** The baseline path: snd eth1 ↔ cpe wanb, wanb a br-lan port. */
  baseline?: boolean;
  /**
   * Checksum offloads off where the packet enters and leaves (sender tx, CPE wan rx,
   * LAN rx): packets carry full checksums and the LAN host's UDP stack verifies them.
   */
  strictChecksums?: boolean;
}

export async function buildTranslatorLab(lab: Lab, opts: TranslatorLabOptions = {}): Promise<TranslatorLab> {
  const [snd, cpe, lan] = await Promise.all([lab.netns('snd'), lab.netns('cpe'), lab.netns('lan')]);
  const lan2 = opts.second ? await lab.netns('lanb') : null;
  await lab.link(snd, 'eth0', cpe, 'wan');
  await lab.link(cpe, 'lan0', lan, 'eth0');
  if (opts.baseline) await lab.link(snd, 'eth1', cpe, 'wanb');
  if (lan2) await lab.link(cpe, 'l2', lan2, 'eth0');
  await snd.addr('eth0', '10.0.0.1/24');
  await snd.addr('eth0', 'fd00::1/64');
  await cpe.addr('wan', '10.0.0.2/24');
  await cpe.addr('wan', 'fd00::2/64');
  await lan.addr('eth0', '192.168.1.10/24');
  await lan.addr('eth0', 'fd01::10/64');
  await lan.route(['default', 'via', '192.168.1.1']);
  await lan.route(['default', 'via', 'fd01::1']);
  if (opts.baseline) {
    await snd.addr('eth1', '198.51.100.7/24');
    await snd.addr('eth1', '2001:db8::7/64');
    // Two interfaces: route each group out of its path (a bound source does not pick the IPv6 interface).
    await snd.route([`${MAP4.local.group}/32`, 'dev', 'eth0']);
    await snd.route([`${MAP4.global.group}/32`, 'dev', 'eth1']);
    await snd.run(['ip', '-6', 'route', 'add', 'multicast', `${MAP6.local.group}/128`, 'dev', 'eth0', 'table', 'local']);
    await snd.run(['ip', '-6', 'route', 'add', 'multicast', `${MAP6.global.group}/128`, 'dev', 'eth1', 'table', 'local']);
  }
  if (lan2) {
    await cpe.addr('l2', '192.168.2.1/24');
    await cpe.addr('l2', 'fd02::1/64');
    await lan2.addr('eth0', '192.168.2.10/24');
    await lan2.addr('eth0', 'fd02::10/64');
    await lan2.route(['default', 'via', '192.168.2.1']);
    await lan2.route(['default', 'via', 'fd02::1']);
  }
  if (opts.strictChecksums) {
    await snd.run(['ethtool', '-K', 'eth0', 'tx', 'off']);
    if (opts.baseline) await snd.run(['ethtool', '-K', 'eth1', 'tx', 'off']);
    await cpe.run(['ethtool', '-K', 'wan', 'rx', 'off']);
    await lan.run(['ethtool', '-K', 'eth0', 'rx', 'off']);
    if (lan2) await lan2.run(['ethtool', '-K', 'eth0', 'rx', 'off']);
  }
  await lab.addBridge(cpe, 'br-lan', {
    ports: [{ name: 'lan0', mcastFlood: false }, ...(opts.baseline ? [{ name: 'wanb', mcastFlood: false }] : [])],
    addresses: ['192.168.1.1/24', 'fd01::1/64'],
    queryResponseIntervalCs: 50,
  });
  return { snd, cpe, lan, lan2 };
}

/** The UDP checksum error counter of a namespace (Udp or Udp6 InCsumErrors). */
export async function udpChecksumErrors(ns: Netns, family: 4 | 6): Promise<number> {
  const text = await ns.run(['cat', family === 4 ? '/proc/net/snmp' : '/proc/net/snmp6']);
  if (family === 6) return Number(/Udp6InCsumErrors\s+(\d+)/.exec(text)?.[1] ?? NaN);
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/);
  const values = (lines[1] ?? '').split(/\s+/);
  return Number(values[names.indexOf('InCsumErrors')] ?? NaN);
}

export interface PcapPacket {
  readonly data: Uint8Array;
}

/**
 * Stops a `tcpdump -U -w file` capture once the file holds what the test
 * expects, or after timeoutMs: tcpdump reads packets some time after the
 * kernel delivered them (more so on a loaded machine), and a SIGINT before it
 * did loses them from the capture. Returns the captured packets.
 */
export async function stopCaptureWhen(dump: { kill(signal: NodeJS.Signals): Promise<unknown> }, file: string, enough: (packets: PcapPacket[]) => boolean, timeoutMs = 5000): Promise<PcapPacket[]> {
  const read = (): PcapPacket[] => (existsSync(file) && statSync(file).size >= 24 ? parsePcap(new Uint8Array(readFileSync(file))) : []);
  const deadline = Date.now() + timeoutMs;
  // No event says tcpdump has written a packet: poll the file (-U writes each one as it goes), bounded.
  while (!enough(read()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await dump.kill('SIGINT');
  return read();
}

/** The complete packets of a classic pcap file (Ethernet link type), as tcpdump -w writes it. */
export function parsePcap(file: Uint8Array): PcapPacket[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = v.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && v.getUint32(0, false) !== 0xa1b2c3d4 && v.getUint32(0, false) !== 0xa1b23c4d) throw new Error('not a pcap file');
  if (v.getUint32(20, le) !== 1) throw new Error(`pcap link type ${v.getUint32(20, le)}, expected Ethernet`);
  const packets: PcapPacket[] = [];
  for (let o = 24; o + 16 <= file.length; ) {
    const caplen = v.getUint32(o + 8, le);
    if (o + 16 + caplen > file.length) break; // still being written
    packets.push({ data: file.subarray(o + 16, o + 16 + caplen) });
    o += 16 + caplen;
  }
  return packets;
}
