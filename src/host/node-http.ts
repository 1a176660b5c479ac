// HttpTransport over node:http2: one multiplexed session per origin (TLS with
// optional client certificate, or plaintext h2c for "http://" origins),
// re-established on demand after it closes or fails.
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { HttpRequest, HttpResponse, HttpStream, HttpStreamHandlers, HttpTarget, HttpTransport } from './host.ts';

const DEFAULT_TIMEOUT_MS = 30_000;

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/**
 * A stream error's message with its cause: a connection that failed before the
 * stream opened ends it with "pending stream has been canceled", caused by an
 * AggregateError (one error per address tried) whose own message is empty.
 */
export function streamErrorMessage(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (!(cause instanceof Error)) return err.message;
  const parts = cause instanceof AggregateError ? cause.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))) : [cause.message];
  return `${err.message.replace(/ \(caused by: .*\)$/, '')}: ${parts.filter((p) => p).join('; ') || cause.name}`;
}

export function createNodeHttpTransport(target: HttpTarget): HttpTransport {
  const url = new URL(target.origin);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`server origin ${target.origin} must start with https:// or http://`);
  }
  const tls = url.protocol === 'https:';
  // Read up front, so a bad path is reported at start, and again for each new
  // connection, so a renewed certificate is used from the next reconnect on
  // (a file that cannot be read then, e.g. mid-rotation, keeps the last good copy).
  const readFiles = () => ({
    ca: readPem(target.caFile, 'CA file'),
    cert: readPem(target.certFile, 'client certificate'),
    key: readPem(target.keyFile ?? target.certFile, 'client key'),
  });
  let pem = readFiles();
  let session: ClientHttp2Session | null = null;
  let closed = false;
  const active = new WeakMap<ClientHttp2Session, number>();

  const getSession = (): ClientHttp2Session => {
    if (closed) throw new Error('transport closed');
    if (session && !session.closed && !session.destroyed) return session;
    if (tls) {
      try {
        pem = readFiles();
      } catch {
        // keep the last good copy
      }
    }
    const s = connect(
      target.origin,
      tls
        ? {
            ca: pem.ca,
            cert: target.certFile ? pem.cert : undefined,
            key: target.certFile ? pem.key : undefined,
            rejectUnauthorized: target.insecureTls !== true,
            ALPNProtocols: ['h2'],
          }
        : {},
    );
    const forget = (): void => {
      if (session === s) session = null;
    };
    s.on('error', forget);
    s.on('close', forget);
    s.on('goaway', forget);
    // The session must not keep a finished process alive; open streams do.
    s.unref();
    session = s;
    return s;
  };

  const open = (req: HttpRequest): ClientHttp2Stream => {
    const headers: Record<string, string> = {
      [constants.HTTP2_HEADER_METHOD]: req.method,
      [constants.HTTP2_HEADER_PATH]: req.path,
    };
    for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
    if (req.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/yang-data+json';
    const s = getSession();
    // An idle session must not keep the process alive; one with requests in flight must.
    const count = (active.get(s) ?? 0) + 1;
    active.set(s, count);
    if (count === 1) s.ref();
    const stream = s.request(headers, { endStream: req.body === undefined });
    stream.on('close', () => {
      const left = (active.get(s) ?? 1) - 1;
      active.set(s, left);
      if (left === 0 && !s.destroyed) s.unref();
    });
    if (req.body !== undefined) stream.end(req.body);
    return stream;
  };

  return {
    request(req: HttpRequest): Promise<HttpResponse> {
      return new Promise((resolve, reject) => {
        let stream: ClientHttp2Stream;
        try {
          stream = open(req);
        } catch (err) {
          reject(err as Error);
          return;
        }
        let status = 0;
        let headers: Record<string, string> = {};
        const chunks: Buffer[] = [];
        let done = false;
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          stream.close(constants.NGHTTP2_CANCEL);
          reject(new Error(`${req.method} ${req.path}: no answer within ${req.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
        }, req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        stream.on('response', (h) => {
          status = Number(h[constants.HTTP2_HEADER_STATUS]);
          headers = flattenHeaders(h);
        });
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        stream.on('error', (err) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(new Error(`${req.method} ${req.path}: ${streamErrorMessage(err)}`));
        });
        stream.on('close', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(new Error(`${req.method} ${req.path}: stream closed (code ${stream.rstCode ?? '?'}) before the answer ended`));
        });
      });
    },

    stream(req: HttpRequest, handlers: HttpStreamHandlers): HttpStream {
      let ended = false;
      const end = (error?: Error): void => {
        if (ended) return;
        ended = true;
        handlers.onEnd(error);
      };
      let stream: ClientHttp2Stream;
      try {
        stream = open(req);
      } catch (err) {
        queueMicrotask(() => end(err as Error));
        return { close: () => undefined };
      }
      stream.setEncoding('utf8');
      stream.on('response', (h) => handlers.onResponse(Number(h[constants.HTTP2_HEADER_STATUS]), flattenHeaders(h)));
      stream.on('data', (chunk: string) => {
        if (!ended) handlers.onData(chunk);
      });
      stream.on('end', () => end());
      stream.on('error', (err) => end(new Error(streamErrorMessage(err))));
      stream.on('close', () => end(stream.rstCode && stream.rstCode !== constants.NGHTTP2_NO_ERROR ? new Error(`stream reset (code ${stream.rstCode})`) : undefined));
      return {
        close() {
          ended = true;
          if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
        },
      };
    },

    close() {
      closed = true;
      if (session) {
        session.close();
        session = null;
      }
    },
  };
}
