// `mnat-egress cleanup`: removes what a stopped egress left behind when it
// could not clean up itself (killed: kill -9, procd's term_timeout, OOM): its
// translator (pins, filters, the clsact it added; also a filter whose pins went
// with a private mount namespace), the WAN joins it left in smcrouted (only
// those its rules name), and its status file. The init script runs it after
// procd stopped the agent, so `/etc/init.d/mnat-egress stop` leaves nothing.
// It never touches the state of an agent that still runs.
import type { Joiner } from '../agent/ports.ts';
import type { Translator } from '../dataplane/translator.ts';
import type { Host } from '../host/host.ts';
import { processRuns } from '../host/process-runs.ts';
import type { EgressSettings } from './config/egress-options.ts';

/** True when nothing is left (or nothing was); false, with the reason logged, otherwise. */
export async function cleanUpAfterEgress(host: Host, translator: Translator, joiner: Joiner, s: EgressSettings): Promise<boolean> {
  // The status file's pid (a running agent keeps it): not JSON, or no pid, tells nothing.
  const pid = Number(/"pid": *(\d+)/.exec(host.readFile(s.statusFile) ?? '')?.[1]);
  if (pid && pid !== host.pid && processRuns(host, pid)) {
    host.log.error('mnat-egress is running; stop it first', { pid, file: s.statusFile });
    return false;
  }
  try {
    // Throws when the translator's owner runs (a status file elsewhere).
    const stale = await translator.sweep(s.upstream);
    const joins = (await joiner.adopt?.(stale, s.upstream)) ?? 0;
    await joiner.close();
    host.removeFile(s.statusFile);
    host.log.info('cleaned up after a stopped agent', { device: s.upstream, rules: stale.length, joinsLeft: joins });
    return true;
  } catch (err) {
    host.log.error('cleanup failed', { error: (err as Error).message });
    return false;
  }
}
