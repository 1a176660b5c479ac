// The QuickJS implementation of Host (/usr/bin/qjs: OpenWrt's `quickjs`, 2025-09-13
// on 25.12; it also runs on 2021-03-27, CI's qjs):
// children through quickjs-process (pipes on the event loop), files through
// std/os, timers and signals through os, HTTP/2 through curl (QuickJS has no
// sockets). Only the QuickJS bundle imports this file.
import * as std from 'std';
import * as os from 'os';
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
import { createCurlHttpTransport } from './curl-http.ts';
import { SIGHUP, SIGKILL, SIGPIPE, spawnChild } from './quickjs-process.ts';

const EEXIST = 17;

export function createQuickjsLogger(component: string, minLevel: LogLevel = 'info'): Logger {
  // SIGPIPE (stderr's reader went away) would end the agent before it cleans
  // up; caught, the line is lost. Caught, not ignored: children get the default back.
  os.signal(SIGPIPE, () => undefined);
  return createLineLogger(component, minLevel, (text) => {
    std.err.puts(text);
    std.err.flush();
  });
}

/** After a timeout's SIGKILL, how long the child may take to die before exec gives up on it. */
const EXEC_KILL_WAIT_MS = 2000;

/**
 * Runs argv to completion. With timeoutMs the promise settles within about
 * timeoutMs + EXEC_KILL_WAIT_MS whatever the child does: SIGKILL, then the
 * pipes are abandoned (a grandchild may hold them), and a child that cannot
 * die (stuck in the kernel) is left to be reaped in the background.
 */
export function quickjsExec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timer: os.QjsTimer | null = null;
    let timedOut = false;
    let settled = false;
    let note = '';
    const settle = (code: number | null): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) os.clearTimeout(timer);
      // exec failure in the child (ENOENT, EACCES) is exit 127 with no output.
      if (code === 127 && stdout === '' && stderr === '') stderr = `${argv[0]}: command not found or not executable\n`;
      if (timedOut) stderr += `${argv[0]}: killed after ${options.timeoutMs} ms\n${note}`;
      resolve({ code, stdout, stderr });
    };
    let child;
    try {
      child = spawnChild(argv, {
        input: options.input ?? '',
        onStdout: (t) => (stdout += t),
        onStderr: (t) => (stderr += t),
        onExit: (exit) => settle(timedOut ? null : exit.code),
      });
    } catch (err) {
      resolve({ code: 127, stdout: '', stderr: `${argv[0]}: ${(err as Error).message}\n` });
      return;
    }
    if (options.timeoutMs !== undefined) {
      const c = child;
      timer = os.setTimeout(() => {
        timedOut = true;
        c.kill(SIGKILL);
        timer = os.setTimeout(() => {
          timer = null;
          note = `${argv[0]}: pid ${c.pid} did not die within ${EXEC_KILL_WAIT_MS} ms of SIGKILL; not waiting for it\n`;
          settle(null);
        }, EXEC_KILL_WAIT_MS);
      }, Math.min(Math.max(0, options.timeoutMs), 0x7fffffff));
    }
  });
}

export function quickjsSpawnLines(
  argv: readonly string[],
  onLine: (line: string) => void,
  onExit: (code: number | null) => void,
): LineProcess {
  let pending = '';
  const child = spawnChild(argv, {
    onStdout(text) {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        onLine(line);
      }
    },
    onExit(exit) {
      if (pending.length > 0) {
        const last = pending;
        pending = '';
        onLine(last);
      }
      onExit(exit.code);
    },
  });
  return { kill: () => child.kill(os.SIGTERM) };
}

/** Reads a whole file (also /proc and /sys files, whose size reads as 0). */
function readWholeFile(path: string): string | null {
  const f = std.open(path, 'r');
  if (f === null) return null;
  try {
    const text = f.readAsString();
    return f.error() ? null : text;
  } finally {
    f.close();
  }
}

function errnoText(code: number): string {
  return std.strerror(-code);
}

let tempCounter = 0;

export function quickjsWriteFileAtomic(path: string, data: string): void {
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? path.slice(0, slash + 1) : '';
  const base = slash >= 0 ? path.slice(slash + 1) : path;
  // QuickJS has no getpid(): time, a counter and randomness keep writers apart.
  const unique = `${Date.now().toString(36)}${(tempCounter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const temp = `${dir}.${base}.${unique}.tmp`;
  const errObj: { errno?: number } = {};
  const f = std.open(temp, 'w', errObj);
  if (f === null) throw new Error(`cannot write ${temp}: ${std.strerror(errObj.errno ?? 0)}`);
  f.puts(data);
  f.flush();
  const failed = f.error();
  const closed = f.close();
  if (failed || closed !== 0) {
    os.remove(temp);
    throw new Error(`cannot write ${temp}: ${closed !== 0 ? errnoText(closed) : 'write error (disk full?)'}`);
  }
  const renamed = os.rename(temp, path);
  if (renamed !== 0) {
    os.remove(temp);
    throw new Error(`cannot rename ${temp} to ${path}: ${errnoText(renamed)}`);
  }
}

export function quickjsMakeDirectory(path: string): void {
  makeDirectories(path, (dir) => {
    const r = os.mkdir(dir, 0o755);
    return r === 0 || r === -EEXIST ? null : errnoText(r);
  });
}

/**
 * A monotonic millisecond clock. QuickJS 2021-03-27 has no os.now() (2025-09-13 has), and the
 * wall clock of a router jumps (by years) when NTP first syncs after boot, so
 * time comes from /proc/uptime (10 ms steps), refined by the wall clock's
 * progress since the last step and never allowed to go back.
 */
export function createMonotonicClock(readUptime: () => string | null = () => readWholeFile('/proc/uptime')): () => number {
  let lastUptime = -1;
  let wallAtStep = 0;
  let last = 0;
  const now = (): number => {
    const wall = Date.now();
    const text = readUptime();
    const seconds = text === null ? NaN : parseFloat(text);
    if (!(seconds >= 0)) return (last = Math.max(last, wall));
    const uptime = Math.round(seconds * 1000);
    if (uptime !== lastUptime) {
      lastUptime = uptime;
      wallAtStep = wall;
    }
    const within = Math.min(Math.max(wall - wallAtStep, 0), 9);
    last = Math.max(last, uptime + within);
    return last;
  };
  return now;
}

const signalNumbers: Record<SignalName, number> = { SIGTERM: os.SIGTERM, SIGINT: os.SIGINT, SIGHUP };

export function createQuickjsHost(component: string, minLevel: LogLevel = 'info'): Host {
  const log = createQuickjsLogger(component, minLevel);
  const listeners = new Map<SignalName, Array<() => void>>();
  const clock = createMonotonicClock();
  // QuickJS has no getpid(): /proc/self/stat starts with it.
  const pid = parseInt(readWholeFile('/proc/self/stat') ?? '', 10);
  return {
    runtime: 'quickjs',
    log,
    pid: pid > 0 ? pid : null,
    exec: quickjsExec,
    spawnLines: quickjsSpawnLines,
    readFile: readWholeFile,
    writeFileAtomic: quickjsWriteFileAtomic,
    removeFile(path) {
      os.remove(path);
    },
    fileExists(path) {
      return os.stat(path)[1] === 0;
    },
    fileMtimeMs(path) {
      const [st, err] = os.stat(path);
      return err === 0 ? st.mtime : null;
    },
    makeDirectory: quickjsMakeDirectory,
    now: clock,
    wallClock: () => Date.now(),
    // Clamped like Node's: QuickJS would overflow its deadline on huge delays and fire at once.
    setTimeout: (fn, ms) => os.setTimeout(fn, Math.min(Math.max(0, ms || 0), 0x7fffffff)) as unknown as TimerHandle,
    clearTimeout: (handle) => os.clearTimeout(handle as unknown as os.QjsTimer),
    onSignal(signal, fn) {
      let list = listeners.get(signal);
      if (!list) {
        const fresh: Array<() => void> = [];
        list = fresh;
        listeners.set(signal, fresh);
        // os.signal keeps one handler per signal; fan out to every listener.
        os.signal(signalNumbers[signal], () => {
          for (const listener of fresh.slice()) listener();
        });
      }
      list.push(fn);
    },
    httpTransport: (target: HttpTarget): HttpTransport => createCurlHttpTransport(target, spawnChild),
    exit: (code) => std.exit(code),
  };
}
