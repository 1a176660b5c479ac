// Upstream joins with Node UDP sockets (IGMPv3 / MLDv2 source-specific
// memberships). The kernel sends the reports; no data reaches these sockets:
// they are bound to loopback, so datagrams for the joined groups never match.
// Memberships are spread across sockets (see upstream-join-slots.ts), because
// Linux allows only igmp_max_memberships groups and igmp_max_msf sources per
// group on one socket.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Channel } from '../core/channel.ts';
import type { Logger } from '../host/host.ts';
import { MembershipSlots, type SlotLimits } from './upstream-join-slots.ts';
import { channelToJoin, channelToLeave, membershipKey, serialJoiner, UpstreamJoinError, type JoinedChannel, type UpstreamJoiner } from './upstream-join.ts';

interface DeviceFamily {
  slots: MembershipSlots;
  sockets: Array<Socket | null>;
}

export interface SocketJoinerOptions {
  /** Override the kernel limits (tests); default: read from /proc/sys. */
  limits?: { ipv4?: SlotLimits; ipv6?: SlotLimits };
}

function readSysctl(path: string, fallback: number): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

function kernelLimits(): { ipv4: SlotLimits; ipv6: SlotLimits } {
  const maxGroups = readSysctl('/proc/sys/net/ipv4/igmp_max_memberships', 20);
  return {
    ipv4: { maxGroups, maxSourcesPerGroup: readSysctl('/proc/sys/net/ipv4/igmp_max_msf', 10) },
    // IPv6 has no per-socket group limit in the kernel; keep sockets as small as for IPv4.
    ipv6: { maxGroups, maxSourcesPerGroup: readSysctl('/proc/sys/net/ipv6/mld_max_msf', 64) },
  };
}

/** The argument Node wants as multicastInterface: an IPv4 address of the device, or "::%dev". */
function interfaceArg(device: string, family: 4 | 6): string {
  const addrs = networkInterfaces()[device];
  if (addrs === undefined) throw new Error(`device ${device} does not exist or has no address (check "ip addr show ${device}")`);
  if (family === 6) {
    // An unknown name in "::%dev" would silently become scope 0 (the kernel then picks a device by route),
    // so the device must be known here; MLD also needs its link-local address as the report source.
    if (!addrs.some((a) => a.family === 'IPv6')) throw new Error(`device ${device} has no IPv6 address (MLD needs its link-local address)`);
    return `::%${device}`;
  }
  const v4 = addrs.find((a) => a.family === 'IPv4');
  if (!v4) throw new Error(`device ${device} has no IPv4 address; the socket backend selects the interface by its address`);
  return v4.address;
}

async function openSocket(family: 4 | 6): Promise<Socket> {
  const sock = createSocket({ type: family === 6 ? 'udp6' : 'udp4', reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: family === 6 ? '::1' : '127.0.0.1', port: 0 }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', () => undefined); // nothing is ever received; keep stray errors from crashing the agent
  return sock;
}

export function createSocketJoiner(log: Logger, options: SocketJoinerOptions = {}): UpstreamJoiner {
  const limits = { ...kernelLimits(), ...options.limits };
  const perDevice = new Map<string, DeviceFamily>();
  // Operations run one at a time (serialJoiner): interleaving on one socket set would race the slot map.
  const joined = new Map<string, JoinedChannel>();

  const state = (device: string, family: 4 | 6): DeviceFamily => {
    const key = `${family}|${device}`;
    let s = perDevice.get(key);
    if (!s) perDevice.set(key, (s = { slots: new MembershipSlots(family === 4 ? limits.ipv4 : limits.ipv6), sockets: [] }));
    return s;
  };

  const doJoin = async (given: Channel, device: string): Promise<void> => {
    const { channel, family } = channelToJoin(given, device);
    const key = membershipKey(channel, device);
    if (joined.has(key)) return;
    const s = state(device, family);
    const { slot, created } = s.slots.place(channel.source, channel.group);
    try {
      const iface = interfaceArg(device, family);
      if (created) s.sockets[slot] = await openSocket(family);
      s.sockets[slot]!.addSourceSpecificMembership(channel.source, channel.group, iface);
    } catch (e) {
      const r = s.slots.remove(channel.source, channel.group);
      if (r?.emptied) closeSocket(s, r.slot);
      throw new UpstreamJoinError('join', channel, device, explain((e as Error).message, family));
    }
    joined.set(key, { channel: { source: channel.source, group: channel.group }, device });
    log.debug('upstream join', { source: channel.source, group: channel.group, device, socket: slot });
  };

  const doLeave = async (given: Channel, device: string): Promise<void> => {
    const channel = channelToLeave(given);
    if (channel === null) return; // never joinable, so never joined
    const key = membershipKey(channel, device);
    if (!joined.has(key)) return;
    const family = channel.group.includes(':') ? 6 : 4;
    const s = state(device, family);
    const r = s.slots.remove(channel.source, channel.group);
    joined.delete(key);
    if (r === null) return;
    const sock = s.sockets[r.slot];
    try {
      if (r.emptied) closeSocket(s, r.slot); // closing drops the membership and sends the leave report
      else sock?.dropSourceSpecificMembership(channel.source, channel.group, interfaceArg(device, family));
    } catch (e) {
      // The kernel cannot find the membership by this device: it was deleted, or re-created with a new
      // ifindex. The socket's stale entries would still count against igmp_max_memberships, so replace
      // the socket and re-add the slot's other memberships on the device as it is now.
      log.warn('upstream leave failed; renewing its socket', { source: channel.source, group: channel.group, device, error: (e as Error).message });
      await renewSlot(s, r.slot, device, family);
    }
    log.debug('upstream leave', { source: channel.source, group: channel.group, device, socket: r.slot });
  };

  const renewSlot = async (s: DeviceFamily, slot: number, device: string, family: 4 | 6): Promise<void> => {
    closeSocket(s, slot);
    const members = s.slots.members(slot);
    if (members.length === 0) return;
    let sock: Socket | null = null;
    for (const m of members) {
      try {
        sock ??= s.sockets[slot] = await openSocket(family);
        sock.addSourceSpecificMembership(m.source, m.group, interfaceArg(device, family));
      } catch (e) {
        // Not joinable now (device gone): drop it from the view, which must stay exact.
        const r = s.slots.remove(m.source, m.group);
        joined.delete(membershipKey(m, device));
        log.warn('upstream membership lost with its device', { source: m.source, group: m.group, device, error: (e as Error).message });
        if (r?.emptied) closeSocket(s, slot);
      }
    }
  };

  return serialJoiner(joined, {
    join: doJoin,
    leave: doLeave,
    close: async () => {
      for (const j of [...joined.values()]) await doLeave(j.channel, j.device);
      for (const s of perDevice.values()) s.sockets.forEach((_, i) => closeSocket(s, i));
      perDevice.clear();
    },
  });
}

/** Adds what to check to the kernel's terse errno names. */
function explain(message: string, family: 4 | 6): string {
  if (/ENOBUFS/.test(message)) {
    return `${message} (a kernel membership limit: ${family === 4 ? 'net.ipv4.igmp_max_memberships / igmp_max_msf' : 'net.ipv6.mld_max_msf'}, or net.core.optmem_max)`;
  }
  if (/EADDRNOTAVAIL|ENODEV/.test(message)) return `${message} (is the device up and does it have an address of this family?)`;
  return message;
}

function closeSocket(s: DeviceFamily, slot: number): void {
  const sock = s.sockets[slot];
  s.sockets[slot] = null;
  try {
    sock?.close();
  } catch {
    // already closed
  }
}
