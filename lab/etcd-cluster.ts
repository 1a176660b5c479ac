// A real etcd cluster on loopback for the region tests, lab and benches:
// `etcd` from Debian's etcd-server package (3.4), one process per member with
// its own data directory, started and reaped here. Never touches a system etcd
// service: it runs the binary directly on free loopback ports.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { spawnLabProcess, type LabProcess } from './lab-process.ts';
import type { Netns } from './lab.ts';

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  proc: LabProcess | null;
}

export interface EtcdClusterOptions {
  members?: number;
  /** Where the data directories go (default: /dev/shm when present, else the temp dir). */
  baseDir?: string;
  /** etcd's backend quota (default 4 GiB; etcd's own default is 2 GiB). */
  quotaBytes?: number;
  /** Extra etcd flags for every member. */
  extraArgs?: string[];
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Run the members inside this lab namespace (fixed ports from 23790; killed with the lab). */
  ns?: Netns;
  /** Clients over TLS with client certificates signed by `ca` (PEM files); peers stay plaintext. */
  tls?: { cert: string; key: string; ca: string; clientCert: string; clientKey: string };
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** host:port of every member. */
  readonly endpoints: string[];
  /** etcd://h:p,h:p,h:p/REGION for mnat-server --store. */
  url(region?: string): string;
  /** kill -9 (default) one member. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped member again with its data. */
  restart(index: number): Promise<void>;
  /** Every running member answers /health with a leader. */
  waitHealthy(indexes?: number[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface After {
  after(fn: () => unknown): void;
}

/**
 * A certificate for etcd members signed by the given CA, for 127.0.0.1 and
 * localhost, usable as server and client: with --client-cert-auth etcd's JSON
 * gateway connects to its own gRPC server with it, so it needs clientAuth too.
 */
export function etcdMemberCert(dir: string, caPem: string, caKey: string): { cert: string; key: string } {
  const key = join(dir, 'etcd-member.key');
  const cert = join(dir, 'etcd-member.pem');
  const csr = join(dir, 'etcd-member.csr');
  const ext = join(dir, 'etcd-member.ext');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=etcd-member', '-out', csr], { stdio: 'ignore' });
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', caPem, '-CAkey', caKey, '-CAcreateserial', '-days', '30', '-sha256', '-extfile', ext, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

export const ETCD_BINARY = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p)) ?? null;

/** Ports this process handed out: a port checked free stays free until its member binds it, so two picks could meet. */
const handedOut = new Set<number>();

/**
 * A free TCP port on host, below the kernel's ephemeral range (32768 and up
 * by default), where outgoing connections of this and other processes cannot
 * take it between this check and the member binding it; never one this
 * process handed out before (the six ports of a cluster are picked before
 * any member binds one).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  const tryPort = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, host, () => srv.close(() => resolve(true)));
    });
  return (async () => {
    for (let i = 0; i < 200; i++) {
      const port = 20000 + Math.floor(Math.random() * 12000);
      if (handedOut.has(port) || !(await tryPort(port))) continue;
      handedOut.add(port);
      return port;
    }
    throw new Error('no free port in 20000-31999');
  })();
}

async function healthIn(ns: Netns, host: string, port: number): Promise<boolean> {
  const r = await ns.exec(['curl', '-s', '--max-time', '1', `http://${host}:${port}/health`]);
  return r.code === 0 && /"health":\s*"true"/.test(r.stdout);
}

function health(host: string, port: number, tls?: EtcdClusterOptions['tls']): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { host, port, path: '/health', method: 'GET', timeout: 1000 };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
    };
    const req = tls
      ? httpsRequest({ ...options, ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) }, onResponse)
      : request(options, onResponse);
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export async function startEtcdCluster(t: After | null, options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  if (!ETCD_BINARY) throw new Error('etcd is not installed (Debian: apt-get install etcd-server, or build/setup-debian.sh)');
  const n = options.members ?? 3;
  const host = options.host ?? '127.0.0.1';
  const base = options.baseDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const dir = mkdtempSync(join(base, 'mnat-etcd-'));
  const token = `mnat-${process.pid}-${Date.now().toString(36)}`;
  const members: EtcdMember[] = [];
  const ns = options.ns;
  for (let i = 0; i < n; i++) {
    const [clientPort, peerPort] = ns ? [23790 + 2 * i, 23791 + 2 * i] : [await freePort(host), await freePort(host)];
    members.push({ name: `m${i}`, clientPort, peerPort, dataDir: join(dir, `m${i}`), proc: null });
  }
  const initialCluster = members.map((m) => `${m.name}=http://${host}:${m.peerPort}`).join(',');
  const scheme = options.tls ? 'https' : 'http';
  const tlsArgs = options.tls ? ['--cert-file', options.tls.cert, '--key-file', options.tls.key, '--client-cert-auth', '--trusted-ca-file', options.tls.ca] : [];
  const start = (m: EtcdMember): void => {
    const argv = [
      ETCD_BINARY,
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `${scheme}://${host}:${m.clientPort}`,
      '--advertise-client-urls', `${scheme}://${host}:${m.clientPort}`,
      ...tlsArgs,
      '--listen-peer-urls', `http://${host}:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://${host}:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', token,
      '--initial-cluster-state', 'new',
      '--quota-backend-bytes', String(options.quotaBytes ?? 4 * 1024 * 1024 * 1024),
      '--logger', 'zap',
      '--log-level', 'warn',
      ...(options.extraArgs ?? []),
    ];
    m.proc = ns ? ns.spawn(argv, { label: `etcd ${m.name}` }) : spawnLabProcess(argv, undefined, `etcd ${m.name}`);
  };
  const endpoints = members.map((m) => `${host}:${m.clientPort}`);
  const cluster: EtcdCluster = {
    members,
    endpoints,
    url: (region = 'default') => `etcd://${endpoints.join(',')}/${region}`,
    async kill(index, signal = 'SIGKILL') {
      const m = members[index] as EtcdMember;
      const p = m.proc;
      m.proc = null;
      if (p) await p.kill(signal);
    },
    async restart(index) {
      const m = members[index] as EtcdMember;
      if (m.proc) return;
      start(m);
    },
    async waitHealthy(indexes, timeoutMs = 20_000) {
      const which = indexes ?? members.map((_, i) => i).filter((i) => members[i]?.proc);
      const end = Date.now() + timeoutMs;
      for (const i of which) {
        const m = members[i] as EtcdMember;
        for (;;) {
          if (ns ? await healthIn(ns, host, m.clientPort) : await health(host, m.clientPort, options.tls)) break;
          if (Date.now() > end) throw new Error(`etcd ${m.name} not healthy within ${timeoutMs} ms:\n${m.proc?.lines.slice(-10).join('\n') ?? '(not running)'}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      await Promise.all(members.map((_, i) => cluster.kill(i, 'SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t?.after(() => cluster.stop());
  process.once('exit', () => {
    for (const m of members) {
      try {
        if (m.proc) process.kill(-m.proc.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  for (const m of members) start(m);
  await cluster.waitHealthy();
  return cluster;
}
