// What the egress must change on the downstream bridge (as the link reader
// reports it, dataplane/link-info.ts) so its snooping table has source lists:
// snooping on, IGMPv3 and MLDv2 (else hosts answer a v2 querier with reports
// that carry no sources), and a querier (else hosts stop reporting and the
// bridge floods or forgets). Pure: runs on QuickJS.
import type { LinkInfo } from '../dataplane/link-info.ts';

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
