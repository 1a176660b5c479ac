// The network-namespace lab: namespaces, veth links, addresses, snooping
// bridges and processes inside namespaces, all named with a per-run id and all
// removed on destroy (also when a test fails, and at process exit).
//
// Usage:
//   const lab = await createLab(t);          // t.after(destroy) is registered
//   const a = await lab.netns('a'), b = await lab.netns('b');
//   await lab.link(a, 'eth0', b, 'eth0');
//   await a.addr('eth0', '10.0.0.1/24');
//   const p = a.spawn(nodeArgv('lab/traffic/receiver.ts', [...]));
//   await p.waitForJson((e) => e.event === 'joined');
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { execArgv, runArgv, type ExecOutcome } from './lab-exec.ts';
import { spawnLabProcess, type LabProcess } from './lab-process.ts';
import { cleanupStale, deleteNamespace, removeLabFiles, removeMarker, writeMarker } from './lab-registry.ts';
import { readMdb, waitForMdb, mdbHasChannel, type MdbEntry } from './lab-mdb.ts';

export type { LabProcess } from './lab-process.ts';
export type { MdbEntry } from './lab-mdb.ts';
export { cleanupStale, labPinRoot } from './lab-registry.ts';
export { parseMdbJson, mdbHasChannel } from './lab-mdb.ts';

/** Absolute path of the repository root (for scripts and the ts loader). */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * argv that runs argv inside netns `name`. nsenter switches only the network
 * namespace: unlike `ip netns exec`, which remounts /sys in a private mount
 * namespace and so hides /sys/fs/bpf, BPF pins stay visible and shared.
 */
export function inNetns(name: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${name}`, '--', ...argv];
}

/** The iproute2 `ip` binary by absolute path (a test may run a process with a PATH that lacks it). */
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';

/**
 * argv that runs argv inside netns `name` the way users start the agents:
 * `ip netns exec`, which gives the process its own mount namespace with a fresh
 * /sys. Nothing is mounted there for it (no bpffs): the agent meets the machine
 * as a newly booted one, and its pins vanish with it.
 */
export function asUserInNetns(name: string, argv: readonly string[]): string[] {
  return [IP, 'netns', 'exec', name, ...argv];
}

/** argv that runs a TypeScript (or .mjs) script of this repo with node and the ts loader. */
export function nodeArgv(script: string, args: readonly string[] = []): string[] {
  const abs = script.startsWith('/') ? script : REPO_ROOT + script;
  return [process.execPath, '--import', REPO_ROOT + 'build/ts-loader.mjs', abs, ...args];
}

export interface Netns {
  readonly name: string;
  /** Runs argv inside the namespace; returns stdout; throws with stderr on failure. */
  run(argv: readonly string[], timeoutMs?: number): Promise<string>;
  /** Runs argv inside the namespace; never throws for a non-zero exit. */
  exec(argv: readonly string[], timeoutMs?: number): Promise<ExecOutcome>;
  /**
   * Starts argv inside the namespace; killed on lab destroy. asUser: through
   * `ip netns exec` (asUserInNetns) instead of nsenter, as users start agents.
   */
  spawn(argv: readonly string[], opts?: { env?: Record<string, string>; label?: string; asUser?: boolean }): LabProcess;
  /** Adds an address (CIDR) to dev; IPv6 addresses get nodad so they are usable at once. */
  addr(dev: string, cidr: string): Promise<void>;
  /** `ip link set dev up`. */
  up(dev: string): Promise<void>;
  /** Adds a route: `ip [-6] route add <args...>` (family picked from the first argument). */
  route(args: readonly string[]): Promise<void>;
  sysctl(key: string, value: string | number): Promise<void>;
  /** The multicast database of a bridge in this namespace. */
  mdb(bridge: string): Promise<MdbEntry[]>;
  /** Waits (event-driven, bounded) until predicate holds on the bridge's mdb. */
  waitForMdb(bridge: string, predicate: (e: MdbEntry[]) => boolean, timeoutMs?: number, what?: string): Promise<MdbEntry[]>;
  /** Waits until the bridge's table has (or, with present=false, no longer has) an (S,G) entry on port. */
  waitForMdbChannel(bridge: string, port: string, source: string, group: string, present?: boolean, timeoutMs?: number): Promise<void>;
}

export interface BridgePortOptions {
  /** false: `mcast_flood off` — the port gets no unregistered multicast, only what its joins register. */
  mcastFlood?: boolean;
  /** IGMP/MLD fast leave on the port (removes a group at once on a leave). */
  fastLeave?: boolean;
}

export interface BridgeOptions {
  /** Ports to enslave (already existing in the namespace, ideally with carrier). */
  ports?: Array<string | { name: string } & BridgePortOptions>;
  /** Addresses (CIDR) on the bridge device; the querier uses them as source (mcast_query_use_ifaddr). */
  addresses?: string[];
  /** Shorthand: mcast_flood off on every port listed in ports (a port's own mcastFlood wins). */
  mcastFloodOff?: boolean;
  snooping?: boolean;   // default true
  querier?: boolean;    // default true
  /** Max response time in centiseconds; also how long the kernel waits before trusting its own querier (default 50). */
  queryResponseIntervalCs?: number;
  /** Last-member query interval in centiseconds (default 20) and count (default 2): bounds the leave latency. */
  lastMemberIntervalCs?: number;
  lastMemberCount?: number;
}

export interface Lab {
  /** Unique per run; the suffix of every namespace name. */
  readonly id: string;
  /** Creates netns `mn-<role>-<id>` with lo up and IPv6 DAD off. role: [a-z0-9]{1,12}. */
  netns(role: string): Promise<Netns>;
  /** A veth pair aIf (in a) ↔ bIf (in b), both up. Names are per namespace (≤ 15 chars). */
  link(a: Netns, aIf: string, b: Netns, bIf: string, opts?: { mtu?: number }): Promise<void>;
  /** A bridge with IGMPv3/MLDv2 snooping and (by default) a querier that the kernel already trusts when this resolves. */
  addBridge(ns: Netns, name: string, opts?: BridgeOptions): Promise<void>;
  /** Every namespace created so far. */
  readonly namespaces: readonly Netns[];
  /** Kills the lab's processes and deletes its namespaces. Idempotent. */
  destroy(): Promise<void>;
}

const live = new Set<LabImpl>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the test runner exits without running t.after (crash, process.exit).
  process.on('exit', () => {
    for (const lab of live) lab.destroySync();
  });
}

function newLabId(): string {
  // 7 base36 chars: short enough for names, random enough that concurrent runs never collide.
  const n = randomBytes(5).readUIntBE(0, 5);
  return n.toString(36).padStart(7, '0').slice(-7);
}

class LabImpl implements Lab {
  readonly id = newLabId();
  readonly namespaces: Netns[] = [];
  private readonly processes: LabProcess[] = [];
  private destroying: Promise<void> | null = null;

  async netns(role: string): Promise<Netns> {
    if (!/^[a-z0-9]{1,12}$/.test(role)) throw new Error(`lab netns role "${role}": use 1-12 of [a-z0-9]`);
    const name = `mn-${role}-${this.id}`;
    await runArgv(['ip', 'netns', 'add', name]);
    const ns = this.makeNetns(name);
    this.namespaces.push(ns);
    await ns.run(['ip', 'link', 'set', 'lo', 'up']);
    await ns.run(['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    return ns;
  }

  private makeNetns(name: string): Netns {
    const inNs = (argv: readonly string[]): string[] => inNetns(name, argv);
    const self = this;
    const ns: Netns = {
      name,
      run: (argv, timeoutMs) => runArgv(inNs(argv), timeoutMs),
      exec: (argv, timeoutMs) => execArgv(inNs(argv), timeoutMs),
      spawn(argv, opts) {
        const p = spawnLabProcess(opts?.asUser ? asUserInNetns(name, argv) : inNs(argv), opts?.env, opts?.label ?? `[${name}] ${argv.join(' ')}`);
        self.processes.push(p);
        return p;
      },
      async addr(dev, cidr) {
        const v6 = cidr.includes(':');
        await runArgv(['ip', '-n', name, ...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev, ...(v6 ? ['nodad'] : [])]);
      },
      async up(dev) {
        await runArgv(['ip', '-n', name, 'link', 'set', dev, 'up']);
      },
      async route(args) {
        const v6 = (args[0] ?? '').includes(':') || args.some((a) => /^[0-9a-f]*:[0-9a-f:]*(\/\d+)?$/i.test(a));
        await runArgv(['ip', '-n', name, ...(v6 ? ['-6'] : []), 'route', 'add', ...args]);
      },
      async sysctl(key, value) {
        await runArgv(inNs(['sysctl', '-qw', `${key}=${value}`]));
      },
      mdb: (bridge) => readMdb(name, bridge),
      waitForMdb: (bridge, predicate, timeoutMs, what) => waitForMdb(name, bridge, predicate, timeoutMs, what),
      async waitForMdbChannel(bridge, port, source, group, present = true, timeoutMs = 10_000) {
        await waitForMdb(
          name,
          bridge,
          (e) => mdbHasChannel(e, port, source, group) === present,
          timeoutMs,
          `${present ? '' : 'no '}(${source},${group}) on port ${port}`,
        );
      },
    };
    return ns;
  }

  async link(a: Netns, aIf: string, b: Netns, bIf: string, opts: { mtu?: number } = {}): Promise<void> {
    for (const n of [aIf, bIf]) if (n.length > 15) throw new Error(`device name "${n}" is longer than 15 characters (IFNAMSIZ)`);
    // Created directly inside the target namespaces, so the root namespace never sees the names.
    await runArgv([
      'ip', 'link', 'add', aIf, 'netns', a.name, ...(opts.mtu ? ['mtu', String(opts.mtu)] : []),
      'type', 'veth', 'peer', 'name', bIf, 'netns', b.name, ...(opts.mtu ? ['mtu', String(opts.mtu)] : []),
    ]);
    await Promise.all([a.up(aIf), b.up(bIf)]);
  }

  async addBridge(ns: Netns, name: string, opts: BridgeOptions = {}): Promise<void> {
    const snooping = opts.snooping ?? true;
    const querier = opts.querier ?? true;
    const responseCs = opts.queryResponseIntervalCs ?? 50;
    await ns.run([
      'ip', 'link', 'add', name, 'type', 'bridge',
      'mcast_snooping', snooping ? '1' : '0',
      'mcast_igmp_version', '3', 'mcast_mld_version', '2',
      'mcast_query_use_ifaddr', '1',
      'mcast_query_response_interval', String(responseCs),
      'mcast_last_member_interval', String(opts.lastMemberIntervalCs ?? 20),
      'mcast_last_member_count', String(opts.lastMemberCount ?? 2),
      'mcast_startup_query_interval', '100',
    ]);
    for (const p of opts.ports ?? []) {
      const port = typeof p === 'string' ? { name: p } : p;
      await ns.run(['ip', 'link', 'set', port.name, 'master', name]);
      const flags: string[] = [];
      if ((port.mcastFlood ?? !opts.mcastFloodOff) === false) flags.push('mcast_flood', 'off');
      if (port.fastLeave) flags.push('fastleave', 'on');
      if (flags.length > 0) await ns.run(['bridge', 'link', 'set', 'dev', port.name, ...flags]);
    }
    for (const a of opts.addresses ?? []) await ns.addr(name, a);
    await ns.up(name);
    if (!snooping || !querier) return;
    // The MLD querier needs the bridge's link-local address; without it the first
    // query fails and the next comes only a startup interval later.
    await waitForLinkLocal(ns, name);
    await ns.run(['ip', 'link', 'set', name, 'type', 'bridge', 'mcast_querier', '1']);
    // The kernel trusts its own querier (and forwards by the table instead of
    // flooding) only after one query response interval: a kernel timer with no
    // event to wait on, so this is a deadline derived from the bridge's setting.
    await new Promise((r) => setTimeout(r, responseCs * 10 + 100));
  }

  async destroy(): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all(this.processes.map((p) => p.kill().catch(() => null)));
      for (const ns of [...this.namespaces].reverse()) await deleteNamespace(ns.name);
      removeLabFiles(this.id);
      removeMarker(this.id);
      live.delete(this);
    })();
    return this.destroying;
  }

  destroySync(): void {
    for (const ns of this.namespaces) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        for (const p of pids.split('\n')) if (Number(p) > 0) process.kill(Number(p), 'SIGKILL');
      } catch {
        // gone already
      }
      try {
        execFileSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
      } catch {
        // gone already
      }
    }
    removeLabFiles(this.id);
    removeMarker(this.id);
  }
}

async function waitForLinkLocal(ns: Netns, dev: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await ns.run(['ip', '-6', '-j', 'addr', 'show', 'dev', dev, 'scope', 'link']);
    const info = JSON.parse(out || '[]') as Array<{ addr_info?: Array<{ tentative?: boolean }> }>;
    const ok = info.some((i) => (i.addr_info ?? []).some((a) => !a.tentative));
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(`${dev} in ${ns.name} got no IPv6 link-local address within ${timeoutMs} ms (is a port up with carrier?)`);
    }
    // No event for address assignment that we can subscribe to cheaply here; addrconf acts within ms.
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Mounts bpffs at /sys/fs/bpf if it is not mounted (translator pins live there; lab namespaces share it). */
export async function ensureBpffs(): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf')) return;
  await runArgv(['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf']);
}

/**
 * A new lab. Removes leftovers of crashed runs first (only those whose owner
 * process is dead). With t (a node:test context), destroy runs in t.after.
 */
export async function createLab(t?: { after(fn: () => Promise<void> | void): void }): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces); run the lab tests as root');
  await cleanupStale();
  await ensureBpffs();
  const lab = new LabImpl();
  writeMarker(lab.id);
  live.add(lab);
  installExitHook();
  t?.after(() => lab.destroy());
  return lab;
}
