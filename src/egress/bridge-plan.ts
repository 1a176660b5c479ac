// What the egress must change on the downstream bridge (as the link reader
// reports it, dataplane/link-info.ts) so its snooping table has source lists:
// snooping on, IGMPv3 and MLDv2 (else hosts answer a v2 querier with reports
// that carry no sources), and a querier (else hosts stop reporting and the
// bridge floods or forgets). Pure: runs on QuickJS.
//
// Order matters. The kernel applies the options of one netlink message in a
// fixed order, querier before protocol versions (br_changelink), and the
// querier's first query is sent by a timer armed for "now": in one message it
// can leave as an IGMPv2/MLDv1 query, and a host that hears one reports without
// sources for the Older Version Querier Present Timeout (260 s with the
// defaults). So the versions go first, in a message of their own; snooping and
// the querier in a second one (`ip -batch`, one exec).
import type { LinkInfo } from '../dataplane/link-info.ts';

/** The bridge options the egress needs, with the value it needs, in the order they are applied. */
/** Where a user reads why, and what a router vendor does about it. */
export const LAN_BRIDGE_README = 'see the OpenWrt README, "The LAN bridge"';

export const REQUIRED_BRIDGE_OPTIONS: ReadonlyArray<readonly [string, number, string]> = [
  ['mcast_igmp_version', 3, 'IGMPv3, so IPv4 joins carry their sources'],
  ['mcast_mld_version', 2, 'MLDv2, so IPv6 joins carry their sources'],
  ['mcast_snooping', 1, 'snooping on, so the bridge learns who joined what'],
  ['mcast_querier', 1, 'querier on, so hosts keep reporting and leaves are noticed'],
];
/** REQUIRED_BRIDGE_OPTIONS from this index on go in the second message. */
const SECOND_MESSAGE = 2;

export interface BridgePlan {
  /** `ip -batch -` lines (versions, then snooping and querier); empty when nothing must change. */
  readonly batch: string[];
  /** One human line per change: "mcast_querier 0 -> 1 (querier on, …)". */
  readonly changes: string[];
  /** Set when the device cannot serve as the membership source. */
  readonly problem?: string;
  /** Set when the bridge already queried with IGMPv2/MLDv1: its hosts report without sources for a while. */
  readonly warning?: string;
}

export function planBridgeSettings(link: LinkInfo): BridgePlan {
  const b = link.bridge;
  if (link.kind !== 'bridge' || b === null) {
    return { batch: [], changes: [], problem: `${link.name} is not a bridge (kind ${link.kind ?? 'none'}); its joins cannot be read from a snooping table` };
  }
  const messages: string[][] = [[], []];
  const changes: string[] = [];
  REQUIRED_BRIDGE_OPTIONS.forEach(([option, want, why], i) => {
    const have = b[option];
    // A kernel that does not report an option (old kernels lack the version
    // knobs) is left alone rather than failing on an unknown option.
    if (have === undefined || have === want) return;
    messages[i < SECOND_MESSAGE ? 0 : 1]!.push(option, String(want));
    changes.push(`${option} ${have} -> ${want} (${why})`);
  });
  return {
    batch: messages.filter((m) => m.length > 0).map((m) => `link set dev ${link.name} type bridge ${m.join(' ')}`),
    changes,
    // Snooping and querier were on (nothing for the second message) with an older version: it has queried so.
    warning:
      messages[0]!.length > 0 && messages[1]!.length === 0
        ? `${link.name} was an IGMPv2/MLDv1 querier: LAN hosts that heard it join without sources for up to 260 s; create it with IGMPv3/MLDv2 (${LAN_BRIDGE_README})`
        : undefined,
  };
}
