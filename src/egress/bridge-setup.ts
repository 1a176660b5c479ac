// Makes the downstream bridge usable as the membership source: snooping with
// IGMPv3/MLDv2 and querier (see planBridgeSettings), and says what it changed.
import { planBridgeSettings } from './bridge-plan.ts';
import type { LinkInfo } from '../dataplane/link-info.ts';
import type { Host, Logger } from '../host/host.ts';

/** Applies the needed bridge options; returns false (and logs why) when the device cannot serve. */
export async function ensureBridgeSnooping(host: Host, log: Logger, link: LinkInfo): Promise<boolean> {
  const plan = planBridgeSettings(link);
  if (plan.problem) {
    log.error(plan.problem, { device: link.name, fix: 'point --downstream-interface at the LAN bridge, or use --membership file' });
    return false;
  }
  if (plan.warning) log.warn(plan.warning);
  if (plan.batch.length === 0) {
    log.debug('bridge already snoops with IGMPv3/MLDv2 and is querier', { bridge: link.name });
    return true;
  }
  // One exec, two netlink messages in order (the versions before the querier, see bridge-plan.ts).
  const r = await host.exec(['ip', '-batch', '-'], { input: plan.batch.join('\n') + '\n', timeoutMs: 10_000 });
  if (r.code !== 0) {
    log.error('could not configure the bridge for snooping', { bridge: link.name, command: plan.batch.join('; '), error: r.stderr.trim() });
    return false;
  }
  for (const change of plan.changes) log.info('bridge setting changed', { bridge: link.name, change });
  return true;
}
