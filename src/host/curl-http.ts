// HttpTransport for QuickJS, which has no sockets: every request is one
// `curl` child (OpenWrt's curl, built with nghttp2 for HTTP/2). All options,
// the URL (it carries the secret watcher id) and the body go to curl as a
// config file on its stdin (`curl -K -`), so nothing secret shows in `ps`
// and no argv length limit applies. curl prints the response head before the
// body (`include`); with `no-buffer` the body is handed on as it arrives, which
// serves SSE push streams and long polls.
//
// Semantics match src/host/node-http.ts: request() resolves for every HTTP
// status and rejects on transport failure or timeout (default 30 s); a
// stream calls onResponse once, onData per chunk, onEnd once; after close()
// no callback runs. "http://" origins use h2c with prior knowledge.
import { RequestInterrupted, type HttpRequest, type HttpResponse, type HttpStream, type HttpStreamHandlers, type HttpTarget, type HttpTransport } from './host.ts';
import type { Child, ChildExit, SpawnFunction } from './quickjs-process.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_S = 10;
const SIGTERM = 15;

export interface CurlFeatures {
  readonly http2: boolean;
  readonly version?: string;
}

export interface CurlTransportOptions {
  /** The curl binary (default "curl", found on PATH). */
  readonly curl?: string;
  /**
   * Whether curl speaks HTTP/2. Default true: mnat-egress checks at start that
   * it does (agent/preflight.ts, `curl -V`), so the transport does not ask again.
   */
  readonly http2?: boolean;
  /**
   * A stream that receives nothing for about this long ends with an error, so
   * a silently dead path (NAT state gone, WAN re-dialled) is noticed. The MNAT
   * server sends an SSE keep-alive comment every 15 s. Default 60; 0: never.
   */
  readonly streamIdleTimeoutS?: number;
}

const DEFAULT_STREAM_IDLE_S = 60;

/** Quotes a value for a curl config file (double quotes; \\ \" \n \r \t escapes). */
export function curlQuote(value: string): string {
  return (
    '"' +
    value.replace(/[\\"\n\r\t]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : '\\' + c)) +
    '"'
  );
}

/** The curl config (read from stdin with -K -) for one request. */
export function curlConfig(
  target: HttpTarget,
  req: HttpRequest,
  features: CurlFeatures,
  streaming: boolean,
  streamIdleTimeoutS = DEFAULT_STREAM_IDLE_S,
): string {
  const origin = target.origin.replace(/\/+$/, '');
  const lines = [
    `url = ${curlQuote(origin + req.path)}`,
    `request = ${curlQuote(req.method)}`,
    'silent',
    'show-error',
    'include',
    'globoff', // IPv6 literals such as [::1] are not URL globs
    'noproxy = "*"', // the control connection goes straight to the server
    `connect-timeout = ${CONNECT_TIMEOUT_S}`,
    'user-agent = "mnat-egress (curl)"',
  ];
  const tls = origin.startsWith('https://');
  if (features.http2) lines.push(tls ? 'http2' : 'http2-prior-knowledge');
  if (tls) {
    if (target.caFile) lines.push(`cacert = ${curlQuote(target.caFile)}`);
    if (target.certFile) lines.push(`cert = ${curlQuote(target.certFile)}`);
    if (target.certFile || target.keyFile) lines.push(`key = ${curlQuote(target.keyFile ?? target.certFile ?? '')}`);
    if (target.insecureTls) lines.push('insecure');
  }
  const timeoutMs = req.timeoutMs ?? (streaming ? undefined : DEFAULT_TIMEOUT_MS);
  if (timeoutMs !== undefined) lines.push(`max-time = ${(timeoutMs / 1000).toFixed(3)}`);
  if (streaming) lines.push('no-buffer');
  // curl averages over a few seconds: it gives up after about idle + 5 s below 1 byte/s.
  if (streaming && streamIdleTimeoutS > 0) lines.push('speed-limit = 1', `speed-time = ${Math.max(1, Math.round(streamIdleTimeoutS))}`);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
  if (req.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/yang-data+json';
  // curl would add "Expect: 100-continue" to larger HTTP/1.1 uploads; never wait for it.
  if (req.body !== undefined && headers['expect'] === undefined) headers['expect'] = '';
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name + value)) throw new Error(`header ${name}: line breaks are not allowed`);
    // "name:" with nothing after it removes a header curl would add itself.
    lines.push(`header = ${curlQuote(value === '' ? `${name}:` : `${name}: ${value}`)}`);
  }
  if (req.body !== undefined) lines.push(`data-raw = ${curlQuote(req.body)}`);
  return lines.join('\n') + '\n';
}

/**
 * Splits curl's `include` output into the final response head and the body.
 * Interim 1xx heads are skipped. Header names are lower-cased; repeated
 * headers are joined with ", " as node:http2 does.
 */
export class CurlHeadParser {
  #buffer = '';
  #done = false;
  status = 0;
  headers: Record<string, string> = {};

  /** Feeds output; returns the body text that follows the head (possibly ''), or null while the head is incomplete. */
  push(text: string): string | null {
    if (this.#done) return text;
    this.#buffer += text;
    for (;;) {
      const m = /\r?\n\r?\n/.exec(this.#buffer);
      if (!m) {
        if (this.#buffer.length > 65536) throw new Error('response head larger than 64 KiB');
        return null;
      }
      const head = this.#buffer.slice(0, m.index);
      const rest = this.#buffer.slice(m.index + m[0].length);
      const lines = head.split(/\r?\n/);
      const statusLine = /^HTTP\/[0-9.]+ ([0-9]{3})/.exec(lines[0] ?? '');
      if (!statusLine) throw new Error(`unexpected response head from curl: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
      const status = Number(statusLine[1]);
      if (status >= 100 && status < 200) {
        this.#buffer = rest;
        continue;
      }
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      this.status = status;
      this.headers = headers;
      this.#done = true;
      this.#buffer = '';
      return rest;
    }
  }

  get complete(): boolean {
    return this.#done;
  }
}

/** SIGHUP, SIGINT and SIGTERM: the signals that stop a whole process group (see RequestInterrupted). */
const GROUP_STOP_SIGNALS: ReadonlySet<number> = new Set([1, 2, 15]);

/** curl's own message ("curl: (7) Failed to connect …") from its stderr. */
function curlError(stderr: string, exit: ChildExit): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const last = lines[lines.length - 1];
  if (exit.code === 127 && !last) return 'curl not found: install curl (OpenWrt: curl, its libcurl built with LIBCURL_NGHTTP2) or put it on PATH';
  if (last) return last;
  return exit.signal !== null ? `curl killed by signal ${exit.signal}` : `curl exited with code ${exit.code}`;
}

/** What `curl --version` prints: the version, and whether the Features line lists HTTP2. */
export function curlFeatures(versionText: string): CurlFeatures {
  return { version: /^curl (\S+)/.exec(versionText)?.[1] ?? 'unknown', http2: /^Features:.*\bHTTP2\b/m.test(versionText) };
}

export function createCurlHttpTransport(
  target: HttpTarget,
  spawn: SpawnFunction,
  options: CurlTransportOptions = {},
): HttpTransport {
  if (!/^https?:\/\/[^/]+\/?$/.test(target.origin)) {
    throw new Error(`server origin ${target.origin} must look like https://host:port or http://host:port`);
  }
  const curl = options.curl ?? 'curl';
  const features: CurlFeatures = { http2: options.http2 ?? true };
  const active = new Set<{ cancel(error?: Error): void }>();
  let closed = false;

  /** Runs curl for one request; the callbacks see the head, the body chunks and the end. */
  const run = (
    req: HttpRequest,
    streaming: boolean,
    handlers: {
      head(status: number, headers: Record<string, string>): void;
      body(text: string): void;
      end(error?: Error): void;
    },
  ): { cancel(error?: Error): void } => {
    let cancelled = false;
    let child: Child | null = null;
    const entry = {
      /** Stops curl; with an error the caller's end() hears it, without one nothing more is called. */
      cancel(error?: Error) {
        if (cancelled) return;
        cancelled = true;
        active.delete(entry);
        child?.kill(SIGTERM);
        if (error) handlers.end(error);
      },
    };
    active.add(entry);
    const fail = (message: string, interrupted = false): void => {
      if (cancelled) return;
      cancelled = true;
      active.delete(entry);
      const text = `${req.method} ${req.path}: ${message}`;
      handlers.end(interrupted ? new RequestInterrupted(text) : new Error(text));
    };
    // Started from a microtask: no handler runs before request()/stream() returned.
    void Promise.resolve().then(() => {
      if (cancelled) return;
      let config: string;
      try {
        config = curlConfig(target, req, features, streaming, options.streamIdleTimeoutS);
      } catch (e) {
        fail((e as Error).message);
        return;
      }
      const parser = new CurlHeadParser();
      let stderr = '';
      let parseError: string | null = null;
      try {
        child = spawn([curl, '-K', '-'], {
          input: config,
          onStdout(text) {
            if (cancelled || parseError !== null) return;
            let body: string | null;
            const wasComplete = parser.complete;
            try {
              body = parser.push(text);
            } catch (e) {
              parseError = (e as Error).message;
              child?.kill(SIGTERM);
              return;
            }
            if (body === null) return;
            if (!wasComplete) handlers.head(parser.status, parser.headers);
            if (body.length > 0 && !cancelled) handlers.body(body);
          },
          onStderr: (t) => (stderr += t),
          onExit(exit) {
            if (cancelled) return;
            if (parseError !== null) return fail(parseError);
            if (exit.code !== 0) return fail(curlError(stderr, exit), exit.signal !== null && GROUP_STOP_SIGNALS.has(exit.signal));
            if (!parser.complete) return fail('curl ended without an HTTP response');
            cancelled = true;
            active.delete(entry);
            handlers.end();
          },
        });
      } catch (e) {
        fail((e as Error).message);
      }
    });
    return entry;
  };

  return {
    request(req: HttpRequest): Promise<HttpResponse> {
      return new Promise((resolve, reject) => {
        if (closed) {
          reject(new Error(`${req.method} ${req.path}: transport closed`));
          return;
        }
        let status = 0;
        let headers: Record<string, string> = {};
        const parts: string[] = [];
        run(req, false, {
          head(s, h) {
            status = s;
            headers = h;
          },
          body: (t) => parts.push(t),
          end(error) {
            if (error) reject(error);
            else resolve({ status, headers, body: parts.join('') });
          },
        });
      });
    },

    stream(req: HttpRequest, handlers: HttpStreamHandlers): HttpStream {
      if (closed) {
        Promise.resolve().then(() => handlers.onEnd(new Error(`${req.method} ${req.path}: transport closed`)));
        return { close: () => undefined };
      }
      let open = true;
      const entry = run(req, true, {
        head: (s, h) => open && handlers.onResponse(s, h),
        body: (t) => open && handlers.onData(t),
        end(error) {
          if (!open) return;
          open = false;
          handlers.onEnd(error);
        },
      });
      return {
        close() {
          open = false;
          entry.cancel();
        },
      };
    },

    close() {
      closed = true;
      for (const entry of [...active]) entry.cancel(new Error('transport closed'));
    },
  };
}
