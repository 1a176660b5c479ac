// The bump-in-the-host receiver (draft-ietf-mboned-mnat §"bump in the host"):
// an application receives a global SSM channel (Sg,Gg) in a network that
// carries it on a local (Sl,Gl), with no CPE agent. It finds the MNAT service
// (given, or DNS-SD), keeps a watcher with the channel joined (the
// egress-global-joined PUT), follows assigned-channels (push, long poll as
// fallback), joins (Sl,Gl) on a UDP socket and hands each datagram to the
// application as a datagram of (Sg,Gg). A re-mapping switches make-before-
// break (switcher.ts). close() withdraws the join (DELETE) and leaves.
import { EventEmitter } from 'node:events';
import { createBackoff, type Backoff } from '../core/backoff.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import { serviceOrigins, type MnatService } from '../core/dns-sd.ts';
import { createWatcherClient, EGRESS_ROLE, type WatcherClient, type WatcherStatus } from '../client/watcher-client.ts';
import { serverTransport } from '../client/failover-transport.ts';
import { createNodeHost } from '../host/node-host.ts';
import type { Host, HttpTransport, Logger, TimerHandle } from '../host/host.ts';
import type { LocalMapping, MappedChannel } from '../protocol/model.ts';
import { encodeKey } from '../protocol/yang-patch.ts';
import { discoverMnatService, type DnsOptions } from './node-dns.ts';
import { openSsmLink } from './ssm-link.ts';
import { createSwitcher, type DatagramInfo, type Link, type Switcher } from './switcher.ts';
import { checkReceiverChannel, serverTarget, type ServerTarget } from './receiver-config.ts';

export interface ReceiverOptions {
  /** The global channel (Sg,Gg): an SSM group (232/8, ff3x::/32) and a unicast source. */
  source: string;
  group: string;
  /** The UDP destination port the sender uses (MNAT translates addresses, not ports). */
  port: number;
  /**
   * The MNAT server: "https://host:port[/root]", "host[:port]" (https, port 8443),
   * or omitted: DNS-SD (_mnat._tcp in the search domains). Manual configuration wins.
   */
  server?: string;
  /** RESTCONF root; default the URL's path, the DNS-SD TXT `path`, else /restconf. */
  apiRoot?: string;
  /** CA certificate(s) to verify the server (PEM file); default the system's. */
  cacert?: string;
  /** Client certificate and key (PEM files) when the server wants mutual TLS. */
  cert?: string;
  key?: string;
  /** Plaintext HTTP/2 (h2c) to the server: labs only. */
  insecure?: boolean;
  /** Where to join: an IPv4 interface address or an IPv6 scope ("::%eth0"); default the route to the group. */
  interface?: string;
  /** DNS-SD settings (servers, search domains, resolv.conf). */
  dns?: DnsOptions;
  /** Follow by push (default) or long polling only. */
  push?: boolean;
  /** Make-before-break: close the old local channel this long after the new one delivers (default 200 ms) … */
  drainMs?: number;
  /** … or this long after the switch if the new one stays silent (default 10 s). */
  overlapMs?: number;
  /** With DNS-SD: look the service up again after the server was unreachable this long (default 30 s). */
  rediscoverAfterMs?: number;
  /** Logs (default: none). */
  logger?: Logger;
  /** The runtime (timers, HTTP): tests inject one; default Node's. */
  host?: Host;
  /** Opens the UDP link for a local channel (tests); default a real socket (ssm-link.ts). */
  openLink?: (local: LocalMapping, deliver: (payload: Uint8Array, address: string, port: number) => void, onError: (err: Error) => void) => Link;
  /** Finds the service when no server is given (tests); default DNS-SD with node:dns. */
  discover?: () => Promise<MnatService>;
}

export interface MessageInfo {
  /** The global channel (Sg,Gg): what the datagram is, for the application. */
  readonly channel: Channel;
  /** The local channel it travelled on, and the sender address and port the socket saw. */
  readonly local: LocalMapping;
  readonly address: string;
  readonly port: number;
}

export interface MappingInfo {
  readonly channel: Channel;
  readonly local: LocalMapping;
  /** The server's assignment id. */
  readonly id: number;
}

/** Where the receiver talks to, and how it was found. */
export interface ServerInfo {
  /** The first server to try. */
  readonly origin: string;
  /** Every server to try, in order: with DNS-SD the SRV targets in RFC 2782 order (a region's front ends). */
  readonly origins: readonly string[];
  readonly apiRoot: string;
  /** The DNS-SD result, when discovered. */
  readonly service?: MnatService;
}

/** The receiver's events (typed as MQTT.js and grpc-js type theirs). */
export interface ReceiverEvents {
  /** A datagram of the global channel. */
  message: [payload: Uint8Array, info: MessageInfo];
  /** The server to use is known (given or discovered). */
  server: [info: ServerInfo];
  /** The channel has a local mapping (first, or a new one: the socket switches make-before-break). */
  mapped: [info: MappingInfo];
  /** The old local channel is closed; datagrams now come only from `to`. */
  switched: [from: LocalMapping, to: LocalMapping, reason: 'drained' | 'timeout'];
  /** The network cannot carry the channel now (the server's pool is exhausted); it may be assigned later. */
  unassigned: [channel: Channel];
  /** Connection state toward the server (push / long-poll / poll, last error). */
  status: [status: WatcherStatus];
  /** Something the application must act on: the server refused the join, the socket could not join. */
  error: [err: Error];
  close: [];
}

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class MnatReceiver extends EventEmitter<ReceiverEvents> {
  readonly channel: Channel;
  #o: ReceiverOptions;
  #host: Host;
  #switcher: Switcher;
  #server: ServerInfo | null = null;
  #transport: HttpTransport | null = null;
  #client: WatcherClient<Channel> | null = null;
  #mapping: MappedChannel | null = null;
  #unassigned = false;
  #state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  #everConnected = false;
  #rediscoverTimer: TimerHandle | null = null;
  #backoff: Backoff;

  /** Validates the options (throws a plain Error naming the bad one); start with open(). */
  constructor(options: ReceiverOptions) {
    super();
    this.channel = checkReceiverChannel(options.source, options.group, options.port);
    this.#o = options;
    this.#host = options.host ?? createNodeHost(options.logger ?? SILENT);
    this.#backoff = createBackoff({ initialMs: 1000, maxMs: 60_000 });
    const openLink = options.openLink ?? ((local, deliver, onError) => openSsmLink({ local, port: options.port, interface: options.interface, deliver, onError }));
    this.#switcher = createSwitcher({
      open: (local, deliver) => openLink(local, deliver, (err) => this.#fail(err)),
      setTimeout: (fn, ms) => this.#host.setTimeout(fn, ms),
      clearTimeout: (t) => this.#host.clearTimeout(t),
      onDatagram: (payload: Uint8Array, info: DatagramInfo) => this.emit('message', payload, { channel: this.channel, ...info }),
      onSwitched: (from, to, reason) => {
        this.#host.log.info('switched local channel', { from: describeLocal(from), to: describeLocal(to), reason });
        this.emit('switched', from, to, reason);
      },
      ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
      ...(options.overlapMs !== undefined ? { overlapMs: options.overlapMs } : {}),
    });
  }

  /** The server in use (null before open() found it). */
  get server(): ServerInfo | null {
    return this.#server;
  }

  /** The server's current assignment for the channel (null while none). */
  get mapping(): MappedChannel | null {
    return this.#mapping;
  }

  /** The current local mapping (null while none). */
  get local(): LocalMapping | null {
    return this.#switcher.current;
  }

  /**
   * Finds the server (DNS-SD unless given), then starts the watcher with the
   * channel joined. Resolves once the watcher is running; datagrams follow as
   * 'message' events once the server has mapped the channel. Rejects with a
   * DiscoveryError (naming the DNS questions asked) or a configuration Error.
   */
  async open(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`receiver already ${this.#state}`);
    this.#state = 'opening';
    try {
      const server = await this.#findServer();
      if (this.#state !== 'opening') return; // closed meanwhile
      this.#use(server);
      this.#state = 'open';
    } catch (err) {
      this.#state = 'closed';
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#disarmRediscover();
    this.#switcher.close();
    await this.#stopWatcher(true);
    this.emit('close');
  }

  async #findServer(): Promise<ServerInfo> {
    const o = this.#o;
    if (o.server !== undefined) {
      const t: ServerTarget = serverTarget(o.server, o.insecure === true);
      return { origin: t.origin, origins: [t.origin], apiRoot: o.apiRoot ?? t.apiRoot ?? '/restconf' };
    }
    const service = await (o.discover ?? (() => discoverMnatService(o.dns)))();
    const origins = serviceOrigins(service, o.insecure ? 'http' : 'https');
    return { origin: origins[0] as string, origins, apiRoot: o.apiRoot ?? service.apiRoot, service };
  }

  #use(server: ServerInfo): void {
    const o = this.#o;
    this.#server = server;
    this.#host.log.info('MNAT server', { origin: server.origins.join(','), apiRoot: server.apiRoot, instance: server.service?.instance });
    this.emit('server', server);
    // Several servers (SRV targets): tried in their order, moving on when one fails, with the same watcher id.
    const target = {
      origin: server.origins.join(','),
      ...(o.cacert ? { caFile: o.cacert } : {}),
      ...(o.cert ? { certFile: o.cert } : {}),
      ...(o.key ? { keyFile: o.key } : {}),
    };
    const transport = server.origins.length > 1 ? serverTransport(this.#host, target, { inOrder: true }) : this.#host.httpTransport(target);
    const client = createWatcherClient({ host: this.#host, transport, role: EGRESS_ROLE, apiRoot: server.apiRoot, push: o.push !== false });
    this.#transport = transport;
    this.#client = client;
    client.on('assignments', (list) => {
      if (this.#client === client) this.#assignments(list);
    });
    client.on('status', (status) => {
      if (this.#client === client) this.#status(status);
    });
    client.setDesired([this.channel]);
    client.start();
  }

  #status(status: WatcherStatus): void {
    this.emit('status', status);
    if (status.connected) {
      this.#everConnected = true;
      this.#backoff.reset();
      this.#disarmRediscover();
    } else if (status.lastError?.includes('refused:')) {
      // The server answered and refused the join (a 4xx): retrying will not help.
      this.#fail(new Error(status.lastError));
    } else if (this.#server?.service && this.#rediscoverTimer === null && this.#state === 'open') {
      this.#armRediscover(this.#o.rediscoverAfterMs ?? 30_000);
    }
  }

  /** Whether the watcher has reached the server at least once. */
  get connected(): boolean {
    return this.#everConnected;
  }

  #assignments(list: MappedChannel[]): void {
    const key = channelKey(this.channel);
    const mine = list.find((m) => channelKey(m.global) === key);
    // Absent: the server has not seen our join yet (a new watcher id): keep what we have.
    if (!mine) return;
    if (mine.state === 'unassigned' || mine.local === null) {
      this.#mapping = null;
      this.#switcher.set(null);
      if (!this.#unassigned) {
        this.#unassigned = true;
        this.#host.log.warn('channel unassigned (the server has no local channel for it now)', { channel: key });
        this.emit('unassigned', this.channel);
      }
      return;
    }
    this.#unassigned = false;
    const before = this.#switcher.current;
    try {
      this.#switcher.set(mine.local);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    this.#mapping = mine;
    if (before === null || this.#switcher.current !== before) {
      this.#host.log.info('channel mapped', { channel: key, local: describeLocal(mine.local), id: mine.id });
      this.emit('mapped', { channel: this.channel, local: mine.local, id: mine.id });
    }
  }

  #fail(err: Error): void {
    this.#host.log.error(err.message);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #armRediscover(ms: number): void {
    this.#rediscoverTimer = this.#host.setTimeout(() => {
      this.#rediscoverTimer = null;
      void this.#rediscover();
    }, ms);
  }

  #disarmRediscover(): void {
    if (this.#rediscoverTimer !== null) this.#host.clearTimeout(this.#rediscoverTimer);
    this.#rediscoverTimer = null;
  }

  /** The discovered server stays unreachable: DNS may point elsewhere now (RFC 2782 failover). */
  async #rediscover(): Promise<void> {
    let next: ServerInfo;
    try {
      next = await this.#findServer();
    } catch (err) {
      if (this.#state !== 'open') return;
      this.#host.log.warn('DNS-SD retry failed', { error: (err as Error).message });
      this.#armRediscover(this.#backoff.next());
      return;
    }
    if (this.#state !== 'open') return;
    if (next.origins.join(',') === this.#server?.origins.join(',') && next.apiRoot === this.#server.apiRoot) {
      this.#armRediscover(this.#backoff.next());
      return;
    }
    this.#host.log.info('DNS-SD points to other servers; moving the watcher', { from: this.#server?.origins.join(','), to: next.origins.join(',') });
    // The local socket stays joined: the mapping is the network's, not the server's.
    await this.#stopWatcher(false);
    if (this.#state === 'open') this.#use(next);
  }

  async #stopWatcher(withdraw: boolean): Promise<void> {
    const client = this.#client;
    const transport = this.#transport;
    this.#client = null;
    this.#transport = null;
    if (!client || !transport) return;
    const id = client.id;
    await client.stop();
    if (withdraw && id !== null && this.#server) {
      // Withdraw the join now rather than when the watcher expires: the server
      // releases the mapping and the ingress stops sending sooner.
      await transport
        .request({ method: 'DELETE', path: `${this.#server.apiRoot}/data/ietf-mnat:egress-global-joined/watcher=${encodeKey(id)}`, timeoutMs: 2000 })
        .then(
          (r) => this.#host.log.debug('join withdrawn', { status: r.status }),
          (err: Error) => this.#host.log.debug('could not withdraw the join (server away?)', { error: err.message }),
        );
    }
    transport.close();
  }
}

export function describeLocal(local: LocalMapping): string {
  return 'asmGroup' in local ? `(*,${local.asmGroup})` : `(${local.source},${local.group})`;
}

/** Creates a receiver, opens it, and resolves with it (listeners can be added right after). */
export async function openReceiver(options: ReceiverOptions): Promise<MnatReceiver> {
  const receiver = new MnatReceiver(options);
  await receiver.open();
  return receiver;
}


