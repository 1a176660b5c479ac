// The receiver's inputs, checked before anything touches the network: the
// global channel must be source-specific (RFC 4607: 232/8, ff3x::/32), since
// a bump-in-the-host receiver joins (Sl,Gl) for exactly one source; the
// server is a URL or a host name.
import { isSsmGroup } from '../core/address.ts';
import { channelOf, parseChannel, type Channel } from '../core/channel.ts';

export class ReceiverConfigError extends Error {
  override readonly name = 'ReceiverConfigError';
}

export function checkReceiverChannel(source: string, group: string, port: number): Channel {
  let parsed;
  try {
    parsed = parseChannel(source, group);
  } catch (err) {
    throw new ReceiverConfigError((err as Error).message);
  }
  if (!isSsmGroup(parsed.group)) {
    throw new ReceiverConfigError(
      `group ${group} is not a source-specific multicast group (IPv4 232.0.0.0/8, IPv6 ff3x::/32): MNAT carries SSM channels (S,G)`,
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ReceiverConfigError(`port ${port} is not a UDP port (1-65535)`);
  return channelOf(parsed);
}

export interface ServerTarget {
  readonly origin: string;
  /** The URL's path, when it has one. */
  readonly apiRoot?: string;
}

/** "https://host:port[/root]", "http://…" (with insecure), or "host[:port]" → origin (+ root). */
export function serverTarget(server: string, insecure: boolean): ServerTarget {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `${insecure ? 'http' : 'https'}://${server}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ReceiverConfigError(`server "${server}" is not a URL (https://host:port) or a host name`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ReceiverConfigError(`server ${server}: use https:// (or http:// with --insecure)`);
  if (url.protocol === 'http:' && !insecure) throw new ReceiverConfigError(`server ${server} is plaintext http; add --insecure (labs only) or use https://`);
  if (url.protocol === 'https:' && insecure) throw new ReceiverConfigError(`server ${server} is https but --insecure asks for plaintext; use http://`);
  if (url.search || url.hash || url.username) throw new ReceiverConfigError(`server ${server}: only scheme, host, port and path are allowed`);
  const path = url.pathname.replace(/\/+$/, '');
  return { origin: `${url.protocol}//${url.hostname}:${url.port || 8443}`, ...(path ? { apiRoot: path } : {}) };
}
