// One request as the application sees it, over HTTP/1.1 (Node's
// IncomingMessage/ServerResponse) or HTTP/2 (a thin H2Exchange over the
// stream: Node's http2 compatibility layer costs about a third of the
// throughput); the connection it came on (for per-client limits) and the
// client certificate it carries.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { HttpDate } from './http-date.ts';
import type { ConnRec } from './limits.ts';

export interface AnyRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly socket: unknown;
  /** Present for HTTP/2. */
  readonly stream?: ServerHttp2Stream;
  readonly readableEnded: boolean;
  /** HTTP/1.1: the whole message (body included) has arrived. */
  readonly complete?: boolean;
  resume(): unknown;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'aborted', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
}

export interface AnyResponse {
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers?: Record<string, string>): unknown;
  write(chunk: string): unknown;
  end(chunk?: string | Buffer): unknown;
  /** HTTP/2: a whole JSON answer in one go (see H2Exchange.json). */
  json?(status: number, body: Buffer, length: string, etag?: string): void;
  on(event: 'close', fn: () => void): unknown;
  off(event: 'close', fn: () => void): unknown;
}

export type Handler = (req: AnyRequest, res: AnyResponse) => void;

/** Where the listener keeps a connection's ConnRec: on the HTTP/2 session, or on the HTTP/1.1 socket. */
export const CONN = Symbol('mnat.connection');

type ConnHolder = { [CONN]?: ConnRec };

/** The connection record of a request (undefined for requests not accepted by listener.ts). */
export function connectionOf(req: AnyRequest): ConnRec | undefined {
  const holder = (req.stream ? req.stream.session : req.socket) as ConnHolder | undefined;
  return holder?.[CONN];
}

/**
 * One HTTP/2 request and its response, over the stream: a single object plays
 * both roles, so a request costs the application one allocation.
 */
export class H2Exchange implements AnyRequest, AnyResponse {
  readonly method: string | undefined;
  readonly url: string | undefined;
  private extra: Record<string, string> | null = null;
  private sent = false;
  // Tracked here, not read from the stream: Node ends the writable side of a
  // HEAD request's stream before the handler runs (no body may follow), so
  // stream.writableEnded is true before any response was sent.
  private ended = false;
  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
  ) {
    this.method = headers[':method'];
    this.url = headers[':path'];
  }
  get socket(): unknown {
    return this.stream.session?.socket;
  }
  get readableEnded(): boolean {
    return this.stream.readableEnded;
  }
  resume(): unknown {
    return this.stream.resume();
  }
  /** Request events ('data', 'end', 'aborted', 'error') and the response's 'close'. */
  on(event: string, fn: (...args: never[]) => void): unknown {
    return this.stream.on(event, fn as (...args: unknown[]) => void);
  }
  off(event: 'close', fn: () => void): unknown {
    return this.stream.off(event, fn);
  }
  get headersSent(): boolean {
    return this.sent || this.stream.headersSent;
  }
  get writableEnded(): boolean {
    return this.ended || this.stream.destroyed || this.stream.closed;
  }
  setHeader(name: string, value: string): unknown {
    const key = name.toLowerCase();
    // Connection-specific headers do not exist in HTTP/2 (RFC 9113 §8.2.2).
    if (key === 'connection' || key === 'keep-alive' || key === 'transfer-encoding') return undefined;
    (this.extra ??= {})[key] = value;
    return undefined;
  }
  writeHead(status: number, headers: Record<string, string> = {}): unknown {
    if (this.headersSent || this.writableEnded) return undefined;
    // The application writes header names in lower case already. Headers are
    // not deleted from (that would slow the object down); Node copies them.
    let out: Record<string, string | number> = headers;
    if (this.extra || headers.connection !== undefined) {
      out = { ...this.extra };
      for (const k in headers) if (k !== 'connection') out[k] = headers[k] as string;
    }
    if (out[':status'] !== status || out.date === undefined) {
      if (out === headers) out = { ...headers };
      out[':status'] = status;
      out.date ??= DATE.get();
    }
    this.sent = true;
    this.stream.respond(out);
    return undefined;
  }
  write(chunk: string): unknown {
    if (this.writableEnded) return false;
    if (!this.headersSent) this.writeHead(200);
    return this.stream.write(chunk);
  }
  end(chunk?: string | Buffer): unknown {
    if (this.writableEnded) return undefined;
    if (!this.headersSent) this.writeHead(200);
    this.ended = true;
    if (this.stream.writableEnded) return undefined; // HEAD: respond() ended the stream
    if (chunk === undefined) this.stream.end();
    else this.stream.end(chunk);
    return undefined;
  }
  /**
   * A whole JSON answer. The headers are one fresh literal of a fixed shape:
   * Node copies response headers with for-in, which is fastest on such an
   * object (a reused one costs several times more, and garbage).
   */
  json(status: number, body: Buffer, length: string, etag?: string): void {
    if (this.extra) {
      this.writeHead(status, etag === undefined ? { 'content-type': YANG_JSON, 'content-length': length } : { 'content-type': YANG_JSON, 'content-length': length, etag, 'cache-control': 'no-cache' });
      this.end(body);
      return;
    }
    if (this.headersSent || this.writableEnded) return;
    this.sent = true;
    this.ended = true;
    this.stream.respond(
      etag === undefined
        ? { ':status': status, 'content-type': YANG_JSON, 'content-length': length, date: DATE.get() }
        : { ':status': status, 'content-type': YANG_JSON, 'content-length': length, etag, 'cache-control': 'no-cache', date: DATE.get() },
    );
    this.stream.end(body);
  }
}

const YANG_JSON = 'application/yang-data+json';
/** Every HTTP/2 answer carries its own Date (see http-date.ts). */
const DATE = new HttpDate();

/** The verified client certificate of a request, if any. */
export interface PeerIdentity {
  /** "sha256:AB:CD…" of the certificate, the key a watcher is bound to. */
  owner: string;
  subjectCn: string | undefined;
}

const IDENTITY = Symbol('mnat.identity');
type IdentityHolder = { [IDENTITY]?: PeerIdentity | null | 'untrusted' };

/** null: no certificate; 'untrusted': a certificate the CA did not verify. Kept on the session (or HTTP/1.1 socket). */
export function peerIdentity(req: AnyRequest): PeerIdentity | null | 'untrusted' {
  const holder = (req.stream ? req.stream.session : req.socket) as IdentityHolder | undefined;
  if (!holder) return null;
  const cached = holder[IDENTITY];
  if (cached !== undefined) return cached;
  const result = identityOf((req.stream ? req.stream.session?.socket : req.socket) as TLSSocket | undefined);
  holder[IDENTITY] = result;
  return result;
}

function identityOf(socket: TLSSocket | undefined): PeerIdentity | null | 'untrusted' {
  if (!socket || typeof socket.getPeerCertificate !== 'function') return null;
  let result: PeerIdentity | null | 'untrusted' = null;
  const cert = socket.getPeerCertificate();
  if (cert && typeof cert.fingerprint256 === 'string' && cert.fingerprint256 !== '') {
    if (!socket.authorized) result = 'untrusted';
    else {
      const cn = cert.subject?.CN;
      result = { owner: `sha256:${cert.fingerprint256}`, subjectCn: Array.isArray(cn) ? cn[0] : cn };
    }
  }
  return result;
}
