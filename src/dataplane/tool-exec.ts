// Runs the data plane's command-line tools (tc, ip, bpftool) through the Host
// and turns their failures into errors that say what is missing and what to do.
import type { ExecResult, Host } from '../host/host.ts';

export type DataplaneErrorKind =
  | 'missing-tool'
  | 'no-clsact'
  | 'object-not-found'
  | 'device-gone'
  | 'map-full'
  | 'invalid-rule'
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

const INSTALL_HINTS: Record<string, string> = {
  bpftool: 'install bpftool (Debian: apt install bpftool; OpenWrt: opkg install bpftool-minimal)',
  tc: 'install tc with BPF support (Debian: iproute2; OpenWrt: opkg install tc-bpf)',
  ip: 'install ip (Debian: iproute2; OpenWrt: opkg install ip-full)',
};

export function commandText(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w./:=@%+,-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Runs argv; throws 'missing-tool' when the program is not installed, else returns its result. */
export async function runTool(host: Host, argv: readonly string[], input?: string): Promise<ExecResult> {
  const result = await host.exec(argv, input === undefined ? {} : { input });
  if (result.code === 127) {
    // 127: the program could not be started (Node's spawn ENOENT, a shell's "not found").
    const tool = argv[0] ?? '';
    throw new DataplaneError('missing-tool', `${tool} is not installed or not on PATH: ${INSTALL_HINTS[tool] ?? `install ${tool}`}`);
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
