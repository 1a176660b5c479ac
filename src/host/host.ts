// The runtime seam. Everything above src/host talks to the machine only through
// this interface, so the same agent code runs on Node and on QuickJS (OpenWrt).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A structured log line: a message plus flat key/value fields. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface ExecResult {
  /** Exit code; null when the process was killed by a signal or timed out. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string;
  /**
   * Kill the child after this long (default: no limit). exec then settles with
   * code null within a few seconds even if the child or a descendant holding
   * its pipes never ends, so a caller never waits forever.
   */
  readonly timeoutMs?: number;
}

/** A long-running child whose stdout is consumed line by line. */
export interface LineProcess {
  kill(): void;
}

export interface TimerHandle {
  readonly __timer: unique symbol;
}

export type SignalName = 'SIGTERM' | 'SIGHUP' | 'SIGINT';

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. "/restconf/data/…"; the origin comes from the client's config. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface HttpStreamHandlers {
  /** Called once with the status and headers before any data. */
  onResponse(status: number, headers: Record<string, string>): void;
  /** Body bytes as they arrive (UTF-8 text, split anywhere). */
  onData(chunk: string): void;
  /** The stream ended: cleanly (no error) or with a transport error. */
  onEnd(error?: Error): void;
}

export interface HttpStream {
  close(): void;
}

/** Where and how to reach the MNAT server. */
export interface HttpTarget {
  /** "https://host:port" or "http://host:port" (plaintext h2c with --insecure). */
  readonly origin: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Skip server certificate verification (labs only). */
  readonly insecureTls?: boolean;
}

/**
 * A request whose helper process (curl) was stopped by SIGINT, SIGTERM or
 * SIGHUP that the transport did not send: what Ctrl-C in a shell or a
 * supervisor's kill of the whole process group does. The agent is then almost
 * always being stopped too; the server did nothing wrong.
 */
export class RequestInterrupted extends Error {}

/** An HTTP/2 client bound to one server origin. */
export interface HttpTransport {
  request(req: HttpRequest): Promise<HttpResponse>;
  stream(req: HttpRequest, handlers: HttpStreamHandlers): HttpStream;
  close(): void;
}

export interface Host {
  readonly runtime: 'node' | 'quickjs';
  readonly log: Logger;
  /** This process's id; null where it cannot be read. */
  readonly pid: number | null;

  /** Runs argv (never through a shell) and collects its output. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Starts argv and hands each stdout line to onLine; onExit when it ends. */
  spawnLines(
    argv: readonly string[],
    onLine: (line: string) => void,
    onExit: (code: number | null) => void,
  ): LineProcess;

  readFile(path: string): string | null;
  /** Writes via a temp file in the same directory and rename, so readers never see a partial file. */
  writeFileAtomic(path: string, data: string): void;
  /** Removes a file, or a directory when it is empty; nothing when it is absent. */
  removeFile(path: string): void;
  fileExists(path: string): boolean;
  /** Modification time in ms since the epoch, or null when the file is absent. */
  fileMtimeMs(path: string): number | null;
  makeDirectory(path: string): void;

  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Milliseconds since the epoch. */
  wallClock(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  onSignal(signal: SignalName, fn: () => void): void;

  httpTransport(target: HttpTarget): HttpTransport;
  exit(code: number): never;
}
