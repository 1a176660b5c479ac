// Reads what the kernel translators of a running lab hold — their rules and
// per-rule packet counters — straight from the pinned BPF maps (bpffs pins are
// visible from every namespace), without touching the agents that own them.
import type { Channel } from '../src/core/channel.ts';
import { decodeKey, decodeRuleEntry, sumCounters } from '../src/dataplane/bpf-map-codec.ts';
import { dumpMap } from '../src/dataplane/bpftool.ts';
import { createNodeHost } from '../src/host/node-host.ts';
import type { Logger } from '../src/host/host.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const host = createNodeHost(quiet);

export interface TranslatorRuleCounters {
  /** 'ingress' or 'cpeK'. */
  readonly where: string;
  readonly from: Channel;
  readonly to: Channel;
  readonly packets: number;
  readonly bytes: number;
}

/** Rules + counters of one translator instance pinned at pinDir (empty when it is not loaded). */
export async function readInstance(where: string, pinDir: string): Promise<TranslatorRuleCounters[]> {
  let rules;
  try {
    rules = await dumpMap(host, `${pinDir}/mnat_rules`);
  } catch {
    return []; // not loaded (agent starting, restarting or stopped)
  }
  const counters = new Map<string, { packets: number; bytes: number }>();
  try {
    for (const entry of await dumpMap(host, `${pinDir}/mnat_counters`)) {
      const from = decodeKey(entry.key);
      counters.set(`${from.source},${from.group}`, sumCounters(entry.values));
    }
  } catch {
    // counters unreadable: show the rules with zero
  }
  const out: TranslatorRuleCounters[] = [];
  for (const entry of rules) {
    const { from, value } = decodeRuleEntry(entry);
    const c = counters.get(`${from.source},${from.group}`) ?? { packets: 0, bytes: 0 };
    out.push({ where, from, to: value.to, ...c });
  }
  return out;
}

/** Every translator of the lab: the ingress and each CPE's egress. */
export async function readTranslatorRules(lab: { pinRoot: string; topo: { cpes: Array<{ index: number }> } }): Promise<TranslatorRuleCounters[]> {
  const parts = await Promise.all([
    readInstance('ingress', `${lab.pinRoot}/ingress`),
    ...lab.topo.cpes.map((c) => readInstance(`cpe${c.index}`, `${lab.pinRoot}/egress-cpe${c.index}`)),
  ]);
  return parts.flat();
}
