// What one client may hold on this front end, and the count of every refusal.
//
// A client is its address; an IPv6 address counts by its /64 (by default:
// one host holds a whole /64, so counting /128s would limit nothing). The
// table below keeps, per client, the open connections and the request-body
// bytes buffered; per connection, the body bytes buffered. Watchers and the
// get-new-watcher-id rate are not here: they are counted in the replicated
// state (state/mnat-state.ts), so they hold across front ends.
import { formatValue, parseAddress, prefixMask } from '../../core/address.ts';

/** Every limit the server enforces, by the name /metrics and error messages use. */
export type LimitName =
  | 'connections-per-client'
  | 'connect-timeout'
  | 'headers-timeout'
  | 'body-timeout'
  | 'body-buffer-per-connection'
  | 'body-buffer-per-client'
  | 'watchers-per-address'
  | 'watchers-per-certificate'
  | 'new-watcher-rate'
  | 'subscriptions-per-client'
  | 'container-size';

/** The flag that sets each limit (error messages name it, so an operator knows what to change). */
export const LIMIT_FLAGS: Readonly<Record<LimitName, string>> = {
  'connections-per-client': '--max-connections-per-client',
  'connect-timeout': '--connect-timeout',
  'headers-timeout': '--headers-timeout',
  'body-timeout': '--body-timeout / --body-min-rate',
  'body-buffer-per-connection': '--max-body-buffer-per-connection',
  'body-buffer-per-client': '--max-body-buffer-per-client',
  'watchers-per-address': '--max-watchers-per-address',
  'watchers-per-certificate': '--max-watchers-per-certificate',
  'new-watcher-rate': '--new-watchers-per-minute / --new-watcher-burst',
  'subscriptions-per-client': '--max-subscriptions-per-client',
  'container-size': '--max-container-watchers',
};

/** Refusals by limit, for /metrics (mnat_limit_refusals_total{limit}). */
export class Refusals {
  private readonly counts = new Map<LimitName, number>(Object.keys(LIMIT_FLAGS).map((k) => [k as LimitName, 0]));

  count(limit: LimitName): void {
    this.counts.set(limit, (this.counts.get(limit) ?? 0) + 1);
  }

  get(limit: LimitName): number {
    return this.counts.get(limit) ?? 0;
  }

  entries(): Array<[LimitName, number]> {
    return [...this.counts.entries()];
  }
}

/** The HTTP layer's limits (per front end). 0 turns a count limit off. */
export interface HttpLimits {
  maxConnectionsPerClient: number;
  /** From TCP accept to a usable connection: TLS handshake and HTTP/2 preface, or the first HTTP/1.1 byte (ms). */
  connectTimeoutMs: number;
  /** HTTP/1.1: from a request's first byte to its complete headers (ms). */
  headersTimeoutMs: number;
  /** A request body must be complete within this (ms)… */
  bodyTimeoutMs: number;
  /** …plus one second per this many bytes received (bytes/s; 0: no extension). */
  bodyMinRate: number;
  maxBodyBufferPerConnection: number;
  maxBodyBufferPerClient: number;
  /** IPv6 clients are counted by this prefix length (64: a /64 is one client). */
  ipv6ClientPrefix: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  maxConnectionsPerClient: 64,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  bodyMinRate: 1024,
  maxBodyBufferPerConnection: 1024 * 1024,
  maxBodyBufferPerClient: 4 * 1024 * 1024,
  ipv6ClientPrefix: 64,
};

/** "::ffff:192.0.2.1" → "192.0.2.1"; an IPv6 address → its /prefixLen ("2001:db8:1:2::/64"). */
export function clientKey(address: string | undefined, ipv6PrefixLen: number): string {
  if (!address) return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':') || ipv6PrefixLen >= 128) return address;
  try {
    const a = parseAddress(address.replace(/%.*$/, ''));
    return `${formatValue(6, a.value & prefixMask(6, ipv6PrefixLen))}/${ipv6PrefixLen}`;
  } catch {
    return address;
  }
}

export interface ClientRec {
  readonly key: string;
  connections: number;
  /** Request-body bytes buffered for this client, over all its connections. */
  buffered: number;
}

/** One transport connection (an HTTP/2 session or an HTTP/1.1 socket). */
export interface ConnRec {
  readonly client: ClientRec;
  buffered: number;
  /** The connection is not usable yet (TLS handshake, preface): closed when this fires. */
  setupTimer: ReturnType<typeof setTimeout> | null;
  /** The socket to destroy to drop the connection (the TLS socket once the handshake is done). */
  socket: { destroy(): unknown } | null;
  disconnected: boolean;
}

/** Connections and buffered body bytes per client address. */
export class ClientTable {
  private readonly clients = new Map<string, ClientRec>();
  openConnections = 0;
  bufferedBytes = 0;
  /** Failed TLS handshakes (no or bad client certificate, wrong protocol, a peer gone). */
  tlsFailures = 0;

  constructor(
    readonly limits: HttpLimits,
    readonly refusals: Refusals,
  ) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** A new connection from this address, or null (counted) when the client holds too many. */
  connect(address: string | undefined): ConnRec | null {
    const key = clientKey(address, this.limits.ipv6ClientPrefix);
    const client = this.client(key);
    const max = this.limits.maxConnectionsPerClient;
    if (max > 0 && client.connections >= max) {
      this.refusals.count('connections-per-client');
      this.release(client);
      return null;
    }
    client.connections++;
    this.openConnections++;
    return { client, buffered: 0, setupTimer: null, socket: null, disconnected: false };
  }

  /** The connection closed (idempotent: the TCP and the TLS socket may both report it). */
  disconnect(conn: ConnRec): void {
    if (conn.disconnected) return;
    conn.disconnected = true;
    conn.socket = null;
    if (conn.setupTimer) clearTimeout(conn.setupTimer);
    conn.setupTimer = null;
    conn.client.connections--;
    this.openConnections--;
    this.release(conn.client);
  }

  private client(key: string): ClientRec {
    let client = this.clients.get(key);
    if (!client) this.clients.set(key, (client = { key, connections: 0, buffered: 0 }));
    return client;
  }

  /** Drops a client's record once it holds nothing. */
  private release(client: ClientRec): void {
    if (client.connections === 0 && client.buffered === 0) this.clients.delete(client.key);
  }

  /** Adds body bytes; returns the limit that would be exceeded (nothing is added then), or null. */
  charge(conn: ConnRec, bytes: number): LimitName | null {
    const { maxBodyBufferPerConnection: perConn, maxBodyBufferPerClient: perClient } = this.limits;
    if (perConn > 0 && conn.buffered + bytes > perConn) return 'body-buffer-per-connection';
    if (perClient > 0 && conn.client.buffered + bytes > perClient) return 'body-buffer-per-client';
    conn.buffered += bytes;
    conn.client.buffered += bytes;
    this.bufferedBytes += bytes;
    return null;
  }

  /** Body bytes no longer buffered (the body was read whole, or refused). */
  discharge(conn: ConnRec, bytes: number): void {
    if (bytes === 0) return;
    conn.buffered -= bytes;
    conn.client.buffered -= bytes;
    this.bufferedBytes -= bytes;
    this.release(conn.client);
  }
}
