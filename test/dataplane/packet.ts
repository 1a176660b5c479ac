// Builds and checks Ethernet/VLAN/IPv4/IPv6/UDP frames byte by byte, with
// checksums computed from scratch (never incrementally), so the translator's
// incremental updates are compared against an independent computation.
import { multicastMac, parseAddress } from '../../src/core/address.ts';
import { parseMac } from '../../src/dataplane/bpf-map-codec.ts';

export function addressBytes(text: string): Uint8Array {
  const a = parseAddress(text);
  const n = a.family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Number((a.value >> BigInt(8 * (n - 1 - i))) & 0xffn);
  return out;
}

/** RFC 1071 one's-complement sum of 16-bit words, folded (not inverted). */
export function onesSum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += ((p[i] ?? 0) << 8) | (p[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function pseudoHeader(family: 4 | 6, src: string, dst: string, proto: number, length: number): Uint8Array {
  return family === 4
    ? concat(addressBytes(src), addressBytes(dst), Uint8Array.of(0, proto), u16(length))
    : concat(addressBytes(src), addressBytes(dst), Uint8Array.of(0, 0, (length >> 8) & 0xff, length & 0xff, 0, 0, 0, proto));
}

/** A UDP datagram (header + payload) with its checksum over the pseudo-header; 0 becomes 0xffff. */
export function udpDatagram(family: 4 | 6, src: string, dst: string, sport: number, dport: number, payload: Uint8Array, zeroChecksum = false): Uint8Array {
  const length = 8 + payload.length;
  const dgram = concat(u16(sport), u16(dport), u16(length), u16(0), payload);
  if (zeroChecksum) return dgram;
  let csum = 0xffff - onesSum(pseudoHeader(family, src, dst, 17, length), dgram);
  if (csum === 0) csum = 0xffff;
  dgram.set(u16(csum), 6);
  return dgram;
}

export interface FrameSpec {
  family: 4 | 6;
  src: string;
  dst: string;
  ttl?: number;
  srcMac?: string;
  dstMac?: string;
  /** Outermost first; tpid 0x8100 or 0x88a8. */
  vlans?: Array<{ tpid: number; vid: number }>;
  proto?: number;
  /** The IP payload (a UDP datagram, or a fragment of one). */
  l4: Uint8Array;
  ipv4Options?: Uint8Array;
  /** IPv4: MF and offset in the IP header; IPv6: a fragment header. */
  fragment?: { offset: number; more: boolean; id?: number };
  /** IPv6 extension headers before the fragment header / payload (type 0, 43 or 60), 8 bytes each. */
  v6Ext?: number[];
  ipId?: number;
}

export function frame(spec: FrameSpec): Uint8Array {
  const proto = spec.proto ?? 17;
  const ttl = spec.ttl ?? 64;
  const ethType = spec.family === 4 ? 0x0800 : 0x86dd;
  const dstMac = parseMac(spec.dstMac ?? multicastMac(parseAddress(spec.dst)));
  const srcMac = parseMac(spec.srcMac ?? '02:00:00:00:00:01');
  const tags = (spec.vlans ?? []).map((v) => concat(u16(v.tpid), u16(v.vid)));
  // Each tag is TPID + TCI; the ethertype after the last tag is the IP one.
  const l2 = concat(dstMac, srcMac, ...tags, u16(ethType));
  let l3: Uint8Array;
  if (spec.family === 4) {
    const options = spec.ipv4Options ?? new Uint8Array(0);
    if (options.length % 4 !== 0) throw new Error('IPv4 options must be a multiple of 4 bytes');
    const ihl = 5 + options.length / 4;
    const frag = spec.fragment ? ((spec.fragment.more ? 0x2000 : 0) | (spec.fragment.offset / 8)) : 0x4000; // DF when whole
    const header = concat(
      Uint8Array.of(0x40 | ihl, 0),
      u16(ihl * 4 + spec.l4.length),
      u16(spec.ipId ?? spec.fragment?.id ?? 0x1234),
      u16(frag),
      Uint8Array.of(ttl, proto),
      u16(0),
      addressBytes(spec.src),
      addressBytes(spec.dst),
      options,
    );
    header.set(u16(0xffff - onesSum(header)), 10);
    l3 = concat(header, spec.l4);
  } else {
    const chain: number[] = [...(spec.v6Ext ?? []), ...(spec.fragment ? [44] : [])];
    const exts: Uint8Array[] = [];
    chain.forEach((type, i) => {
      const next = chain[i + 1] ?? proto;
      if (type === 44) {
        const f = spec.fragment as { offset: number; more: boolean; id?: number };
        exts.push(concat(Uint8Array.of(next, 0), u16(f.offset | (f.more ? 1 : 0)), Uint8Array.of(0, 0, (f.id ?? 0x1234) >> 8, (f.id ?? 0x1234) & 0xff)));
      } else if (type === 43) {
        exts.push(Uint8Array.of(next, 0, 0, 0, 0, 0, 0, 0)); // routing type 0, segments left 0
      } else {
        exts.push(Uint8Array.of(next, 0, 1, 4, 0, 0, 0, 0)); // PadN option
      }
    });
    const ext = concat(...exts);
    l3 = concat(Uint8Array.of(0x60, 0, 0, 0), u16(ext.length + spec.l4.length), Uint8Array.of(chain[0] ?? proto, ttl), addressBytes(spec.src), addressBytes(spec.dst), ext, spec.l4);
  }
  return concat(l2, l3);
}

/** Checks an untagged IPv4/IPv6 UDP frame (not a fragment): header and UDP checksums valid. */
export function checksumsValid(frameBytes: Uint8Array): { ip: boolean; udp: boolean } {
  const type = (frameBytes[12]! << 8) | frameBytes[13]!;
  if (type === 0x0800) {
    const ihl = (frameBytes[14]! & 0x0f) * 4;
    const ip = frameBytes.subarray(14, 14 + ihl);
    const total = (ip[2]! << 8) | ip[3]!;
    const udp = frameBytes.subarray(14 + ihl, 14 + total);
    const udpSum = (udp[6]! << 8) | udp[7]!;
    const src = frameBytes.subarray(26, 30);
    const dst = frameBytes.subarray(30, 34);
    const pseudo = concat(src, dst, Uint8Array.of(0, 17), u16(udp.length));
    return { ip: onesSum(ip) === 0xffff, udp: udpSum === 0 || onesSum(pseudo, udp) === 0xffff };
  }
  const len = (frameBytes[18]! << 8) | frameBytes[19]!;
  const udp = frameBytes.subarray(54, 54 + len);
  const pseudo = concat(frameBytes.subarray(22, 54), Uint8Array.of(0, 0, (udp.length >> 8) & 0xff, udp.length & 0xff, 0, 0, 0, 17));
  return { ip: true, udp: onesSum(pseudo, udp) === 0xffff };
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
