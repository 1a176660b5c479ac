// The Node implementation of Host: child_process, fs, timers and signals.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createLineLogger } from './log-format.ts';
import { makeDirectories } from './make-directories.ts';
import type {
  ExecOptions,
  ExecResult,
  Host,
  HttpTarget,
  HttpTransport,
  LineProcess,
  Logger,
  LogLevel,
  SignalName,
  TimerHandle,
} from './host.ts';
import { createNodeHttpTransport } from './node-http.ts';

function loseLogLine(): void {}

export function createStderrLogger(component: string, minLevel: LogLevel = 'info'): Logger {
  // A log line that cannot be written (stderr's reader went away: `| head`, a
  // restarted log daemon) is lost; unhandled, its EPIPE would end the process
  // before it cleans up (translator pins, a clean journal close).
  // Others may listen too (a worker thread's stderr is piped in) and go away.
  if (!process.stderr.listeners('error').includes(loseLogLine)) process.stderr.on('error', loseLogLine);
  return createLineLogger(component, minLevel, (text) => process.stderr.write(text));
}

/** How long exec waits for a killed child to end before settling without it. */
const KILL_SETTLE_MS = 2000;

export function nodeExec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const [command, ...args] = argv;
    if (command === undefined) throw new Error('exec: empty argv');
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + `${command}: ${err.message}\n` });
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // After a timeout the child's exit is the end: a grandchild that inherited
    // the pipes (a daemon it forked) must not keep 'close' from ever firing.
    child.on('exit', () => {
      if (!timedOut) return;
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code: null, stdout, stderr: stderr + `${command}: killed after ${options.timeoutMs} ms\n` });
    });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
        // A child stuck in the kernel survives SIGKILL: settle anyway (Host contract).
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          resolve({ code: null, stdout, stderr: stderr + `${command}: killed after ${options.timeoutMs} ms, not yet ended\n` });
        }, KILL_SETTLE_MS).unref();
      }, options.timeoutMs);
    }
    child.stdin.on('error', () => undefined); // the child may exit before reading its input
    child.stdin.end(options.input ?? '');
  });
}

export function nodeSpawnLines(
  argv: readonly string[],
  onLine: (line: string) => void,
  onExit: (code: number | null) => void,
): LineProcess {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('spawnLines: empty argv');
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let pending = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  });
  const finish = (code: number | null): void => {
    if (exited) return;
    exited = true;
    onExit(code);
  };
  child.on('error', () => finish(127));
  child.on('close', (code) => finish(code));
  return { kill: () => child.kill('SIGTERM') };
}

export function writeFileAtomicSync(path: string, data: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(temp, data);
  renameSync(temp, path);
}

export function createNodeHost(logger: Logger): Host {
  return {
    runtime: 'node',
    log: logger,
    pid: process.pid,
    exec: nodeExec,
    spawnLines: nodeSpawnLines,
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return null;
      }
    },
    writeFileAtomic: writeFileAtomicSync,
    removeFile(path) {
      try {
        unlinkSync(path);
      } catch (err) {
        // A directory goes with rmdir (as os.remove does on QuickJS); gone or not empty: nothing.
        if ((err as NodeJS.ErrnoException).code === 'EISDIR') {
          try {
            rmdirSync(path);
          } catch {
            // not empty
          }
        }
      }
    },
    fileExists: existsSync,
    fileMtimeMs(path) {
      try {
        return statSync(path).mtimeMs;
      } catch {
        return null;
      }
    },
    makeDirectory: (path) =>
      makeDirectories(path, (dir) => {
        try {
          mkdirSync(dir);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (e.code !== 'EEXIST') return e.message.replace(/, mkdir .*/, ''); // "EROFS: read-only file system"
        }
        return null;
      }),
    now: () => performance.now(),
    wallClock: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
    clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
    onSignal(signal: SignalName, fn) {
      process.on(signal, fn);
    },
    httpTransport: (target: HttpTarget): HttpTransport => createNodeHttpTransport(target),
    exit: (code) => process.exit(code),
  };
}
