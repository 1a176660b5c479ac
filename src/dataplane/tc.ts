// The tc side of the translator: the clsact qdisc and the ingress bpf filter
// that runs our pinned program, found again later by its program id.
import type { Host } from '../host/host.ts';
import { deviceGoneError } from './link-info.ts';
import { commandFailed, DataplaneError, runTool } from './tool-exec.ts';

export interface TcFilter {
  readonly pref: number;
  readonly progId: number | null;
  /** The bpf program's name ("mnat_translate"); null for other filter kinds. */
  readonly progName: string | null;
}

const GONE = /Cannot find device|No such device|does not exist/i;
/** The device has no clsact (or it went meanwhile). */
const NO_QDISC = /Cannot find specified qdisc|Invalid handle/i;

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

export interface TcState {
  /** The qdisc that can carry ingress filters: clsact, the older ingress one, or none. */
  readonly qdisc: 'clsact' | 'ingress' | null;
  readonly ingressFilters: TcFilter[];
  readonly egressFilters: TcFilter[];
}

type FilterJson = Array<{ kind?: string; pref?: number; options?: { prog?: { id?: number; name?: string } } }>;

/** tc prints each pref once bare (the chain head) and once per filter with options. */
function filtersOf(entries: FilterJson | undefined): TcFilter[] {
  return (entries ?? [])
    .filter((e) => typeof e.pref === 'number' && e.options !== undefined)
    .map((e) => ({ pref: e.pref as number, progId: e.options?.prog?.id ?? null, progName: e.options?.prog?.name ?? null }));
}

/**
 * The device's qdiscs and both directions' filters in one exec (`tc -j -batch`:
 * one JSON document per line); null when the device is gone. On a router one
 * exec is a good part of a second, and a stop has procd's term_timeout.
 */
export async function tcState(host: Host, device: string): Promise<TcState | null> {
  const dev = `dev ${device}`;
  const argv = ['tc', '-j', '-batch', '-'];
  const r = await runTool(host, argv, `qdisc show ${dev}\nfilter show ${dev} ingress\nfilter show ${dev} egress\n`);
  if (r.code !== 0) {
    if (GONE.test(r.stderr)) return null;
    // The qdisc went between the commands: no filters then.
    if (!NO_QDISC.test(r.stderr)) throw commandFailed(argv, r);
  }
  const [qdiscs, ingress, egress] = r.stdout.split('\n').filter((l) => l.startsWith('[')).map((l) => JSON.parse(l) as FilterJson);
  const kinds = (qdiscs ?? []).map((q) => q.kind);
  const qdisc = kinds.includes('clsact') ? 'clsact' : kinds.includes('ingress') ? 'ingress' : null;
  // Without a qdisc tc lists no filters (prints [] or fails, which ends the batch).
  return { qdisc, ingressFilters: filtersOf(ingress), egressFilters: filtersOf(egress) };
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
  await tc(host, device, ['qdisc', 'del', 'dev', device, 'clsact'], NO_QDISC, true);
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
