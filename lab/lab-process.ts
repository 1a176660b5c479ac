// A process started inside a lab namespace: its output lines, waiting for a
// line by pattern (an event, with a bounded timeout), and a kill that reaps it.
import { spawn, type ChildProcess } from 'node:child_process';

export interface LabProcess {
  readonly pid: number;
  /** stdout and stderr lines so far, in arrival order. */
  readonly lines: string[];
  /**
   * Resolves with the first line (already seen or later) matching pattern (a
   * RegExp or a predicate); rejects after timeoutMs (default 10 s) or when the
   * process exits first. `since` skips lines before that index (e.g. lines.length
   * taken before writing a command).
   */
  waitForLine(pattern: LinePattern, timeoutMs?: number, since?: number): Promise<string>;
  /** Like waitForLine but for lines that are JSON objects; returns the parsed object. */
  waitForJson(predicate: (obj: Record<string, unknown>) => boolean, timeoutMs?: number, since?: number): Promise<Record<string, unknown>>;
  /** Writes a line to stdin, then waits for the next JSON line matching predicate (a request/answer exchange). */
  ask(line: string, predicate: (obj: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Writes one line to the process's stdin. */
  write(line: string): void;
  /** Exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Sends signal (default SIGTERM) to the process group; SIGKILL after 3 s; resolves on exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export type LinePattern = RegExp | ((line: string) => boolean);

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

  const waitForLine = (pattern: LinePattern, timeoutMs = 10_000, since = 0): Promise<string> => {
    const matches = typeof pattern === 'function' ? pattern : (l: string) => pattern.test(l);
    const seen = lines.slice(since).find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    if (done) return Promise.reject(new Error(`${label}: exited (code ${exitCode}) without a line matching ${pattern}\n${tail(lines)}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== waiter);
        reject(new Error(`${label}: no line matching ${String(pattern)} within ${timeoutMs} ms\n${tail(lines)}`));
      }, timeoutMs);
      const waiter: Waiter = {
        test: matches,
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

  const waitForJson = async (predicate: (obj: Record<string, unknown>) => boolean, timeoutMs?: number, since?: number) =>
    JSON.parse(await waitForLine(jsonTest(predicate), timeoutMs, since)) as Record<string, unknown>;
  const write = (line: string): void => {
    if (!done) child.stdin?.write(line.endsWith('\n') ? line : line + '\n');
  };

  return {
    pid: child.pid ?? -1,
    lines,
    waitForLine,
    waitForJson,
    write,
    ask(line, predicate, timeoutMs) {
      const since = lines.length;
      write(line);
      return waitForJson(predicate, timeoutMs, since);
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
