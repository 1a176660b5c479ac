// What the ingress does with a Translator beyond programming it, built on its
// public API: read back the rules the kernel holds (to adopt them after a
// restart) and follow recreated devices. Kept out of translator.ts so the
// egress's QuickJS bundle, which needs neither, does not carry them.
import { channelKey } from '../core/channel.ts';
import { decodeRuleEntry, FLAG_KEEP_TTL, type RuleValue } from './bpf-map-codec.ts';
import { dumpMap } from './bpftool.ts';
import { listLinks } from './link-info.ts';
import { RULES_MAP, type TranslationRule, type Translator } from './translator.ts';

export interface RefreshResult {
  /** Devices whose filter was gone (device recreated or filter removed) and is back. */
  readonly reattached: string[];
  /** Rules written again because an output device has a new ifindex or MAC. */
  readonly rewritten: number;
  /** Output devices that do not exist (now); their rules wait. */
  readonly missing: string[];
}

/** The rules map as the kernel holds it (outputs as ifindex and MAC); empty when nothing is loaded. */
async function kernelRules(translator: Translator): Promise<Array<{ key: string; value: RuleValue; rule: Omit<TranslationRule, 'outputs'> }>> {
  const pin = `${translator.pinDir}/${RULES_MAP}`;
  if (!translator.host.fileExists(pin)) return [];
  return (await dumpMap(translator.host, pin)).map((entry) => {
    const { from, value } = decodeRuleEntry(entry);
    return { key: channelKey(from), value, rule: { from, to: value.to, ...(value.flags & FLAG_KEEP_TTL ? { keepTtl: true } : {}) } };
  });
}

/** The kernel's rules with output devices by name (`if<N>` for an ifindex with no device). */
export async function listTranslatorRules(translator: Translator): Promise<TranslationRule[]> {
  const entries = await kernelRules(translator);
  if (entries.length === 0) return [];
  const names = new Map((await listLinks(translator.host)).map((l) => [l.ifindex, l.name]));
  return entries.map(({ value, rule }) => ({ ...rule, outputs: value.outputs.map((o) => names.get(o.ifindex) ?? `if${o.ifindex}`) }));
}

/**
 * After devices were recreated (hotplug, network restart): attaches again
 * where our filter is gone and rewrites the rules whose output devices changed
 * ifindex or MAC (or that vanished from the map). Devices and outputs that do
 * not exist now are left for a later call and reported.
 */
export async function refreshTranslator(translator: Translator): Promise<RefreshResult> {
  const host = translator.host;
  // One listing of the devices serves every check below (attaching does not change them).
  const links = new Map((await listLinks(host)).map((l) => [l.name, l]));
  const reattached: string[] = [];
  for (const device of translator.attachedDevices()) {
    if (!links.has(device)) continue; // gone: attach once it is back
    if (await translator.attach(device)) reattached.push(device);
  }
  const rules = translator.rules();
  const missing = [...new Set(rules.flatMap((r) => r.outputs))].filter((name) => !links.has(name));
  const inKernel = new Map((await kernelRules(translator)).map((e) => [e.key, e.value.outputs]));
  let rewritten = 0;
  for (const rule of rules) {
    const now = rule.outputs.map((name) => links.get(name));
    if (now.some((l) => l === undefined)) continue;
    const current = inKernel.get(channelKey(rule.from));
    const same = current !== undefined && current.length === now.length && current.every((o, i) => o.ifindex === now[i]?.ifindex && o.mac === now[i]?.mac);
    if (same) continue;
    await translator.upsert(rule);
    rewritten++;
  }
  if (reattached.length > 0 || rewritten > 0) {
    host.log.info('translator refreshed', { reattached: reattached.join(','), rewritten, missing: missing.join(',') });
  }
  return { reattached, rewritten, missing };
}
