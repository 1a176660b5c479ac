// Types of the QuickJS `std` and `os` modules, only the parts the QuickJS host
// uses, as 2021-03-27 (CI's qjs) has them; 2025-09-13 (OpenWrt 25.12's
// `quickjs`) and later have them too. `os` is declared as an
// augmentation because @types/node also declares a module named 'os'; none of
// these names exist in Node's 'os', so the declarations do not collide. Only
// the QuickJS bundle imports them (esbuild marks 'std' and 'os' external).

declare module 'std' {
  export interface FILE {
    puts(text: string): void;
    printf(format: string, ...args: unknown[]): number;
    flush(): void;
    close(): number;
    getline(): string | null;
    readAsString(maxSize?: number): string;
    error(): boolean;
    eof(): boolean;
    fileno(): number;
  }
  export const out: FILE;
  export const err: FILE;
  export function open(filename: string, flags: string, errorObj?: { errno?: number }): FILE | null;
  export function fdopen(fd: number, flags: string, errorObj?: { errno?: number }): FILE | null;
  export function loadFile(filename: string): string | null;
  export function exit(code: number): never;
  export function getenv(name: string): string | undefined;
  export function strerror(errno: number): string;
  export function gc(): void;
  export function parseExtJSON(text: string): unknown;
}

declare module 'os' {
  export const O_RDONLY: number;
  export const O_WRONLY: number;
  export const O_RDWR: number;
  export const WNOHANG: number;
  export const SIGINT: number;
  export const SIGTERM: number;
  export const SIGPIPE: number;
  export const SIGUSR1: number;
  export const SIGCHLD: number;
  export interface QjsExecOptions {
    block?: boolean;
    usePath?: boolean;
    file?: string;
    cwd?: string;
    stdin?: number;
    stdout?: number;
    stderr?: number;
    env?: Record<string, string>;
  }
  export interface QjsStat {
    dev: number;
    ino: number;
    mode: number;
    size: number;
    mtime: number;
    atime: number;
    ctime: number;
  }
  /** Returns the exit code (block: true) or the pid (block: false). */
  export function exec(argv: readonly string[], options?: QjsExecOptions): number;
  /** Returns [pid, status], or [-errno, 0]. */
  export function waitpid(pid: number, options: number): [number, number];
  export function pipe(): [number, number] | null;
  /** Returns 0 or -errno. */
  export function kill(pid: number, signal: number): number;
  /** Returns the file descriptor or -errno. */
  export function open(filename: string, flags: number, mode?: number): number;
  export function close(fd: number): number;
  /** Returns the byte count or -errno. */
  export function read(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  export function write(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  export function setReadHandler(fd: number, handler: (() => void) | null): void;
  export function setWriteHandler(fd: number, handler: (() => void) | null): void;
  /** handler: a function, null (default action) or undefined (ignore). */
  export function signal(signal: number, handler: (() => void) | null | undefined): void;
  export interface QjsTimer {
    readonly __qjsTimer: unique symbol;
  }
  export function setTimeout(fn: () => void, delayMs: number): QjsTimer;
  export function clearTimeout(timer: QjsTimer): void;
  /** Returns [stat, errno]. */
  export function stat(path: string): [QjsStat, number];
  /** Returns 0 or -errno. */
  export function rename(oldPath: string, newPath: string): number;
  export function remove(path: string): number;
  export function mkdir(path: string, mode?: number): number;
  export function sleep(ms: number): void;
}
