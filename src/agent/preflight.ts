// What an agent needs from the machine, checked once at start so that an
// operator meets every missing piece at once, each as one line naming the
// package that provides it, instead of an agent that retries for ever. Cheap:
// the tool probes run side by side (one exec each), and loading the translator
// is the first thing the agent would do anyway. Missing pieces exit 1 (the
// environment); a bad flag or config exits 2.
import type { Host } from '../host/host.ts';
import { curlFeatures } from '../host/curl-http.ts';
import type { Translator } from '../dataplane/translator.ts';
import { PACKAGES } from '../dataplane/tool-exec.ts';

export interface Needs {
  /** `ip` from iproute2 (the egress's device watch). */
  readonly ip?: boolean;
  /** `bridge` (the egress's snooping table). */
  readonly bridge?: boolean;
  /** `curl` with HTTP/2 (the QuickJS host's HTTP). */
  readonly curl?: boolean;
  /** `smcroutectl` (join backend smcroute). */
  readonly smcroute?: boolean;
}

/** A tool probe: argv (its first word names the tool), stdin, the test of its output, what the tool lacks when it fails. */
export type Probe = readonly [argv: readonly string[], input: string, ok: (output: string) => boolean, lacks: string];

/** The probes for needs: tc and bpftool always (the translator). */
export function probesFor(needs: Needs): Probe[] {
  const any = (o: string): boolean => o !== '';
  const probes: Probe[] = [
    // Without the clsact qdisc or the bpf filter tc says 'Unknown qdisc "clsact"' / 'Unknown filter "bpf"'.
    [['tc', '-force', '-batch', '-'], 'qdisc add clsact help\nfilter add bpf help\n', (o) => /\.\.\. clsact[^]*object-pinned/.test(o), 'clsact or bpf'],
    [['bpftool', '-j', 'batch', 'file', '-'], 'map help\nprog help\n', (o) => o.includes('"prog","help"'), 'batch, map or prog'],
  ];
  // -j first: an iproute2 too old for JSON output fails on it as BusyBox's ip does.
  if (needs.ip) probes.push([['ip', '-j', '-V'], '', (o) => o.includes('iproute2'), 'iproute2 -j']);
  if (needs.bridge) probes.push([['bridge', '-V'], '', any, '']);
  if (needs.curl) probes.push([['curl', '-V'], '', (o) => curlFeatures(o).http2, 'HTTP/2']);
  if (needs.smcroute) probes.push([['smcroutectl', '-v'], '', any, '']);
  return probes;
}

/** The line for a probe's result, or null when the tool is there and able. */
export function probeVerdict(probe: Probe, code: number | null, output: string): string | null {
  const tool = probe[0][0] as string;
  if (code !== 127 && probe[2](output)) return null;
  return `${tool}: ${code === 127 ? 'not found' : `no ${probe[3]} support`}; install ${PACKAGES[tool]} (OpenWrt)`;
}

/**
 * Probes the tools, then loads the translator (bpffs, the BPF object, the
 * kernel's verifier). Hands each missing piece to report as one line; true
 * when nothing is missing (the translator stays loaded for the agent).
 */
export async function checkPrerequisites(host: Host, translator: Translator, needs: Needs, report: (line: string) => void): Promise<boolean> {
  const probes = probesFor(needs);
  const lines = await Promise.all(
    probes.map(async (p) => {
      const r = await host.exec(p[0], { input: p[1], timeoutMs: 10_000 });
      return probeVerdict(p, r.code, r.stdout + r.stderr);
    }),
  );
  // The load needs bpftool; without it the line above says what to install.
  const load = lines[1] === null;
  if (load) lines.push(await translator.load().then(() => null, (err: Error) => err.message));
  const missing = lines.filter((l): l is string => l !== null);
  missing.forEach(report);
  if (missing.length > 0 && load) await translator.detach().catch(() => undefined);
  return missing.length === 0;
}
