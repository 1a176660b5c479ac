// Runs the data plane's command-line tools (tc, ip, bpftool) through the Host
// and turns their failures into errors that say what is missing and what to do.
import type { ExecResult, Host } from '../host/host.ts';

export type DataplaneErrorKind =
  /** A tool (tc, ip, bpftool, mount) is not installed. */
  | 'missing-tool'
  /** The pin root is not on a bpf filesystem (and it could not be mounted there). */
  | 'no-bpffs'
  /** The kernel lacks the clsact qdisc or the bpf classifier. */
  | 'no-clsact'
  /** The compiled BPF object is nowhere it was looked for. */
  | 'object-not-found'
  /** A network device is not there (gone, renamed, another namespace). */
  | 'device-gone'
  /** A device the program cannot parse: no Ethernet header (PPP, tunnels). */
  | 'not-ethernet'
  /** The rules map has no room left. */
  | 'map-full'
  /** A translation rule that cannot be programmed (bad channel, family change, outputs). */
  | 'invalid-rule'
  /** A translator option (instance name, pin root) that cannot be used. */
  | 'invalid-option'
  /** A translator attaches to at most 15 devices. */
  | 'too-many-devices'
  /** A rule change before the translator was loaded (attach first). */
  | 'not-loaded'
  /** A bpftool batch line that would not parse as one command (a word with blanks or quotes). */
  | 'bad-batch-word'
  /** Bytes or JSON that do not fit the BPF map layouts (from bpftool, or a MAC address given). */
  | 'bad-map-data'
  /** A tool failed, or was killed. */
  | 'command-failed';

export class DataplaneError extends Error {
  override readonly name = 'DataplaneError';
  constructor(
    readonly kind: DataplaneErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The OpenWrt packages that provide the tools the agents run (Debian: iproute2, bpftool, curl, smcroute). */
export const PACKAGES: Record<string, string> = {
  tc: 'tc-bpf or tc-full',
  bpftool: 'bpftool-minimal or bpftool-full',
  ip: 'ip-tiny or ip-full',
  bridge: 'ip-bridge',
  // HTTP/2 is a build option of OpenWrt's libcurl (off by default), not a package.
  curl: 'curl with a libcurl built with LIBCURL_NGHTTP2',
  smcroutectl: 'smcroute',
};

export function commandText(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w./:=@%+,-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * Every tool run is bounded: one that hangs (blocked in the kernel, waiting on
 * a lock) is killed after this long instead of stalling every later change.
 * Generous: a big BPF object loads in well under a second.
 */
export const TOOL_TIMEOUT_MS = 30_000;

/**
 * Runs argv; throws 'missing-tool' when the program is not installed and
 * 'command-failed' when it was killed (timed out), else returns its result.
 */
export async function runTool(host: Host, argv: readonly string[], input?: string): Promise<ExecResult> {
  const started = Date.now(); // only labels a kill as a timeout; a clock step merely mislabels it
  const result = await host.exec(argv, input === undefined ? { timeoutMs: TOOL_TIMEOUT_MS } : { input, timeoutMs: TOOL_TIMEOUT_MS });
  if (result.code === 127) {
    // 127: the program could not be started (Node's spawn ENOENT, a shell's "not found").
    const tool = argv[0] ?? '';
    throw new DataplaneError('missing-tool', `${tool} is not installed or not on PATH: install ${PACKAGES[tool] ?? tool} (OpenWrt)`);
  }
  if (result.code === null) {
    // Killed: by the timeout, or by someone else's signal. Either way its output means nothing.
    const ms = Date.now() - started;
    const timedOut = ms >= TOOL_TIMEOUT_MS;
    host.log.error(timedOut ? 'tool timed out and was killed' : 'tool was killed by a signal', { argv: commandText(argv), ms });
    const why = timedOut ? `did not finish within ${TOOL_TIMEOUT_MS / 1000} s and was killed (hung in the kernel or on a lock?)` : 'was killed by a signal';
    throw new DataplaneError('command-failed', `\`${commandText(argv)}\` ${why}: ${result.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  }
  return result;
}

/** Runs argv and throws 'command-failed' (with its stderr) unless it exits 0. */
export async function runToolOk(host: Host, argv: readonly string[], input?: string): Promise<string> {
  const result = await runTool(host, argv, input);
  if (result.code !== 0) throw commandFailed(argv, result);
  return result.stdout;
}

export function commandFailed(argv: readonly string[], result: ExecResult): DataplaneError {
  const detail = (result.stderr.trim() || result.stdout.trim() || `exit code ${String(result.code)}`).split('\n').slice(0, 6).join(' | ');
  return new DataplaneError('command-failed', `\`${commandText(argv)}\` failed: ${detail}`);
}
