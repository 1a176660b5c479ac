// Child processes on QuickJS: os.exec without blocking, stdin/stdout/stderr
// through pipes watched by the event loop (os.setReadHandler /
// os.setWriteHandler), so nothing ever blocks the loop and there is no busy
// polling. QuickJS has no SIGCHLD hook, so the child is reaped with
// waitpid(WNOHANG) once both of its output pipes reached end-of-file (retried
// on a short back-off timer in the rare case the child closed them early).
// End-of-file alone cannot be trusted after a kill: a grandchild (`sh -c
// 'daemon &'`) keeps the pipes open for as long as it lives, so SIGKILL also
// gives up on the pipes after a short grace and reaps by waitpid alone.
import * as os from 'os';
import { encodeUtf8, Utf8Decoder } from './quickjs-utf8.ts';

/** How a spawned child ended: exit code, or the signal that killed it. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: number | null;
}

export interface SpawnOptions {
  /** Written to stdin, which is then closed; undefined connects stdin to /dev/null. */
  readonly input?: string;
  readonly onStdout?: (text: string) => void;
  readonly onStderr?: (text: string) => void;
  /** Called once, after the output callbacks have seen all output. */
  readonly onExit: (exit: ChildExit) => void;
}

export interface Child {
  readonly pid: number;
  /**
   * Sends a signal (default SIGTERM) unless the child was already reaped.
   * After SIGKILL the output pipes are closed within KILL_PIPE_GRACE_MS even if
   * something else still holds their write ends, so onExit follows the reap.
   */
  kill(signal?: number): void;
}

export type SpawnFunction = (argv: readonly string[], options: SpawnOptions) => Child;

export const SIGKILL = 9;
export const SIGHUP = 1; // os has no SIGHUP constant; 1 on every Linux architecture
export const SIGPIPE = 13; // the same on every Linux architecture

/** How long output may still drain after SIGKILL before the pipes are abandoned. */
export const KILL_PIPE_GRACE_MS = 200;
const READ_CHUNK = 16384;
const WRITE_CHUNK = 4096; // ≤ PIPE_BUF: a writable pipe takes it without blocking
const readBuffer = new ArrayBuffer(READ_CHUNK);
let sigpipeCaught = false;

/** Decodes waitpid's raw status word. */
export function decodeWaitStatus(status: number): ChildExit {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

function openDevNull(flags: number): number {
  const fd = os.open('/dev/null', flags);
  if (fd < 0) throw new Error(`cannot open /dev/null (errno ${-fd})`);
  return fd;
}

export const spawnChild: SpawnFunction = (argv, options) => {
  if (argv.length === 0) throw new Error('spawn: empty argv');
  if (!sigpipeCaught) {
    // A child that exits before reading its input must not kill us with SIGPIPE.
    // Caught, not ignored (undefined is SIG_IGN): an ignored signal stays ignored
    // across exec, and a child whose reader is gone would then never die of it.
    os.signal(SIGPIPE, () => undefined);
    sigpipeCaught = true;
  }
  const opened: number[] = [];
  /** Undo on a failed spawn: close every descriptor opened so far. */
  const closeOpened = (): void => {
    for (const fd of opened) os.close(fd);
  };
  const makePipe = (): [number, number] => {
    const p = os.pipe();
    if (p === null) {
      closeOpened();
      throw new Error(`spawn ${argv[0]}: cannot create a pipe (too many open files?)`);
    }
    opened.push(p[0], p[1]);
    return p;
  };
  const out = makePipe();
  const err = makePipe();
  const inPipe = options.input !== undefined ? makePipe() : null;
  let stdinFd: number;
  try {
    stdinFd = inPipe ? inPipe[0] : openDevNull(os.O_RDONLY);
  } catch (e) {
    closeOpened();
    throw e;
  }
  if (!inPipe) opened.push(stdinFd);

  let pid: number;
  try {
    pid = os.exec(argv, { block: false, usePath: true, stdin: stdinFd, stdout: out[1], stderr: err[1] });
  } catch (e) {
    closeOpened();
    throw new Error(`spawn ${argv[0]}: ${(e as Error).message}`);
  }
  // The child has its copies; keep only our ends.
  os.close(stdinFd);
  os.close(out[1]);
  os.close(err[1]);

  let openOutputs = 2;
  let reaped = false;
  let reapTimer: os.QjsTimer | null = null;
  let reapDelay = 1;
  let abandonTimer: os.QjsTimer | null = null;
  const closers: Array<() => void> = []; // one per pipe end still open (outputs, stdin)

  const tryReap = (): void => {
    reapTimer = null;
    const [ret, status] = os.waitpid(pid, os.WNOHANG);
    if (ret === pid || ret < 0) {
      reaped = true;
      if (abandonTimer !== null) os.clearTimeout(abandonTimer);
      // ret < 0 (ECHILD): someone else reaped it; report it as gone.
      options.onExit(ret === pid ? decodeWaitStatus(status) : { code: null, signal: null });
      return;
    }
    reapDelay = Math.min(reapDelay * 2, 1000);
    reapTimer = os.setTimeout(tryReap, reapDelay);
  };

  const watchOutput = (fd: number, sink: ((text: string) => void) | undefined): void => {
    const decoder = new Utf8Decoder();
    let open = true;
    const close = (): void => {
      if (!open) return;
      open = false;
      os.setReadHandler(fd, null);
      os.close(fd);
      closers.splice(closers.indexOf(close), 1);
      try {
        const tail = decoder.decode(new Uint8Array(0), true);
        if (sink && tail.length > 0) sink(tail);
      } finally {
        // Even if the sink throws, the child must still be reaped and reported.
        if (--openOutputs === 0) tryReap();
      }
    };
    closers.push(close);
    os.setReadHandler(fd, () => {
      const n = os.read(fd, readBuffer, 0, READ_CHUNK);
      if (n > 0) {
        const text = decoder.decode(new Uint8Array(readBuffer, 0, n));
        if (sink && text.length > 0) sink(text);
        return;
      }
      // 0: end of file; < 0: read error. Either way this output is done.
      close();
    });
  };
  watchOutput(out[0], options.onStdout);
  watchOutput(err[0], options.onStderr);

  if (inPipe) {
    const fd = inPipe[1];
    const bytes = encodeUtf8(options.input ?? '');
    let offset = 0;
    const finish = (): void => {
      if (closers.indexOf(finish) < 0) return;
      closers.splice(closers.indexOf(finish), 1);
      os.setWriteHandler(fd, null);
      os.close(fd);
    };
    closers.push(finish);
    if (bytes.length === 0) {
      finish();
    } else {
      os.setWriteHandler(fd, () => {
        const len = Math.min(WRITE_CHUNK, bytes.length - offset);
        const chunk = bytes.slice(offset, offset + len);
        const n = os.write(fd, chunk.buffer, 0, len);
        if (n <= 0) return finish(); // EPIPE: the child stopped reading
        offset += n;
        if (offset >= bytes.length) finish();
      });
    }
  }

  return {
    pid,
    kill(signal = os.SIGTERM) {
      if (reaped) return;
      os.kill(pid, signal);
      if (signal === SIGKILL && abandonTimer === null && closers.length > 0) {
        // Output still in the pipes drains meanwhile; what a grandchild holds open is given up.
        abandonTimer = os.setTimeout(() => {
          for (const close of closers.slice()) close();
        }, KILL_PIPE_GRACE_MS);
      }
      if (reapTimer !== null) {
        // It may be waiting on the back-off: look again soon.
        os.clearTimeout(reapTimer);
        reapDelay = 1;
        reapTimer = os.setTimeout(tryReap, 1);
      }
    },
  };
};
