// Runs a command (argv, never a shell string) and collects its output, with an
// optional timeout. The lab's only way to run tools like ip, bridge and sysctl.
import { spawn } from 'node:child_process';

export interface ExecOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function execArgv(argv: readonly string[], timeoutMs = 30_000, input?: string): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    const [command, ...args] = argv;
    if (command === undefined) throw new Error('execArgv: empty argv');
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + `${command}: ${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Like execArgv but throws an error naming the command and its stderr on a non-zero exit. */
export async function runArgv(argv: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await execArgv(argv, timeoutMs);
  if (r.code !== 0) {
    throw new Error(`command failed (exit ${r.code}): ${argv.join(' ')}\n${r.stderr.trim()}`);
  }
  return r.stdout;
}
