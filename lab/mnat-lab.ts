// The whole MNAT system running in the namespace lab: the reference topology
// (lab/topology.ts), a TLS PKI, mnat-server with a pool in the ISP core,
// mnat-ingress on the ingress router, mnat-egress (under qjs when its bundle
// and a qjs exist) on every CPE, global senders and LAN receivers.
// Used by the live demo, the system lab tests and the system benchmarks.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createLab, labPinRoot, nodeArgv, REPO_ROOT, type Lab, type LabProcess, type Netns } from './lab.ts';
import { buildTopology, type Iface, type LanHost, type Topology } from './topology.ts';
import { makeLabCerts, type LabCerts } from './lab-certs.ts';
import { startSmcrouted } from './smcroute.ts';
import { startDnsmasq, withResolvConf, writeResolvConf, type DnsSdZone } from './lab-dns.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';
import { startEtcdCluster, type EtcdCluster } from './etcd-cluster.ts';

export interface GlobalChannel {
  readonly source: string;
  readonly group: string;
}

/** The reference global channels: two IPv4 sources and one IPv6. */
export const CHANNELS = {
  v4: { source: '23.212.185.4', group: '232.1.1.1' },
  v4b: { source: '203.0.113.7', group: '232.1.1.2' },
  v6: { source: '2001:db8:100::2', group: 'ff3e::8000:1' },
} as const;

/** Extra source addresses the sender owns (198.51.100.2 / 2001:db8:100::2 come with the topology). */
const SENDER_EXTRA = ['23.212.185.4/32', '203.0.113.7/32'];

/** The default pool: local SSM groups with a local source prefix, per family. */
export const DEFAULT_POOL = {
  'group-pool': {
    ranges: [
      { 'group-range': '232.255.0.0/24', 'source-range': '10.0.0.0/24', exclude: [{ 'groupex-range': '232.255.0.0/30' }], note: 'lab IPv4' },
      { 'group-range': 'ff35:0:0:0:0:0:a:0/112', 'source-range': 'fd00:c0::/64', note: 'lab IPv6' },
    ],
  },
};

export interface MnatLabOptions {
  cpes?: number;
  hostsPerCpe?: number;
  pool?: unknown;
  gracePeriodS?: number;
  refreshPeriodS?: number;
  /** 'qjs' needs dist/mnat-egress.qjs.js and a qjs; 'auto' (default) uses them when present, else Node. */
  egressRuntime?: 'qjs' | 'node' | 'auto';
  /** Run the Node commands from dist/ (what users run) instead of src/ through the ts loader. */
  fromDist?: boolean;
  /**
   * Start the agents as users do: from dist/, under `ip netns exec` (their own
   * mount namespace with a fresh /sys, no bpffs), with the default pin root and
   * BPF object. Their pins are then invisible to the lab (translator-view reads none).
   */
  asUser?: boolean;
  /** Write a joinfile (path inside the run directory) from the ingress. */
  joinfile?: boolean;
  ingressExtraArgs?: string[];
  serverExtraArgs?: string[];
  egressExtraArgs?: string[];
  /** More client certificates than ingress, mnat-admin and one per CPE (e.g. for a router VM). */
  extraClients?: string[];
  /** Every agent line, prefixed with its role (for the demo's log pane or debugging). */
  onLine?: (role: string, line: string) => void;
  /**
   * A mosquitto broker in the core (docs/mosquitto/: TLS, client
   * certificates, the ACL) that the server publishes the mappings to, and
   * --mqtt for the agents: true for all of them, or per agent.
   */
  mqtt?: boolean | { egress?: boolean; ingress?: boolean };
}

export const SERVER_PORT = 8443;
export const MQTT_PORT = 8883;

/** The ISP's DNS-SD in the lab: _mnat._tcp.isp.example → mnat.isp.example:8443 (the server in the core). */
export const ISP_DOMAIN = 'isp.example';
export const MNAT_SERVER_NAME = 'mnat.isp.example';

/** The lab zone: the MNAT service in isp.example (TXT path first: BusyBox nslookup shows only the first string). */
export function ispZone(topo: Topology): DnsSdZone {
  return {
    domains: [ISP_DOMAIN],
    services: { [ISP_DOMAIN]: [{ label: 'mnat', srv: [{ target: MNAT_SERVER_NAME, port: SERVER_PORT }], txt: ['path=/restconf', 'txtvers=1'] }] },
    hosts: { [MNAT_SERVER_NAME]: [topo.core.ipv4, topo.core.ipv6] },
  };
}

/** A host on the ISP core itself (no CPE, no agent): where bump-in-the-host applications run. */
export interface CoreHost extends Iface {
  readonly index: number;
  /** The core bridge's port facing it. */
  readonly corePort: string;
}

function findQjs(): string | null {
  for (const p of [process.env.MNAT_QJS, join(REPO_ROOT, '.cache/qjs/qjs'), '/usr/bin/qjs', '/usr/local/bin/qjs']) {
    if (p && existsSync(p)) return p;
  }
  return null;
}

export class MnatLab {
  readonly lab: Lab;
  readonly topo: Topology;
  readonly dir: string;
  readonly certs: LabCerts;
  readonly pinRoot: string;
  readonly joinfilePath: string | null;
  readonly egressRuntime: 'qjs' | 'node';
  server: LabProcess | null = null;
  /** With startRegion: the front ends (server is the first), on SERVER_PORT, SERVER_PORT + 1, … */
  readonly frontEnds: Array<LabProcess | null> = [];
  /** With startRegion: the etcd cluster (three members in the core namespace). */
  etcd: EtcdCluster | null = null;
  ingress: LabProcess | null = null;
  readonly egress: Array<LabProcess | null>;
  private readonly options: MnatLabOptions;
  private readonly qjs: string | null;
  /** Per CPE: the smcrouted IPC socket the qjs egress joins through (as smcroute runs on OpenWrt). */
  private readonly smcroute = new Map<number, string>();
  private stateGeneration = 0;
  /** The lab's resolv.conf once startDns() ran (search isp.example, nameserver = the core). */
  resolvConf: string | null = null;
  dns: LabProcess | null = null;
  readonly coreHosts: CoreHost[] = [];
  /** The broker once startBroker() ran (options.mqtt starts it with the server). */
  broker: Mosquitto | null = null;

  private constructor(lab: Lab, topo: Topology, dir: string, certs: LabCerts, options: MnatLabOptions, cleanup: () => Promise<void>) {
    this.destroy = cleanup;
    this.lab = lab;
    this.topo = topo;
    this.dir = dir;
    this.certs = certs;
    this.options = options;
    this.pinRoot = labPinRoot(lab.id);
    this.joinfilePath = options.joinfile ? join(dir, 'ingest', 'ingress-joined.sgs') : null;
    this.egress = topo.cpes.map(() => null);
    this.qjs = findQjs();
    const bundle = join(REPO_ROOT, 'dist/mnat-egress.qjs.js');
    const want = options.egressRuntime ?? 'auto';
    if (want === 'qjs' && (!this.qjs || !existsSync(bundle))) {
      throw new Error(`egress under qjs needs ${bundle} (npm run build) and a qjs (build/qjs.sh)`);
    }
    this.egressRuntime = want === 'node' ? 'node' : this.qjs && existsSync(bundle) ? 'qjs' : 'node';
  }

  /** Builds the namespaces and the PKI; starts nothing yet. */
  static async create(t?: { after(fn: () => Promise<void> | void): void }, options: MnatLabOptions = {}): Promise<MnatLab> {
    const lab = await createLab();
    const dir = mkdtempSync(join(tmpdir(), `mnat-lab-${lab.id}-`));
    const pinRoot = labPinRoot(lab.id);
    let cleaning: Promise<void> | null = null;
    const cleanup = (): Promise<void> =>
      (cleaning ??= (async () => {
        await lab.destroy();
        // Agents killed with SIGKILL leave their pins: the pin root is this run's alone.
        rmSync(pinRoot, { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
      })());
    t?.after(cleanup);
    try {
      const topo = await buildTopology(lab, { cpes: options.cpes ?? 2, hostsPerCpe: options.hostsPerCpe ?? 2 });
      for (const a of SENDER_EXTRA) await topo.sender.ns.addr(topo.sender.dev, a);
      const certs = makeLabCerts(
        dir,
        { ips: [topo.core.ipv4, topo.core.ipv6, '127.0.0.1', '::1'], dns: ['mnat-server', 'localhost', MNAT_SERVER_NAME] },
        ['ingress', 'mnat-admin', 'app', 'mnat-server', ...topo.cpes.map((c) => `cpe${c.index}`), ...(options.extraClients ?? [])],
      );
      const self = new MnatLab(lab, topo, dir, certs, options, cleanup);
      mkdirSync(pinRoot, { recursive: true });
      if (self.joinfilePath) mkdirSync(join(dir, 'ingest'), { recursive: true });
      writeFileSync(join(dir, 'pool.json'), JSON.stringify(options.pool ?? DEFAULT_POOL, null, 2) + '\n');
      return self;
    } catch (err) {
      await cleanup();
      throw err;
    }
  }

  /** Tears down every process, namespace, pin and file of this lab. Idempotent. */
  readonly destroy: () => Promise<void>;

  private command(entry: string, dist: string, args: string[]): string[] {
    if (this.options.fromDist || this.options.asUser) return [process.execPath, join(REPO_ROOT, 'dist', dist), ...args];
    return nodeArgv(entry, args);
  }

  private spawn(ns: Netns, role: string, argv: string[], asUser = false): LabProcess {
    const p = ns.spawn(argv, { label: asUser ? `${role} (ip netns exec)` : role, asUser });
    const onLine = this.options.onLine;
    if (onLine) {
      // LabProcess keeps lines; poll-free forwarding via waitForLine is not possible, so wrap push.
      const lines = p.lines;
      const push = lines.push.bind(lines);
      lines.push = (...items: string[]): number => {
        for (const l of items) onLine(role, l);
        return push(...items);
      };
    }
    return p;
  }

  get serverOrigin(): string {
    return `https://${this.topo.core.ipv4}:${SERVER_PORT}`;
  }

  /** mqtts://<core>:8883/mnat: where the agents and the server find the broker. */
  get mqttUrl(): string {
    return `mqtts://${this.topo.core.ipv4}:${MQTT_PORT}/mnat`;
  }

  private mqttFor(agent: 'egress' | 'ingress'): string[] {
    const o = this.options.mqtt;
    const on = o === true || (typeof o === 'object' && o[agent] === true);
    return on ? ['--mqtt', this.mqttUrl] : [];
  }

  /** The broker in the core (the shipped configuration, no persistence: a restart loses the retained messages). */
  async startBroker(): Promise<Mosquitto> {
    if (this.broker) return this.broker;
    const core = this.topo.core.ns;
    this.broker = await startMosquitto({
      dir: join(this.dir, 'mosquitto'),
      port: MQTT_PORT,
      bind: '',
      tls: { ca: this.certs.ca, cert: this.certs.serverCert, key: this.certs.serverKey },
      spawn: (argv, label) => this.spawn(core, label, argv),
    });
    return this.broker;
  }

  /** mnat-server in the core namespace, TLS with client certificates required, durable state. */
  async startServer(extra: string[] = [], opts: { freshState?: boolean } = {}): Promise<LabProcess> {
    const mqtt: string[] = [];
    if (this.options.mqtt) {
      await this.startBroker();
      const c = this.certs.clients['mnat-server']!;
      mqtt.push('--mqtt', this.mqttUrl, '--mqtt-cacert', this.certs.ca, '--mqtt-cert', c.cert, '--mqtt-key', c.key);
    }
    // freshState: a new, empty state directory: the server has lost everything (disk replaced, no --state-dir).
    if (opts.freshState) this.stateGeneration++;
    const args = [
      '--listen', `[::]:${SERVER_PORT}`,
      '--tls-cert', this.certs.serverCert, '--tls-key', this.certs.serverKey,
      '--client-ca', this.certs.ca, '--require-client-cert',
      '--pool', join(this.dir, 'pool.json'),
      '--state-dir', join(this.dir, `server-state${this.stateGeneration || ''}`),
      '--refresh-period', String(this.options.refreshPeriodS ?? 10),
      '--grace-period', String(this.options.gracePeriodS ?? 250),
      ...mqtt,
      ...(this.options.serverExtraArgs ?? []),
      ...extra,
    ];
    const p = this.spawn(this.topo.core.ns, 'server', this.command('src/server/main.ts', 'mnat-server.js', args));
    this.server = p;
    await p.waitForLine(/listening/i, 20_000);
    return p;
  }

  /**
   * A region instead of one server: a 3-member etcd cluster and `count` front
   * ends over it in the core namespace (ports SERVER_PORT, SERVER_PORT + 1, …);
   * agents started after this list every front end.
   */
  async startRegion(count = 2, extra: string[] = []): Promise<LabProcess[]> {
    this.etcd ??= await startEtcdCluster(null, { ns: this.topo.core.ns, baseDir: this.dir });
    for (let i = 0; i < count; i++) await this.startFrontEnd(i, extra);
    return this.frontEnds as LabProcess[];
  }

  /** (Re)starts front end i of the region. */
  async startFrontEnd(i: number, extra: string[] = []): Promise<LabProcess> {
    if (!this.etcd) throw new Error('startRegion first');
    const args = [
      '--listen', `[::]:${SERVER_PORT + i}`,
      '--tls-cert', this.certs.serverCert, '--tls-key', this.certs.serverKey,
      '--client-ca', this.certs.ca, '--require-client-cert',
      '--pool', join(this.dir, 'pool.json'),
      '--store', this.etcd.url('lab'), '--frontend-id', `fe${i + 1}`, '--frontend-lease', '2',
      '--refresh-period', String(this.options.refreshPeriodS ?? 10),
      '--grace-period', String(this.options.gracePeriodS ?? 250),
      ...(this.options.serverExtraArgs ?? []),
      ...extra,
    ];
    const p = this.spawn(this.topo.core.ns, `server fe${i + 1}`, this.command('src/server/main.ts', 'mnat-server.js', args));
    this.frontEnds[i] = p;
    if (i === 0) this.server = p;
    await p.waitForLine(/listening/i, 30_000);
    return p;
  }

  /** The front end (index) a peer address holds an established connection to, from the core's socket table. */
  async frontEndOf(peer: string): Promise<number | null> {
    const out = await this.topo.core.ns.run(['ss', '-Htn', 'state', 'established']);
    for (const line of out.split('\n')) {
      const cols = line.trim().split(/\s+/);
      const local = cols[cols.length - 2] ?? '';
      const remote = cols[cols.length - 1] ?? '';
      const port = Number(local.slice(local.lastIndexOf(':') + 1));
      if (remote.slice(0, remote.lastIndexOf(':')).replace(/^\[|\]$/g, '').replace(/^::ffff:/, '') === peer && port >= SERVER_PORT && port < SERVER_PORT + this.frontEnds.length) {
        return port - SERVER_PORT;
      }
    }
    return null;
  }

  /** server: another --server value (e.g. dns-sd) instead of the core's front ends. */
  private clientArgs(name: string, role: 'egress' | 'ingress', server?: string): string[] {
    const c = this.certs.clients[name];
    if (!c) throw new Error(`no client certificate for ${name}`);
    const ip = this.topo.core.ipv4;
    const servers = this.frontEnds.length > 0 ? this.frontEnds.map((_, i) => (role === 'egress' ? `https://${ip}:${SERVER_PORT + i}` : `${ip}:${SERVER_PORT + i}`)).join(',') : ip;
    const where = server !== undefined ? ['--server', server] : ['--server', servers, '--port', String(SERVER_PORT)];
    return [...where, '--cacert', this.certs.ca, '--cert', c.cert, '--key', c.key];
  }

  /** The lab's pin root and an instance name; none as a user (defaults: /sys/fs/bpf/mnat, the agent's own instance). */
  private pinArgs(instance: string): string[] {
    return this.options.asUser ? [] : ['--pin-root', this.pinRoot, '--instance', instance];
  }

  /** mnat-ingress on the ingress router: up0 (global side) -> core0 (ISP core). */
  async startIngress(extra: string[] = []): Promise<LabProcess> {
    const args = [
      '--upstream-interface', this.topo.ingress.up.dev,
      '--downstream-interface', this.topo.ingress.core.dev,
      ...this.clientArgs('ingress', 'ingress'),
      ...this.pinArgs('ingress'),
      '--status-file', join(this.dir, 'ingress.status.json'),
      ...(this.joinfilePath ? ['--joinfile', this.joinfilePath, '--joinfile-refresh', '5'] : []),
      ...this.mqttFor('ingress'),
      ...(this.options.ingressExtraArgs ?? []),
      ...extra,
    ];
    const p = this.spawn(this.topo.ingress.ns, 'ingress', this.command('src/ingress/main.ts', 'mnat-ingress.js', args), this.options.asUser);
    this.ingress = p;
    await p.waitForLine(/msg=started/, 20_000);
    return p;
  }

  /** mnat-egress on CPE k (1-based): wan (ISP side) -> br-lan. */
  /** opts.server replaces the core's address (e.g. 'dns-sd'); opts.resolvConf becomes the egress's /etc/resolv.conf. */
  async startEgress(k: number, extra: string[] = [], opts: { resolvConf?: string; server?: string } = {}): Promise<LabProcess> {
    const cpe = this.topo.cpes[k - 1];
    if (!cpe) throw new Error(`no CPE ${k}`);
    const args = [
      '--upstream-interface', cpe.wan.dev,
      '--downstream-interface', cpe.lan.dev,
      ...this.clientArgs(`cpe${k}`, 'egress', opts.server),
      ...this.pinArgs(`egress-cpe${k}`),
      '--status-file', join(this.dir, `egress-cpe${k}.status.json`),
      ...this.mqttFor('egress'),
      ...(this.options.egressExtraArgs ?? []),
      ...extra,
    ];
    if (this.egressRuntime === 'qjs') {
      // QuickJS has no sockets: on the router the egress joins through smcroute's daemon.
      let socket = this.smcroute.get(k);
      if (!socket) {
        socket = (await startSmcrouted(cpe.ns)).socketPath;
        this.smcroute.set(k, socket);
      }
      args.push('--join-backend', 'smcroute', '--smcroute-socket', socket);
    }
    const argv =
      this.egressRuntime === 'qjs'
        ? // The open-files limit procd gives the egress on the router (QuickJS closes
          // every descriptor up to it in each child, so it shapes every tool run's cost).
          ['prlimit', '--nofile=1024:1024', '--', this.qjs as string, join(REPO_ROOT, 'dist/mnat-egress.qjs.js'), ...args]
        : this.command('src/egress/main-node.ts', 'mnat-egress.js', args);
    const p = this.spawn(cpe.ns, `egress${k}`, opts.resolvConf ? withResolvConf(opts.resolvConf, argv) : argv, this.options.asUser);
    this.egress[k - 1] = p;
    await p.waitForLine(/msg="?mnat-egress starting/, 20_000);
    return p;
  }

  /**
   * dnsmasq in the core (10.0.0.254 / fd00:c0::fe port 53) serving `zone`
   * (default ispZone), and the lab's resolv.conf pointing at it.
   */
  async startDns(zone: DnsSdZone = ispZone(this.topo), search: readonly string[] = [ISP_DOMAIN]): Promise<string> {
    const core = this.topo.core;
    this.dns = await startDnsmasq(core.ns, [core.ipv4, core.ipv6], zone);
    this.resolvConf = writeResolvConf(join(this.dir, 'resolv.conf'), search, [core.ipv4]);
    return this.resolvConf;
  }

  /**
   * Host n on the ISP core (no CPE): netns linked to br-core on port p-hostN
   * (mcast_flood off and fast leave, like the CPE ports: it gets a local
   * channel only while it has joined it), 10.0.0.(200+n)/24 and
   * fd00:c0::(200+n)/64, multicast routed out of eth0.
   */
  async addCoreHost(n: number): Promise<CoreHost> {
    if (!(n >= 1 && n <= 50)) throw new Error('addCoreHost: n is 1..50');
    const core = this.topo.core;
    const ns = await this.lab.netns(`chost${n}`);
    const port = `p-host${n}`;
    await this.lab.link(core.ns, port, ns, 'eth0');
    await core.ns.run(['ip', 'link', 'set', port, 'master', core.bridge]);
    await core.ns.run(['bridge', 'link', 'set', 'dev', port, 'mcast_flood', 'off', 'fastleave', 'on']);
    const h: CoreHost = { ns, dev: 'eth0', ipv4: `10.0.0.${200 + n}`, ipv6: `fd00:c0::${(200 + n).toString(16)}`, index: n, corePort: port };
    await ns.addr('eth0', `${h.ipv4}/24`);
    await ns.addr('eth0', `${h.ipv6}/64`);
    await ns.route(['224.0.0.0/4', 'dev', 'eth0']);
    await ns.route(['ff30::/12', 'dev', 'eth0']);
    this.coreHosts.push(h);
    return h;
  }

  /** --cacert/--cert/--key for an application on a core host (the server requires client certificates). */
  appTlsArgs(): string[] {
    const c = this.certs.clients.app as { cert: string; key: string };
    return ['--cacert', this.certs.ca, '--cert', c.cert, '--key', c.key];
  }

  /** `mnat-recv ARGS` on a core host, with the lab's resolv.conf as its /etc/resolv.conf when DNS runs. */
  recv(h: CoreHost, args: string[]): LabProcess {
    const argv = this.command('src/receiver/main.ts', 'mnat-recv.js', args);
    return this.spawn(h.ns, `mnat-recv h${h.index}`, this.resolvConf ? withResolvConf(this.resolvConf, argv) : argv);
  }

  /** An application using the receiver library on a core host (lab/traffic/mnat-app.ts: JSON lines). */
  app(h: CoreHost, args: string[]): LabProcess {
    const argv = nodeArgv('lab/traffic/mnat-app.ts', [...args, ...(this.options.fromDist ? ['--from-dist'] : [])]);
    return this.spawn(h.ns, `app h${h.index}`, this.resolvConf ? withResolvConf(this.resolvConf, argv) : argv);
  }

  async startAll(): Promise<void> {
    await this.startServer();
    await Promise.all([this.startIngress(), ...this.topo.cpes.map((c) => this.startEgress(c.index))]);
  }

  /** GET a server path from inside the core namespace as the admin (status page, metrics); `port` picks a front end. */
  async serverGet(path: string, port = SERVER_PORT): Promise<string> {
    const admin = this.certs.clients['mnat-admin'] as { cert: string; key: string };
    return this.topo.core.ns.run(
      ['curl', '-sS', '--fail', '--http2', '--max-time', '3', '--cacert', this.certs.ca, '--cert', admin.cert, '--key', admin.key, `https://127.0.0.1:${port}${path}`],
      5000,
    );
  }

  /** The server's mappings, from its status page: id, global, state, local, egress watcher count. */
  async serverMappings(port = SERVER_PORT): Promise<ServerMapping[]> {
    return parseStatusPage(await this.serverGet('/status', port));
  }

  /** A global sender for ch in the sender namespace (JSON lines; see lab/traffic/sender.ts). */
  sender(ch: GlobalChannel, opts: { rate?: number; count?: number; size?: number; stream?: number } = {}): LabProcess {
    const args = ['--group', ch.group, '--source', ch.source, '--interface', this.topo.sender.dev, '--rate', String(opts.rate ?? 100)];
    if (opts.count !== undefined) args.push('--count', String(opts.count));
    if (opts.size !== undefined) args.push('--size', String(opts.size));
    if (opts.stream !== undefined) args.push('--stream', String(opts.stream));
    return this.spawn(this.topo.sender.ns, `sender ${ch.source},${ch.group}`, nodeArgv('lab/traffic/sender.ts', args));
  }

  /** A LAN receiver joining ch (source-specific) on host (JSON lines; see lab/traffic/receiver.ts). */
  receiver(host: LanHost, ch: GlobalChannel, opts: { noJoin?: boolean; extra?: string[] } = {}): LabProcess {
    const args = ['--group', ch.group, '--source', ch.source, '--interface', host.dev, ...(opts.noJoin ? ['--no-join'] : []), ...(opts.extra ?? [])];
    return this.spawn(host.ns, `h${host.cpe}.${host.index} ${ch.group}`, nodeArgv('lab/traffic/receiver.ts', args));
  }

  host(cpe: number, index: number): LanHost {
    const h = this.topo.cpes[cpe - 1]?.hosts[index - 1];
    if (!h) throw new Error(`no host ${cpe}.${index}`);
    return h;
  }
}

/** Packet counters of every interface in a namespace: name -> {rx, tx} packets. */
export async function linkCounters(ns: Netns): Promise<Map<string, { rx: number; tx: number; rxBytes: number; txBytes: number }>> {
  const out = await ns.run(['ip', '-s', '-j', 'link', 'show']);
  const links = JSON.parse(out) as Array<{ ifname: string; stats64?: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } } }>;
  const m = new Map<string, { rx: number; tx: number; rxBytes: number; txBytes: number }>();
  for (const l of links) {
    if (l.stats64) m.set(l.ifname, { rx: l.stats64.rx.packets, tx: l.stats64.tx.packets, rxBytes: l.stats64.rx.bytes, txBytes: l.stats64.tx.bytes });
  }
  return m;
}

/** True when the process runs as root (the lab needs it). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Whether a command exists on PATH. */
export function haveCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface ServerMapping {
  id: number;
  global: string;
  state: string;
  local: string;
  egressWatchers: number;
}

/** The mappings table of mnat-server's status page. */
export function parseStatusPage(html: string): ServerMapping[] {
  const out: ServerMapping[] = [];
  const row = /<tr><td>(\d+)<\/td><td>\(([^)]*)\)<\/td><td class="[^"]*">([^<]*)<\/td><td>([^<]*)<\/td><td>(\d+)<\/td><\/tr>/g;
  for (let m = row.exec(html); m; m = row.exec(html)) {
    out.push({
      id: Number(m[1]),
      global: (m[2] as string).replace(/\s+/g, ''),
      state: m[3] as string,
      local: (m[4] as string).replace(/[()\s]/g, '').replace('—', '') || '-',
      egressWatchers: Number(m[5]),
    });
  }
  return out;
}

export interface ReceiverStats {
  received: number;
  unique: number;
  duplicates: number;
  missing: number;
  gaps: number;
  badPayload: number;
  sources: Record<string, number>;
  highestSeq: number | null;
}

/** Asks a running receiver (lab/traffic/receiver.ts) for its counters. */
export async function receiverStats(p: LabProcess): Promise<ReceiverStats> {
  return (await p.ask('stats', (e) => e.event === 'stats', 5000)) as unknown as ReceiverStats;
}

/**
 * Polls check until it returns a value other than null/undefined/false, at most
 * timeoutMs, for state with no event to wait on (server tables, kernel maps).
 */
export async function waitFor<T>(check: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, what: string, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== null && v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves once the receiver's unique count has grown by n from now (with the count it started from). */
export async function receiverFlowing(rx: LabProcess, n = 100, timeoutMs = 20_000, what = 'the stream'): Promise<number> {
  const start = (await receiverStats(rx)).unique;
  await waitFor(async () => (await receiverStats(rx)).unique >= start + n, timeoutMs, `${what} to flow (+${n} packets)`);
  return start;
}
