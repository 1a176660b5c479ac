// Network devices as `ip -j link` reports them, the one reader for the agents
// and the translator: ifindex, MAC, up or not, and with `details` (ip -d) the
// kind and a bridge's multicast options. Run via the Host, so a Host bound to
// another network namespace sees that namespace. Without an iproute2 `ip` (a
// machine with only BusyBox's) the same facts but a bridge's options come from
// /proc/net/dev and /sys/class/net (the current namespace's, as mounted); not
// in the QuickJS egress, which requires iproute2 (see MNAT_IPROUTE2_REQUIRED).
import type { ExecResult, Host } from '../host/host.ts';
import { MAC_ADDRESS } from './bpf-map-codec.ts';
import { commandFailed, DataplaneError, PACKAGES, runTool } from './tool-exec.ts';

/** The error for a device that is not there (lookups here, tc operations in tc.ts). */
export function deviceGoneError(name: string): DataplaneError {
  return new DataplaneError('device-gone', `network device "${name}" does not exist (gone, renamed, or in another namespace)`);
}

export interface LinkInfo {
  readonly name: string;
  readonly ifindex: number;
  /** "aa:bb:cc:dd:ee:ff"; all zero for devices without one. */
  readonly mac: string;
  /** Administratively up (the UP flag). */
  readonly up: boolean;
  readonly operstate: string;
  /** "bridge", "veth", "vlan"…; null for plain devices and without `details`. */
  readonly kind: string | null;
  /** ip's link type: "ether", "ppp", "none" (tunnels)…; null when not reported. */
  readonly linkType: string | null;
  /** A bridge's options by ip's names (mcast_snooping…); only with `details`, only for bridges. */
  readonly bridge: Readonly<Record<string, number>> | null;
}

interface IpLinkJson {
  ifindex?: unknown;
  ifname?: unknown;
  address?: unknown;
  flags?: unknown;
  operstate?: unknown;
  link_type?: unknown;
  linkinfo?: { info_kind?: unknown; info_data?: Record<string, unknown> };
}

function toInfo(l: IpLinkJson): LinkInfo | null {
  if (typeof l.ifindex !== 'number' || typeof l.ifname !== 'string') return null;
  const kind = typeof l.linkinfo?.info_kind === 'string' ? l.linkinfo.info_kind : null;
  let bridge: Record<string, number> | null = null;
  if (kind === 'bridge' && l.linkinfo?.info_data && typeof l.linkinfo.info_data === 'object') {
    bridge = {};
    for (const [k, v] of Object.entries(l.linkinfo.info_data)) if (typeof v === 'number') bridge[k] = v;
  }
  return {
    name: l.ifname,
    ifindex: l.ifindex,
    mac: typeof l.address === 'string' && MAC_ADDRESS.test(l.address) ? l.address.toLowerCase() : '00:00:00:00:00:00',
    up: Array.isArray(l.flags) && l.flags.includes('UP'),
    operstate: typeof l.operstate === 'string' ? l.operstate : 'UNKNOWN',
    kind,
    linkType: typeof l.link_type === 'string' ? l.link_type : null,
    bridge,
  };
}

/** The links of `ip [-d] -j link show [dev X]` output; none when it is not such output. */
export function parseIpLinks(text: string): LinkInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text || '[]');
  } catch {
    return [];
  }
  return Array.isArray(doc) ? doc.map((l: IpLinkJson) => toInfo(l ?? {})).filter((l): l is LinkInfo => l !== null) : [];
}

/**
 * Defined (true) by the QuickJS egress bundle (build/qjs-bundle.mjs): mnat-egress
 * does not start without an iproute2 ip that has -j (agent/preflight.ts), so the
 * sysfs fallback is never reached there and is left out of its size budget.
 */
declare const MNAT_IPROUTE2_REQUIRED: true | undefined;

/** Runs `ip -j …`; null when there is no iproute2 ip (missing, or BusyBox's without -j) and sysfs is read instead. */
async function ipJson(host: Host, argv: readonly string[]): Promise<ExecResult | null> {
  let result: ExecResult;
  try {
    result = await runTool(host, argv);
  } catch (err) {
    if (err instanceof DataplaneError && err.kind === 'missing-tool' && sysfs !== null) return null;
    throw err;
  }
  if (result.code !== 0 && /Option "-j" is unknown|invalid option|unrecognized option|Usage: ip /i.test(result.stderr)) {
    if (sysfs !== null) return null;
    throw new DataplaneError('missing-tool', `ip has no -j (not iproute2's, or too old): install ${PACKAGES.ip} (OpenWrt)`);
  }
  return result;
}

function sysfsLink(host: Host, name: string, details: boolean): LinkInfo | null {
  if (!/^[^/\s]{1,15}$/.test(name) || name === '.' || name === '..') return null;
  const dir = `/sys/class/net/${name}`;
  const read = (file: string): string => (host.readFile(`${dir}/${file}`) ?? '').trim();
  const ifindex = parseInt(read('ifindex'), 10);
  if (!(ifindex > 0)) return null;
  // The kind, as the kernel types the device; a bridge's options come only
  // from ip -d (none here: the bridge setup leaves options it is not told alone).
  const kind = details ? (/^DEVTYPE=(.+)$/m.exec(read('uevent'))?.[1] ?? null) : null;
  return toInfo({
    ifindex,
    ifname: name,
    address: read('address'),
    flags: parseInt(read('flags'), 16) & 1 ? ['UP'] : [],
    operstate: read('operstate').toUpperCase() || 'UNKNOWN',
    // The kernel's ARPHRD_* number; the two a translator must tell apart by ip's names.
    link_type: ({ '1': 'ether', '512': 'ppp' } as Record<string, string>)[read('type')] ?? (read('type') || undefined),
    ...(kind !== null ? { linkinfo: { info_kind: kind, info_data: {} } } : {}),
  });
}

function sysfsLinks(host: Host): LinkInfo[] {
  const names = (host.readFile('/proc/net/dev') ?? '')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]?.trim() ?? '')
    .filter((n) => n !== '');
  return names.map((n) => sysfsLink(host, n, false)).filter((l): l is LinkInfo => l !== null);
}

/** The device reads without an iproute2 ip; none where iproute2 is required. */
const sysfs = typeof MNAT_IPROUTE2_REQUIRED === 'undefined' ? { link: sysfsLink, links: sysfsLinks } : null;

/** The device, or null when it does not exist; `details` adds its kind and bridge options (ip -d). */
export async function findLink(host: Host, name: string, details = false): Promise<LinkInfo | null> {
  const argv = ['ip', ...(details ? ['-d'] : []), '-j', 'link', 'show', 'dev', name];
  const result = await ipJson(host, argv);
  if (result === null) return sysfs!.link(host, name, details);
  if (result.code !== 0) {
    if (/does not exist|Cannot find device|No such device/i.test(result.stderr)) return null;
    throw commandFailed(argv, result);
  }
  return parseIpLinks(result.stdout)[0] ?? null;
}

export async function requireLink(host: Host, name: string): Promise<LinkInfo> {
  const link = await findLink(host, name);
  if (link === null) throw deviceGoneError(name);
  return link;
}

export async function listLinks(host: Host): Promise<LinkInfo[]> {
  const argv = ['ip', '-j', 'link', 'show'];
  const result = await ipJson(host, argv);
  if (result === null) return sysfs!.links(host);
  if (result.code !== 0) throw commandFailed(argv, result);
  return parseIpLinks(result.stdout);
}
