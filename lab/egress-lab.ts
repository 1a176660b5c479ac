// Shared setup of the egress lab tests and benchmarks: the reference topology,
// a real mnat-server over HTTP/2 + TLS in the ingress namespace (certificates
// from build/dev-certs.sh), and mnat-egress in cpe1 under Node or the real qjs.
// The local source is the ingress's core address, so a sender there plays the
// ingress: (Sl,Gl) travels through the core bridge only while the CPE joined it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs } from '../build/qjs-bundle.mjs';
import { createLab, labPinRoot, nodeArgv, REPO_ROOT, type Lab, type LabProcess } from './lab.ts';
import { startSmcrouted } from './smcroute.ts';
import { buildTopology, type Topology } from './topology.ts';

export const RX = 'lab/traffic/receiver.ts';
export const TX = 'lab/traffic/sender.ts';
/** The qjs the tests run: $MNAT_QJS (a build of another QuickJS version or libc, see build/qjs.sh), else CI's. */
export const QJS = process.env.MNAT_QJS || join(REPO_ROOT, '.cache/qjs/qjs');
/** "QuickJS 2025-09-13, musl": the version a qjs prints and the libc it is linked against (its ELF interpreter). */
export function describeQjs(qjs: string = QJS): string {
  const version = /QuickJS version (\S+)/.exec(spawnSync(qjs, ['-h'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '?';
  const binary = readFileSync(qjs).toString('latin1');
  const libc = binary.includes('ld-musl') ? 'musl' : binary.includes('ld-linux') ? 'glibc' : 'static';
  return `QuickJS ${version}, ${libc}`;
}

/** What users run: the bundles `npm run build` makes. */
export const DIST_EGRESS = { node: join(REPO_ROOT, 'dist/mnat-egress.js'), qjs: join(REPO_ROOT, 'dist/mnat-egress.qjs.js') };
export const BPF_OBJECT = join(REPO_ROOT, 'dist/mnat-translator.bpf.o');
export const isEvent = (name: string) => (e: Record<string, unknown>) => e.event === name;

export type Runtime = 'node' | 'qjs';

export interface EgressLab {
  lab: Lab;
  topo: Topology;
  dir: string;
  /** The agents' --pin-root in the root bpffs; '' with asUser (the egress pins in its own mount namespace). */
  pinRoot: string;
  /** `smcroutectl -u SOCKET` of the CPE's smcrouted (qjs: the smcroute join backend); null on Node. */
  smcroutectl: string[] | null;
  statusFile: string;
  server: LabProcess;
  startServer(): Promise<LabProcess>;
  egress: LabProcess;
  /** bare: only the lab's pin root, BPF object and join backend; the rest from `extra` (e.g. --uci). */
  startEgress(extra?: string[], bare?: boolean): Promise<LabProcess>;
  egressArgv(extra?: string[], bare?: boolean): string[];
  /** The UCI file a router would have, pointing at this lab's server and certificates. */
  writeUci(options: Record<string, string>): string;
  /** Waits for the egress to translate (Sl,Gl) -> global and returns Sl,Gl. */
  waitForMapping(global: { source: string; group: string }, since?: number): Promise<{ source: string; group: string }>;
  status(): Record<string, unknown> | null;
  metrics(): Promise<string>;
}

let qjsBundle: Promise<string> | null = null;
/** The QuickJS bundle of the egress, built once per test process. */
export function egressQjsBundle(): Promise<string> {
  qjsBundle ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnat-egress-qjs-'));
    const out = join(dir, 'mnat-egress.qjs.js');
    await bundleQuickjs(join(REPO_ROOT, 'src/egress/main-qjs.ts'), out);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    return out;
  })();
  return qjsBundle;
}

export function requirements(runtime: Runtime, asUser = false): string | null {
  if (!existsSync(BPF_OBJECT)) return `${BPF_OBJECT} is missing: run npm run build`;
  if (runtime === 'qjs' && !existsSync(QJS)) return `${QJS} is missing: run build/qjs.sh`;
  if (asUser && !existsSync(DIST_EGRESS[runtime])) return `${DIST_EGRESS[runtime]} is missing: run npm run build`;
  return null;
}

const MAPPED = /msg="translate \(([^,]+),([^)]+)\) -> \(([^,]+),([^)]+)\) to br-lan"/;

export async function createEgressLab(
  t: { after(fn: () => Promise<void> | void): void },
  opts: {
    runtime: Runtime;
    hostsPerCpe?: number;
    serverArgs?: string[];
    egressArgs?: string[];
    pool?: unknown;
    egressPrefix?: string[];
    /**
     * Start the egress as users do: dist's bundle under `ip netns exec` (a fresh /sys,
     * no bpffs), with the default pin root, so the egress mounts bpffs itself.
     */
    asUser?: boolean;
  },
): Promise<EgressLab> {
  const lab = await createLab(t);
  const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: opts.hostsPerCpe ?? 1 });
  const dir = mkdtempSync(join(tmpdir(), `mnat-egress-${lab.id}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('sh', [join(REPO_ROOT, 'build/dev-certs.sh'), dir, topo.ingress.core.ipv4, 'egress'], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'pool.json'),
    JSON.stringify(
      opts.pool ?? {
        'group-pool': {
          ranges: [
            { 'group-range': '239.77.0.0/24', 'source-range': `${topo.ingress.core.ipv4}/32` },
            { 'group-range': 'ff35::77:0/120', 'source-range': `${topo.ingress.core.ipv6}/128` },
          ],
        },
      },
    ),
  );
  const cpe = topo.cpes[0]!;
  const pinRoot = opts.asUser ? '' : labPinRoot(lab.id);
  // After the lab is gone (node:test runs after-hooks in order): an egress killed with it leaves its pins.
  if (pinRoot) t.after(() => rmSync(pinRoot, { recursive: true, force: true }));
  const statusFile = join(dir, 'egress.json');
  let smcrouteSocket: string | null = null;
  if (opts.runtime === 'qjs') smcrouteSocket = (await startSmcrouted(cpe.ns)).socketPath;
  const smcroutectl = smcrouteSocket ? ['smcroutectl', '-u', smcrouteSocket] : null;
  const bundle = opts.runtime !== 'qjs' ? null : opts.asUser ? DIST_EGRESS.qjs : await egressQjsBundle();

  const serverArgv = (): string[] =>
    nodeArgv('src/server/main.ts', [
      '--listen', `${topo.ingress.core.ipv4}:8443`,
      '--tls-cert', join(dir, 'server.pem'),
      '--tls-key', join(dir, 'server.key'),
      '--pool', join(dir, 'pool.json'),
      '--state-dir', join(dir, 'state'),
      ...((opts.serverArgs ?? []).includes('--grace-period') ? [] : ['--grace-period', '2']),
      ...((opts.serverArgs ?? []).includes('--refresh-period') ? [] : ['--refresh-period', '5']),
      ...(opts.serverArgs ?? []),
    ]);
  const egressArgv = (extra: string[] = [], bare = false): string[] => {
    const common = [
      // As a user: the default pin root and the BPF object found next to the bundle.
      ...(pinRoot ? ['--pin-root', pinRoot, '--bpf-object', BPF_OBJECT] : []),
      ...(smcrouteSocket ? ['--join-backend', 'smcroute', '--smcroute-socket', smcrouteSocket] : []),
    ];
    const args = bare ? [...common, ...extra] : [
      '--upstream-interface', 'wan',
      '--downstream-interface', 'br-lan',
      '--server', topo.ingress.core.ipv4,
      '--port', '8443',
      '--cacert', join(dir, 'ca.pem'),
      '--cert', join(dir, 'egress.pem'),
      '--key', join(dir, 'egress.key'),
      '--status-file', statusFile,
      ...([...extra, ...(opts.egressArgs ?? [])].includes('--log-level') ? [] : ['--log-level', 'debug']),
      ...common,
      ...(opts.egressArgs ?? []),
      ...extra,
    ];
    const node = opts.asUser ? [process.execPath, DIST_EGRESS.node, ...args] : nodeArgv('src/egress/main-node.ts', args);
    return [...(opts.egressPrefix ?? []), ...(bundle ? [QJS, bundle, ...args] : node)];
  };

  const el: EgressLab = {
    lab,
    topo,
    dir,
    pinRoot,
    smcroutectl,
    statusFile,
    server: null as unknown as LabProcess,
    egress: null as unknown as LabProcess,
    async startServer() {
      const p = topo.ingress.ns.spawn(serverArgv(), { label: 'mnat-server' });
      await p.waitForLine(/listening/i, 15_000);
      el.server = p;
      return p;
    },
    egressArgv,
    async startEgress(extra = [], bare = false) {
      const p = cpe.ns.spawn(egressArgv(extra, bare), { label: `mnat-egress (${opts.runtime}${opts.asUser ? ', ip netns exec' : ''})`, asUser: opts.asUser === true });
      await p.waitForLine(/mnat-egress starting/, 15_000);
      el.egress = p;
      return p;
    },
    async waitForMapping(global, since = 0) {
      const line = await el.egress.waitForLine(
        (l) => {
          const m = MAPPED.exec(l);
          return m !== null && m[3] === global.source && m[4] === global.group;
        },
        20_000,
        since,
      );
      const m = MAPPED.exec(line)!;
      return { source: m[1]!, group: m[2]! };
    },
    writeUci(options) {
      const all: Record<string, string> = {
        server: topo.ingress.core.ipv4,
        port: '8443',
        cacert: join(dir, 'ca.pem'),
        cert: join(dir, 'egress.pem'),
        key: join(dir, 'egress.key'),
        upstream: 'wan',
        downstream: 'br-lan',
        status_file: statusFile,
        log_level: 'debug',
        ...options,
      };
      const file = join(dir, 'mnat');
      const lines = ["config egress 'egress'", ...Object.entries(all).map(([k, v]) => `\toption ${k} '${v}'`)];
      writeFileSync(file, lines.join('\n') + '\n');
      return file;
    },
    status() {
      try {
        return JSON.parse(readFileSync(statusFile, 'utf8')) as Record<string, unknown>;
      } catch {
        return null;
      }
    },
    async metrics() {
      return cpe.ns.run(['curl', '-s', '--http2', '--cacert', join(dir, 'ca.pem'), '--cert', join(dir, 'egress.pem'), '--key', join(dir, 'egress.key'), `https://${topo.ingress.core.ipv4}:8443/metrics`]);
    },
  };
  await el.startServer();
  return el;
}

/** Polls fn (bounded) where there is no event to await, e.g. kernel state after an exit. */
export async function eventually<T>(fn: () => Promise<T | null | false> | T | null | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the egress left in the CPE: qdiscs/filters on wan, pins, memberships. */
export async function leftovers(el: EgressLab): Promise<string[]> {
  const ns = el.topo.cpes[0]!.ns;
  const found: string[] = [];
  const qdisc = await ns.exec(['tc', 'qdisc', 'show', 'dev', 'wan']);
  if (/clsact/.test(qdisc.stdout)) found.push(`qdisc: ${qdisc.stdout.trim()}`);
  const filters = await ns.exec(['tc', 'filter', 'show', 'dev', 'wan', 'ingress']);
  if (filters.stdout.trim() !== '') found.push(`filter: ${filters.stdout.trim()}`);
  if (el.pinRoot && existsSync(el.pinRoot)) found.push(`pin root ${el.pinRoot} still exists`);
  const mc4 = await ns.exec(['cat', '/proc/net/mcfilter']);
  if (mc4.stdout.trim().split('\n').length > 1) found.push(`mcfilter: ${mc4.stdout.trim()}`);
  const mc6 = await ns.exec(['cat', '/proc/net/mcfilter6']);
  if (mc6.stdout.trim().split('\n').length > 1) found.push(`mcfilter6: ${mc6.stdout.trim()}`);
  return found;
}
