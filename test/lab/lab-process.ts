// A process started inside a lab namespace: its output lines, waiting for a
// line by pattern (an event, with a bounded timeout), and a kill that reaps it.
import { spawn, type ChildProcess } from 'node:child_process';

export interface LabProcess {
  readonly pid: number;
  /** stdout and stderr lines so far, in arrival order. */
  readonly lines: string[];
  /** Resolves with the first line (seen so far or later) matching pattern; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Like waitForLine but for lines that are JSON objects; returns the parsed object. */
  waitForJson(predicate: (obj: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Writes one line to the process's stdin. */
  write(line: string): void;
  /** Exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Sends signal (default SIGTERM) to the process group; SIGKILL after 3 s; resolves on exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

interface Waiter {
  test(line: string): boolean;
  resolve(line: string): void;
  reject(err: Error): void;
}

export function spawnLabProcess(argv: readonly string[], env?: Record<string, string>, label = argv.join(' ')): LabProcess {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('spawn: empty argv');
  // detached: own process group, so kill() also reaches grandchildren (shells, daemons in foreground).
  const child: ChildProcess = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: env ? { ...process.env, ...env } : process.env,
  });
  const lines: string[] = [];
  let waiters: Waiter[] = [];
  let done = false;
  let exitCode: number | null = null;

  const onLine = (line: string): void => {
    lines.push(line);
    waiters = waiters.filter((w) => {
      if (!w.test(line)) return true;
      w.resolve(line);
      return false;
    });
  };
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    stream?.on('end', () => {
      if (pending) onLine(pending);
      pending = '';
    });
  }
  child.stdin?.on('error', () => undefined);

  const exited = new Promise<number | null>((resolve) => {
    const finish = (code: number | null): void => {
      if (done) return;
      done = true;
      exitCode = code;
      // Let stdout/stderr 'end' handlers flush their last lines before failing waiters.
      setImmediate(() => {
        for (const w of waiters) w.reject(new Error(`${label}: exited (code ${code}) before the awaited line\n${tail(lines)}`));
        waiters = [];
        resolve(code);
      });
    };
    child.on('error', (err) => {
      lines.push(`spawn error: ${err.message}`);
      finish(127);
    });
    child.on('close', (code) => finish(code));
  });

  const waitForLine = (pattern: RegExp, timeoutMs = 10_000): Promise<string> => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (done) return Promise.reject(new Error(`${label}: exited (code ${exitCode}) without a line matching ${pattern}\n${tail(lines)}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== waiter);
        reject(new Error(`${label}: no line matching ${pattern} within ${timeoutMs} ms\n${tail(lines)}`));
      }, timeoutMs);
      const waiter: Waiter = {
        test: (l) => pattern.test(l),
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      waiters.push(waiter);
    });
  };

  const jsonTest = (predicate: (obj: Record<string, unknown>) => boolean) => (line: string): boolean => {
    if (!line.startsWith('{')) return false;
    try {
      return predicate(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return false;
    }
  };

  return {
    pid: child.pid ?? -1,
    lines,
    waitForLine,
    async waitForJson(predicate, timeoutMs) {
      const test = jsonTest(predicate);
      const matcher = { test } as unknown as RegExp; // waitForLine only calls .test
      return JSON.parse(await waitForLine(matcher, timeoutMs)) as Record<string, unknown>;
    },
    write(line: string) {
      if (!done) child.stdin?.write(line.endsWith('\n') ? line : line + '\n');
    },
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (done) return exitCode;
      signalGroup(child, signal);
      const force = setTimeout(() => signalGroup(child, 'SIGKILL'), 3000);
      const code = await exited;
      clearTimeout(force);
      return code;
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function tail(lines: string[]): string {
  return lines.slice(-20).map((l) => `  | ${l}`).join('\n');
}
