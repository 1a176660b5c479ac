// Runs a command in a private mount namespace (`unshare -m`) set up the way a
// freshly started machine or `ip netns exec` leaves it: a sysfs without bpffs
// under it, and a read-only filesystem. Nothing leaks to the caller's mounts.
import { execArgv, type ExecOutcome } from './lab-exec.ts';

export interface FreshMounts {
  /** Mount a fresh sysfs here: its fs/bpf is a plain sysfs directory, no bpffs. */
  readonly sysfsAt?: string;
  /** Mount an empty read-only tmpfs here. */
  readonly readOnlyAt?: string;
  /** Lazily unmount whatever is mounted at these (e.g. /sys/fs/bpf) first. */
  readonly unmount?: readonly string[];
}

/** Runs argv (bounded by timeoutMs) in its own mount namespace prepared as `mounts` says. */
export function runWithFreshMounts(mounts: FreshMounts, argv: readonly string[], timeoutMs = 20_000, env?: Record<string, string>): Promise<ExecOutcome> {
  const steps: string[] = [];
  const args: string[] = [];
  const arg = (value: string): string => {
    args.push(value);
    return `"$${args.length}"`;
  };
  for (const dir of mounts.unmount ?? []) steps.push(`{ ! mountpoint -q ${arg(dir)} || umount -l "$${args.length}"; }`);
  if (mounts.sysfsAt) steps.push(`mount -t sysfs sysfs ${arg(mounts.sysfsAt)}`);
  if (mounts.readOnlyAt) steps.push(`mount -t tmpfs -o ro,size=64k tmpfs ${arg(mounts.readOnlyAt)}`);
  steps.push(`shift ${args.length}`, 'exec "$@"');
  const script = steps.join(' && ');
  const envArgv = env ? ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)] : [];
  return execArgv(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args, ...envArgv, ...argv], timeoutMs);
}
