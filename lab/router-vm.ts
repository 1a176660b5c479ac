// The router VM as a lab host: qemu-system-x86_64 (TCG) booting the image of
// build/router-vm.sh, with two tap NICs that end up in lab namespaces (the WAN
// as a port of a bridge, the LAN as a host's eth0) and a control channel.
//
// QEMU runs in its own lab namespace (mn-vm-<id>), so a crashed run's VM is
// killed by the next run's cleanupStale like any other lab process. It starts
// paused (-S): once QMP greets, the taps exist; they are moved into their
// namespaces and the guest is let go. Console and QMP socket are files under
// /run/mnat-lab named after that namespace, removed with the lab.
//
// Control channel: a virtio-serial port on QEMU's stdio; the guest side is
// build/router-vm/files/common/usr/lib/mnat-vm/ctl (one base64 script per line,
// one "@@done <id> <status> <base64 output>" line back).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, type Lab, type LabProcess, type Netns } from './lab.ts';
import { MARKER_DIR } from './lab-registry.ts';

export interface RouterVmManifest {
  kernel: { release: string; package: string; version: string };
  init: 'procd' | 'busybox';
  packages: string;
  qjs: { version: string; libc: string; source: string };
  busybox: string;
  openwrt?: string[];
}

export interface RouterVmImage {
  dir: string;
  manifest: RouterVmManifest;
}

/** Builds (or reuses) the image with build/router-vm.sh; MNAT_OPENWRT_SRC and MNAT_QJS_SRC pass through. */
export function buildRouterVmImage(): RouterVmImage {
  let dir: string;
  try {
    dir = execFileSync(join(REPO_ROOT, 'build/router-vm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 }).trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`build/router-vm.sh failed: ${(e.stderr ?? '').trim().split('\n').slice(-8).join('\n') || e.message}`);
  }
  return { dir, manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as RouterVmManifest };
}

export interface VmExecResult {
  code: number;
  output: string;
}

export interface RouterVmOptions {
  /** The namespace and bridge the WAN tap joins as port `wanPort`, with mcast_flood off and fast leave. */
  wan: { ns: Netns; bridge: string; port: string };
  /** The namespace where the LAN tap becomes `dev` (a host's NIC). */
  lan: { ns: Netns; dev: string };
  memoryMiB?: number;
}

/** MAC addresses the image's boot glue names wan and lan1. */
const WAN_MAC = '52:54:00:6d:6e:01';
const LAN_MAC = '52:54:00:6d:6e:02';

export class RouterVm {
  /** ms from spawning QEMU to the guest's "@@ready". */
  bootMs = 0;
  /** Guest uptime (s) when its control channel came up. */
  readyUptimeS = 0;
  readonly startedAt: number;
  private seq = 0;

  private constructor(
    readonly image: RouterVmImage,
    readonly ns: Netns,
    readonly process: LabProcess,
    readonly consoleLog: string,
  ) {
    this.startedAt = Date.now();
  }

  /** Boots the VM inside `lab` and wires its NICs; resolves when the guest's control channel is up. */
  static async start(lab: Lab, image: RouterVmImage, opts: RouterVmOptions): Promise<RouterVm> {
    const ns = await lab.netns('vm');
    const consoleLog = `${MARKER_DIR}/${ns.name}.log`;
    const qmpPath = `${MARKER_DIR}/${ns.name}.qmp`;
    const qboot = '/usr/share/qemu/qboot.rom';
    const argv = [
      'qemu-system-x86_64', '-M', 'pc', '-accel', 'tcg', '-cpu', process.env.MNAT_VM_CPU ?? 'max', '-smp', process.env.MNAT_VM_SMP ?? '1', '-m', String(opts.memoryMiB ?? 384),
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-S',
      ...(existsSync(qboot) ? ['-bios', qboot] : []),
      '-kernel', join(image.dir, 'vmlinuz'), '-initrd', join(image.dir, 'initramfs.cpio.gz'),
      '-append', `console=ttyS0 panic=-1 mitigations=off rdinit=/sbin/init ${process.env.MNAT_VM_APPEND ?? ''}`.trim(),
      '-serial', `file:${consoleLog}`,
      '-qmp', `unix:${qmpPath},server=on,wait=off`,
      '-device', 'virtio-serial-pci', '-chardev', 'stdio,id=ctl,signal=off',
      '-device', 'virtserialport,chardev=ctl,name=org.mnat.ctl',
      '-device', 'virtio-rng-pci',
      '-netdev', 'tap,id=wan,ifname=vm-wan,script=no,downscript=no', '-device', `virtio-net-pci,netdev=wan,mac=${WAN_MAC}`,
      '-netdev', 'tap,id=lan,ifname=vm-lan,script=no,downscript=no', '-device', `virtio-net-pci,netdev=lan,mac=${LAN_MAC}`,
    ];
    const spawnedAt = Date.now();
    const proc = ns.spawn(argv, { label: 'router-vm' });
    const vm = new RouterVm(image, ns, proc, consoleLog);
    try {
      // QMP greets once every device (and so both taps) exists; the guest has not run yet.
      const qmp = await Qmp.connect(qmpPath, proc);
      await qmp.command('qmp_capabilities');
      await moveTap(ns, 'vm-wan', opts.wan.ns, opts.wan.port);
      await opts.wan.ns.run(['ip', 'link', 'set', opts.wan.port, 'master', opts.wan.bridge]);
      await opts.wan.ns.run(['bridge', 'link', 'set', 'dev', opts.wan.port, 'mcast_flood', 'off', 'fastleave', 'on']);
      await opts.wan.ns.up(opts.wan.port);
      await moveTap(ns, 'vm-lan', opts.lan.ns, opts.lan.dev);
      await opts.lan.ns.up(opts.lan.dev);
      await qmp.command('cont');
      qmp.close();
      const ready = await proc.waitForLine(/^@@ready /, 120_000);
      vm.bootMs = Date.now() - spawnedAt;
      vm.readyUptimeS = Number(ready.split(' ')[1]);
      return vm;
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast console lines:\n${vm.consoleTail()}`);
    }
  }

  /** The last lines of the guest's serial console. */
  consoleTail(lines = 30): string {
    try {
      return readFileSync(this.consoleLog, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  | ${l}`).join('\n');
    } catch {
      return '  (no console log)';
    }
  }

  /** Runs a shell script in the guest (BusyBox sh); never throws for a non-zero status. */
  async exec(script: string, timeoutMs = 60_000): Promise<VmExecResult> {
    const id = String(++this.seq);
    const since = this.process.lines.length;
    this.process.write(`${id} ${Buffer.from(script).toString('base64')}`);
    const line = await this.process.waitForLine((l) => l.startsWith(`@@done ${id} `), timeoutMs, since);
    const [, , code, b64 = ''] = line.split(' ');
    return { code: Number(code), output: Buffer.from(b64, 'base64').toString('utf8') };
  }

  /** Runs a script in the guest; returns its output; throws with the output on a non-zero status. */
  async run(script: string, timeoutMs?: number): Promise<string> {
    const r = await this.exec(script, timeoutMs);
    if (r.code !== 0) throw new Error(`in the router VM (exit ${r.code}): ${script.trim().split('\n')[0]}\n${r.output.trim()}`);
    return r.output;
  }

  /** Writes a file in the guest. */
  async put(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
    const b64 = Buffer.from(data).toString('base64');
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    await this.run(`mkdir -p '${dir}' && echo '${b64}' | base64 -d > '${path}' && chmod ${mode.toString(8)} '${path}'`);
  }
}

/** Moves a tap QEMU holds from its namespace into `to` as `name` (QEMU keeps its file descriptor). */
async function moveTap(from: Netns, tap: string, to: Netns, name: string): Promise<void> {
  await from.run(['ip', 'link', 'set', 'dev', tap, 'netns', to.name]);
  await to.run(['ip', 'link', 'set', 'dev', tap, 'name', name]);
}

/** A minimal QMP client: one command at a time, answers matched in order. */
class Qmp {
  private buffer = '';
  private waiters: Array<(msg: Record<string, unknown>) => void> = [];

  private constructor(private readonly socket: import('node:net').Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        this.waiters.shift()?.(msg);
      }
    });
  }

  /** Connects once QEMU listens (it creates the socket during start-up) and reads the greeting. */
  static async connect(path: string, proc: LabProcess, timeoutMs = 30_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const socket = await new Promise<import('node:net').Socket | null>((resolve) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(null));
      });
      if (socket) {
        const qmp = new Qmp(socket);
        await qmp.next(timeoutMs);
        return qmp;
      }
      // The socket appears during QEMU's start-up; nothing announces it, so retry briefly.
      const exited = await Promise.race([proc.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 50))]);
      if (exited) throw new Error(`qemu exited before its QMP socket appeared:\n${proc.lines.slice(-10).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`no QMP socket at ${path} within ${timeoutMs} ms`);
    }
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('QMP: no answer')), timeoutMs);
      this.waiters.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  }

  async command(name: string): Promise<void> {
    const answer = this.next(10_000);
    this.socket.write(JSON.stringify({ execute: name }) + '\n');
    const msg = await answer;
    if ('error' in msg) throw new Error(`QMP ${name}: ${JSON.stringify(msg['error'])}`);
  }

  close(): void {
    this.socket.end();
  }
}
