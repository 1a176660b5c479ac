// Is the translator's pin root on a bpf filesystem? Decided by the filesystem
// type in /proc/self/mountinfo (Node and QuickJS read it alike), not by what
// mkdir answers: in a fresh /sys without bpffs (`ip netns exec`, a router before
// its boot script ran) sysfs refuses the pin directory with a misleading ENOENT.
import type { Host } from '../host/host.ts';
import { runTool } from './tool-exec.ts';

/** Where OpenWrt's /etc/init.d/boot (and systemd) mount bpffs. */
export const BPFFS = '/sys/fs/bpf';

const under = (path: string, dir: string): boolean => dir === '/' || path === dir || path.startsWith(dir + '/');

/**
 * The type of the filesystem path is on ("bpf", "sysfs", …) in mountinfo text:
 * that of the longest mount point above it; of two at one point, the later
 * line (mounted on top). Mount points with escaped characters (spaces) never
 * match: a pin root has none.
 */
export function fsTypeAt(mountinfo: string, path: string): string | null {
  let best = '';
  let type: string | null = null;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const at = f[4];
    if (at !== undefined && under(path, at) && at.length >= best.length) {
      best = at;
      type = f[f.indexOf('-', 6) + 1] ?? null;
    }
  }
  return type;
}

/**
 * Makes sure pinRoot is on bpffs, mounting it at /sys/fs/bpf when pinRoot is
 * below it (as OpenWrt does at boot). Returns null, or one line saying what to mount.
 */
export async function ensureBpffs(host: Host, pinRoot: string): Promise<string | null> {
  const type = (): string | null => fsTypeAt(host.readFile('/proc/self/mountinfo') ?? '', pinRoot);
  const found = type();
  if (found === 'bpf') return null;
  const ours = under(pinRoot, BPFFS);
  let failed = '';
  if (ours) {
    const r = await runTool(host, ['mount', '-t', 'bpf', 'bpf', BPFFS]).catch((err: Error) => ({ stderr: err.message }));
    if (type() === 'bpf') {
      host.log.info('mounted bpffs', { at: BPFFS, was: found ?? '?' });
      return null;
    }
    failed = `, and mounting it failed: ${r.stderr.trim()}`;
  }
  return `bpffs: ${pinRoot} is on ${found ?? '?'}, not bpffs${failed}; mount it: mount -t bpf bpf ${ours ? BPFFS : pinRoot} (as OpenWrt's /etc/init.d/boot does)`;
}
