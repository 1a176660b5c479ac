// Links as `ip -d -j link show dev X` prints them, and what the egress must
// change on the downstream bridge so its snooping table has source lists:
// snooping on, IGMPv3 and MLDv2 (else hosts answer a v2 querier with reports
// that carry no sources), and a querier (else hosts stop reporting and the
// bridge floods or forgets). Pure: runs on QuickJS.

export interface LinkInfo {
  readonly ifindex: number;
  readonly name: string;
  /** Administratively up (the UP flag). */
  readonly up: boolean;
  readonly operstate: string;
  /** "bridge", "veth", "pppoe"…; null for plain devices. */
  readonly kind: string | null;
  /** The bridge's multicast options (info_data), only for bridges. */
  readonly bridge: Readonly<Record<string, number>> | null;
}

/** Parses the first link of `ip [-d] -j link show dev X`; null when the output holds none. */
export function parseIpLinkJson(text: string): LinkInfo | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(doc) || doc.length === 0) return null;
  const l = doc[0] as Record<string, unknown>;
  if (typeof l['ifindex'] !== 'number' || typeof l['ifname'] !== 'string') return null;
  const flags = Array.isArray(l['flags']) ? (l['flags'] as unknown[]) : [];
  const info = (l['linkinfo'] ?? null) as Record<string, unknown> | null;
  const kind = info && typeof info['info_kind'] === 'string' ? info['info_kind'] : null;
  let bridge: Record<string, number> | null = null;
  if (kind === 'bridge' && info && info['info_data'] && typeof info['info_data'] === 'object') {
    bridge = {};
    for (const [k, v] of Object.entries(info['info_data'] as Record<string, unknown>)) {
      if (typeof v === 'number') bridge[k] = v;
    }
  }
  return {
    ifindex: l['ifindex'],
    name: l['ifname'],
    up: flags.includes('UP'),
    operstate: typeof l['operstate'] === 'string' ? l['operstate'] : 'UNKNOWN',
    kind,
    bridge,
  };
}

/** The bridge options the egress needs, with the value it needs. */
export const REQUIRED_BRIDGE_OPTIONS: ReadonlyArray<readonly [string, number, string]> = [
  ['mcast_snooping', 1, 'snooping on, so the bridge learns who joined what'],
  ['mcast_igmp_version', 3, 'IGMPv3, so IPv4 joins carry their sources'],
  ['mcast_mld_version', 2, 'MLDv2, so IPv6 joins carry their sources'],
  ['mcast_querier', 1, 'querier on, so hosts keep reporting and leaves are noticed'],
];

export interface BridgePlan {
  /** Arguments after `ip link set dev X type bridge`; empty when nothing must change. */
  readonly args: string[];
  /** One human line per change: "mcast_querier 0 -> 1 (querier on, …)". */
  readonly changes: string[];
  /** Set when the device cannot serve as the membership source. */
  readonly problem?: string;
}

export function planBridgeSettings(link: LinkInfo): BridgePlan {
  if (link.kind !== 'bridge' || link.bridge === null) {
    return { args: [], changes: [], problem: `${link.name} is not a bridge (kind ${link.kind ?? 'none'}); its joins cannot be read from a snooping table` };
  }
  const args: string[] = [];
  const changes: string[] = [];
  for (const [option, want, why] of REQUIRED_BRIDGE_OPTIONS) {
    const have = link.bridge[option];
    // A kernel that does not report an option (old kernels lack the version
    // knobs) is left alone rather than failing on an unknown option.
    if (have === undefined || have === want) continue;
    args.push(option, String(want));
    changes.push(`${option} ${have} -> ${want} (${why})`);
  }
  return { args, changes };
}
