// The tc side of the translator: the clsact qdisc and the ingress bpf filter
// that runs our pinned program, found again later by its program id.
import type { Host } from '../host/host.ts';
import { deviceGoneError } from './link-info.ts';
import { commandFailed, DataplaneError, runTool } from './tool-exec.ts';

export interface TcFilter {
  readonly pref: number;
  readonly progId: number | null;
}

function deviceGone(device: string, stderr: string): DataplaneError | null {
  if (/Cannot find device|No such device|does not exist/i.test(stderr)) {
    return deviceGoneError(device);
  }
  return null;
}

/** Which qdisc can carry ingress filters on the device: clsact, the older ingress, or none. */
export async function ingressQdisc(host: Host, device: string): Promise<'clsact' | 'ingress' | null> {
  const argv = ['tc', '-j', 'qdisc', 'show', 'dev', device];
  const result = await runTool(host, argv);
  if (result.code !== 0) throw deviceGone(device, result.stderr) ?? commandFailed(argv, result);
  const qdiscs = JSON.parse(result.stdout || '[]') as Array<{ kind?: string }>;
  if (qdiscs.some((q) => q.kind === 'clsact')) return 'clsact';
  if (qdiscs.some((q) => q.kind === 'ingress')) return 'ingress';
  return null;
}

export async function addClsact(host: Host, device: string): Promise<void> {
  const argv = ['tc', 'qdisc', 'add', 'dev', device, 'clsact'];
  const result = await runTool(host, argv);
  if (result.code === 0) return;
  const gone = deviceGone(device, result.stderr);
  if (gone) throw gone;
  if (/unknown|not supported|Unknown qdisc/i.test(result.stderr)) {
    throw new DataplaneError(
      'no-clsact',
      `the kernel has no clsact qdisc (tc said: ${result.stderr.trim()}): enable CONFIG_NET_SCH_INGRESS and CONFIG_NET_CLS_BPF (OpenWrt: kmod-sched-core, kmod-sched-bpf)`,
    );
  }
  throw commandFailed(argv, result);
}

export async function deleteClsact(host: Host, device: string): Promise<void> {
  const argv = ['tc', 'qdisc', 'del', 'dev', device, 'clsact'];
  const result = await runTool(host, argv);
  if (result.code !== 0 && !deviceGone(device, result.stderr) && !/Invalid handle|Cannot find specified qdisc/i.test(result.stderr)) {
    throw commandFailed(argv, result);
  }
}

export async function listFilters(host: Host, device: string, direction: 'ingress' | 'egress'): Promise<TcFilter[]> {
  const argv = ['tc', '-j', 'filter', 'show', 'dev', device, direction];
  const result = await runTool(host, argv);
  if (result.code !== 0) {
    const gone = deviceGone(device, result.stderr);
    if (gone) throw gone;
    if (/Cannot find specified qdisc|Invalid handle/i.test(result.stderr)) return [];
    throw commandFailed(argv, result);
  }
  const entries = JSON.parse(result.stdout || '[]') as Array<{ pref?: number; options?: { prog?: { id?: number } } }>;
  // tc prints each pref once bare (the chain head) and once per filter with options.
  return entries
    .filter((e) => typeof e.pref === 'number' && e.options !== undefined)
    .map((e) => ({ pref: e.pref as number, progId: typeof e.options?.prog?.id === 'number' ? e.options.prog.id : null }));
}

/** Attaches the pinned program as a direct-action ingress filter. */
export async function addBpfFilter(host: Host, device: string, progPin: string): Promise<void> {
  const argv = ['tc', 'filter', 'add', 'dev', device, 'ingress', 'bpf', 'direct-action', 'object-pinned', progPin];
  const result = await runTool(host, argv);
  if (result.code === 0) return;
  const gone = deviceGone(device, result.stderr);
  if (gone) throw gone;
  if (/unknown filter|bpf.*not supported|Unknown filter/i.test(result.stderr)) {
    throw new DataplaneError('no-clsact', `tc cannot attach a bpf filter (${result.stderr.trim()}): enable CONFIG_NET_CLS_BPF (OpenWrt: kmod-sched-bpf, tc-bpf)`);
  }
  throw commandFailed(argv, result);
}

export async function deleteFilter(host: Host, device: string, direction: 'ingress' | 'egress', pref: number): Promise<void> {
  const argv = ['tc', 'filter', 'del', 'dev', device, direction, 'pref', String(pref)];
  const result = await runTool(host, argv);
  if (result.code !== 0 && !deviceGone(device, result.stderr) && !/Cannot find specified|not found|No such file/i.test(result.stderr)) {
    throw commandFailed(argv, result);
  }
}
