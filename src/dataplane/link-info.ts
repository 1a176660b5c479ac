// Network device lookups (ifindex and MAC) through `ip -j link`, run via the
// Host so that a Host bound to another network namespace sees that namespace.
// Without an iproute2 `ip` (a router with only BusyBox's), they read /proc/net/dev
// and /sys/class/net instead (the current namespace's, as mounted).
import type { ExecResult, Host } from '../host/host.ts';
import { DataplaneError, runTool } from './tool-exec.ts';

/** The error for a device that is not there (lookups here, tc operations in tc.ts). */
export function deviceGoneError(name: string): DataplaneError {
  return new DataplaneError('device-gone', `network device "${name}" does not exist (gone, renamed, or in another namespace)`);
}

export interface LinkInfo {
  readonly name: string;
  readonly ifindex: number;
  /** "aa:bb:cc:dd:ee:ff"; all zero for devices without one. */
  readonly mac: string;
}

interface IpLinkJson {
  ifindex?: number;
  ifname?: string;
  address?: string;
}

function toInfo(entry: IpLinkJson): LinkInfo | null {
  if (typeof entry.ifindex !== 'number' || typeof entry.ifname !== 'string') return null;
  const mac = typeof entry.address === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(entry.address) ? entry.address.toLowerCase() : '00:00:00:00:00:00';
  return { name: entry.ifname, ifindex: entry.ifindex, mac };
}

function parseLinks(stdout: string): LinkInfo[] {
  const parsed = JSON.parse(stdout || '[]') as IpLinkJson[];
  return parsed.map(toInfo).filter((l): l is LinkInfo => l !== null);
}

/** Runs `ip -j …`; null when there is no iproute2 ip (missing, or BusyBox's without -j). */
async function ipJson(host: Host, argv: readonly string[]): Promise<ExecResult | null> {
  let result: ExecResult;
  try {
    result = await runTool(host, argv);
  } catch (err) {
    if (err instanceof DataplaneError && err.kind === 'missing-tool') return null;
    throw err;
  }
  if (result.code !== 0 && /Option "-j" is unknown|invalid option|unrecognized option|Usage: ip /i.test(result.stderr)) return null;
  return result;
}

function sysfsLink(host: Host, name: string): LinkInfo | null {
  if (!/^[^/\s]{1,15}$/.test(name) || name === '.' || name === '..') return null;
  const ifindex = parseInt(host.readFile(`/sys/class/net/${name}/ifindex`) ?? '', 10);
  if (!(ifindex > 0)) return null;
  const address = (host.readFile(`/sys/class/net/${name}/address`) ?? '').trim();
  return toInfo({ ifindex, ifname: name, address });
}

function sysfsLinks(host: Host): LinkInfo[] {
  const names = (host.readFile('/proc/net/dev') ?? '')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]?.trim() ?? '')
    .filter((n) => n !== '');
  return names.map((n) => sysfsLink(host, n)).filter((l): l is LinkInfo => l !== null);
}

/** The device, or null when it does not exist. */
export async function findLink(host: Host, name: string): Promise<LinkInfo | null> {
  const argv = ['ip', '-j', 'link', 'show', 'dev', name];
  const result = await ipJson(host, argv);
  if (result === null) return sysfsLink(host, name);
  if (result.code !== 0) {
    if (/does not exist|Cannot find device|No such device/i.test(result.stderr)) return null;
    throw new DataplaneError('command-failed', `\`${argv.join(' ')}\` failed: ${result.stderr.trim()}`);
  }
  return parseLinks(result.stdout)[0] ?? null;
}

export async function requireLink(host: Host, name: string): Promise<LinkInfo> {
  const link = await findLink(host, name);
  if (link === null) throw deviceGoneError(name);
  return link;
}

export async function listLinks(host: Host): Promise<LinkInfo[]> {
  const argv = ['ip', '-j', 'link', 'show'];
  const result = await ipJson(host, argv);
  if (result === null) return sysfsLinks(host);
  if (result.code !== 0) throw new DataplaneError('command-failed', `\`${argv.join(' ')}\` failed: ${result.stderr.trim()}`);
  return parseLinks(result.stdout);
}
