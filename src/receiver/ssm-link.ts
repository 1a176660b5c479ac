// One local channel on a UDP socket: bound to the group address and the port
// (so only datagrams sent to that group reach it, even with Linux's
// IP_MULTICAST_ALL), joined source-specifically to (Sl,Gl) (or (*,Gl) for an
// ASM mapping), and accepting only datagrams from Sl. Closing the socket
// leaves the group.
import { createSocket, type Socket } from 'node:dgram';
import { canonicalAddress } from '../core/address.ts';
import type { LocalMapping } from '../protocol/model.ts';
import type { Link } from './switcher.ts';

export interface SsmLinkOptions {
  readonly local: LocalMapping;
  readonly port: number;
  /** The interface to join on: its IPv4 address, or an IPv6 scope ("::%eth0"); default: the route to the group. */
  readonly interface?: string;
  deliver(payload: Uint8Array, address: string, port: number): void;
  /** Bind or join failed, or the socket broke; the link is closed. */
  onError(err: Error): void;
}

export function openSsmLink(o: SsmLinkOptions): Link {
  const group = 'asmGroup' in o.local ? o.local.asmGroup : o.local.group;
  const source = 'asmGroup' in o.local ? null : o.local.source;
  const socket: Socket = createSocket({ type: group.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      socket.close();
    } catch {
      // already closed by an error
    }
  };
  socket.on('message', (msg, rinfo) => {
    if (closed) return;
    if (source !== null && rinfo.address !== source && canonicalAddress(rinfo.address) !== source) return;
    o.deliver(msg, rinfo.address, rinfo.port);
  });
  socket.on('error', (err) => {
    close();
    o.onError(new Error(`UDP socket for ${source ? `(${source},${group})` : `(*,${group})`} port ${o.port}: ${err.message}`));
  });
  socket.bind({ address: group, port: o.port }, () => {
    if (closed) return;
    try {
      if (source !== null) socket.addSourceSpecificMembership(source, group, o.interface);
      else socket.addMembership(group, o.interface);
    } catch (err) {
      close();
      o.onError(new Error(`cannot join ${source ? `(${source},${group})` : `(*,${group})`}${o.interface ? ` on ${o.interface}` : ''}: ${(err as Error).message}`));
    }
  });
  return { close };
}
