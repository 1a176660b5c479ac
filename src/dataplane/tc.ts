// The tc side of the translator: the clsact qdisc and the ingress bpf filter
// that runs our pinned program, found again later by its program id.
import type { Host } from '../host/host.ts';
import { deviceGoneError } from './link-info.ts';
import { commandFailed, DataplaneError, runTool } from './tool-exec.ts';

export interface TcFilter {
  readonly pref: number;
  readonly progId: number | null;
}

const GONE = /Cannot find device|No such device|does not exist/i;

/**
 * Runs `tc ARGS` on device: its output; null when it failed in a way `harmless`
 * matches (or the device is gone and `goneIsHarmless`); else 'device-gone', the
 * `unsupported` error when stderr says the kernel lacks it, or 'command-failed'.
 */
async function tc(
  host: Host,
  device: string,
  args: readonly string[],
  harmless: RegExp | null,
  goneIsHarmless = false,
  unsupported?: (stderr: string) => DataplaneError | null,
): Promise<string | null> {
  const argv = ['tc', ...args];
  const result = await runTool(host, argv);
  if (result.code === 0) return result.stdout;
  const err = result.stderr;
  if (GONE.test(err)) {
    if (goneIsHarmless) return null;
    throw deviceGoneError(device);
  }
  if (harmless?.test(err)) return null;
  throw unsupported?.(err) ?? commandFailed(argv, result);
}

/** Which qdisc can carry ingress filters on the device: clsact, the older ingress, or none. */
export async function ingressQdisc(host: Host, device: string): Promise<'clsact' | 'ingress' | null> {
  const qdiscs = JSON.parse((await tc(host, device, ['-j', 'qdisc', 'show', 'dev', device], null)) || '[]') as Array<{ kind?: string }>;
  if (qdiscs.some((q) => q.kind === 'clsact')) return 'clsact';
  if (qdiscs.some((q) => q.kind === 'ingress')) return 'ingress';
  return null;
}

export async function addClsact(host: Host, device: string): Promise<void> {
  await tc(host, device, ['qdisc', 'add', 'dev', device, 'clsact'], null, false, (stderr) =>
    /unknown|not supported|Unknown qdisc/i.test(stderr)
      ? new DataplaneError(
          'no-clsact',
          `the kernel has no clsact qdisc (tc said: ${stderr.trim()}): enable CONFIG_NET_SCH_INGRESS and CONFIG_NET_CLS_BPF (OpenWrt: kmod-sched-core, kmod-sched-bpf)`,
        )
      : null,
  );
}

export async function deleteClsact(host: Host, device: string): Promise<void> {
  await tc(host, device, ['qdisc', 'del', 'dev', device, 'clsact'], /Invalid handle|Cannot find specified qdisc/i, true);
}

export async function listFilters(host: Host, device: string, direction: 'ingress' | 'egress'): Promise<TcFilter[]> {
  const out = await tc(host, device, ['-j', 'filter', 'show', 'dev', device, direction], /Cannot find specified qdisc|Invalid handle/i);
  const entries = JSON.parse(out || '[]') as Array<{ pref?: number; options?: { prog?: { id?: number } } }>;
  // tc prints each pref once bare (the chain head) and once per filter with options.
  return entries
    .filter((e) => typeof e.pref === 'number' && e.options !== undefined)
    .map((e) => ({ pref: e.pref as number, progId: typeof e.options?.prog?.id === 'number' ? e.options.prog.id : null }));
}

/** Attaches the pinned program as a direct-action ingress filter. */
export async function addBpfFilter(host: Host, device: string, progPin: string): Promise<void> {
  await tc(host, device, ['filter', 'add', 'dev', device, 'ingress', 'bpf', 'direct-action', 'object-pinned', progPin], null, false, (stderr) =>
    /unknown filter|bpf.*not supported|Unknown filter/i.test(stderr)
      ? new DataplaneError('no-clsact', `tc cannot attach a bpf filter (${stderr.trim()}): enable CONFIG_NET_CLS_BPF (OpenWrt: kmod-sched-bpf, tc-bpf)`)
      : null,
  );
}

export async function deleteFilter(host: Host, device: string, direction: 'ingress' | 'egress', pref: number): Promise<void> {
  await tc(host, device, ['filter', 'del', 'dev', device, direction, 'pref', String(pref)], /Cannot find specified|not found|No such file/i, true);
}
