// The listening side: HTTP/2 over TLS (ALPN h2, with HTTP/1.1 fallback via
// allowHTTP1), optional client certificates (mTLS), or --insecure plaintext
// where one port serves both h2c (prior knowledge) and HTTP/1.1, told apart
// by the connection preface.
import { createServer as createH2cServer, createSecureServer, type Http2Server, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';

/**
 * What the application needs of a request. HTTP/1.1 requests are Node's
 * IncomingMessage; HTTP/2 requests are a thin H2Request over the stream (the
 * http2 compatibility layer costs about a third of the throughput).
 */
export interface AnyRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly socket: unknown;
  /** Present for HTTP/2. */
  readonly stream?: ServerHttp2Stream;
  readonly readableEnded: boolean;
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
  end(chunk?: string): unknown;
  on(event: 'close', fn: () => void): unknown;
  off(event: 'close', fn: () => void): unknown;
}

export type Handler = (req: AnyRequest, res: AnyResponse) => void;

class H2Request implements AnyRequest {
  readonly method: string | undefined;
  readonly url: string | undefined;
  constructor(readonly stream: ServerHttp2Stream, readonly headers: IncomingHttpHeaders) {
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
  on(event: string, fn: (...args: never[]) => void): unknown {
    return this.stream.on(event, fn as (...args: unknown[]) => void);
  }
}

class H2Response implements AnyResponse {
  private extra: Record<string, string> | null = null;
  private sent = false;
  constructor(private readonly stream: ServerHttp2Stream) {}
  get headersSent(): boolean {
    return this.sent || this.stream.headersSent;
  }
  get writableEnded(): boolean {
    return this.stream.writableEnded || this.stream.destroyed || this.stream.closed;
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
    // The application writes header names in lower case already.
    const out: Record<string, string | number> = this.extra ? { ...this.extra, ...headers } : headers;
    out[':status'] = status;
    delete out.connection;
    this.sent = true;
    this.stream.respond(out);
    return undefined;
  }
  write(chunk: string): unknown {
    if (this.writableEnded) return false;
    if (!this.headersSent) this.writeHead(200);
    return this.stream.write(chunk);
  }
  end(chunk?: string): unknown {
    if (this.writableEnded) return undefined;
    if (!this.headersSent) this.writeHead(200);
    if (chunk === undefined) this.stream.end();
    else this.stream.end(chunk);
    return undefined;
  }
  on(event: 'close', fn: () => void): unknown {
    return this.stream.on(event, fn);
  }
  off(event: 'close', fn: () => void): unknown {
    return this.stream.off(event, fn);
  }
}

function onStream(handler: Handler): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void {
  return (stream, headers) => {
    // A stream the peer resets must not raise an unhandled 'error'.
    stream.on('error', () => undefined);
    handler(new H2Request(stream, headers), new H2Response(stream));
  };
}

function http1(handler: Handler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => handler(req as unknown as AnyRequest, res as unknown as AnyResponse);
}

export interface ListenOptions {
  host: string;
  port: number;
  insecure: boolean;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  requireClientCert?: boolean;
}

export interface Listener {
  readonly port: number;
  /** Stops accepting, closes idle sessions; resolves when the socket is closed. */
  close(): Promise<void>;
  /** Drops every open connection (after streams were ended). */
  destroyAll(): void;
}

/** "[::]:8443", "127.0.0.1:0", ":8443", "8443" → host and port. */
export function parseListen(text: string): { host: string; port: number } {
  let host = '::';
  let portText = text;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    host = bracket[1] as string;
    portText = bracket[2] as string;
  } else if (text.includes(':')) {
    const idx = text.lastIndexOf(':');
    if (text.indexOf(':') !== idx) throw new Error(`--listen ${text}: write IPv6 addresses in brackets, e.g. [::1]:8443`);
    host = text.slice(0, idx) || '::';
    portText = text.slice(idx + 1);
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new Error(`--listen ${text}: "${portText}" is not a port number`);
  return { host, port: Number(portText) };
}

function readFileOrThrow(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

export async function listen(options: ListenOptions, handler: Handler): Promise<Listener> {
  const sockets = new Set<Socket>();
  let server: Http2SecureServer | NetServer;
  let h2: Http2Server | Http2SecureServer;
  const h2Settings = { maxConcurrentStreams: 256 };
  if (options.insecure) {
    const h2c = createH2cServer({ settings: h2Settings });
    h2c.on('stream', onStream(handler));
    const http1Server = createHttp1Server(http1(handler));
    http1Server.keepAliveTimeout = 65_000;
    h2 = h2c;
    const net = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        // "PRI * HTTP/2.0" is the h2 prior-knowledge preface.
        // The h2 session reads the unshifted bytes itself (socket.read() on the next
        // tick); resuming here would flow them to nobody. HTTP/1.1 resumes on its own.
        if (first.subarray(0, 3).toString('latin1') === 'PRI') h2c.emit('connection', socket);
        else {
          http1Server.emit('connection', socket);
          socket.resume();
        }
      });
    });
    server = net;
  } else {
    if (!options.tlsCert || !options.tlsKey) throw new Error('TLS needs --tls-cert and --tls-key (or use --insecure for a plaintext lab server)');
    const secure = createSecureServer(
      {
        cert: readFileOrThrow(options.tlsCert, 'TLS certificate'),
        key: readFileOrThrow(options.tlsKey, 'TLS key'),
        ca: options.clientCa ? readFileOrThrow(options.clientCa, 'client CA') : undefined,
        requestCert: options.clientCa !== undefined,
        rejectUnauthorized: options.clientCa !== undefined && options.requireClientCert === true,
        allowHTTP1: true,
        settings: h2Settings,
      },
    );
    // HTTP/1.1 (ALPN fallback) arrives as 'request'. Adding that listener also
    // makes Node route HTTP/2 streams through its compatibility layer; drop that
    // route and take the streams directly.
    secure.on('request', http1(handler));
    secure.removeAllListeners('stream');
    secure.on('stream', onStream(handler));
    secure.on('secureConnection', (socket: TLSSocket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    // A failed handshake (e.g. no client certificate) must not take the server down.
    secure.on('tlsClientError', () => undefined);
    h2 = secure;
    server = secure;
  }
  // Idle sessions are closed after longer than the longest long poll (300 s);
  // push streams send a keep-alive every 15 s and are never idle that long.
  h2.setTimeout(330_000);
  h2.on('sessionError', () => undefined);
  h2.on('session', (session) => session.on('error', () => undefined));
  const bind = (host: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: options.port, ipv6Only: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await bind(options.host);
  } catch (err) {
    // "[::]" on a host without IPv6: the IPv4 wildcard is what was meant.
    const code = (err as NodeJS.ErrnoException).code;
    if (options.host !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
    await bind('0.0.0.0');
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    destroyAll() {
      for (const s of sockets) s.destroy();
    },
  };
}

/** The verified client certificate of a request, if any. */
export interface PeerIdentity {
  /** "sha256:AB:CD…" of the certificate, the key a watcher is bound to. */
  owner: string;
  subjectCn: string | undefined;
}

const identityCache = new WeakMap<object, PeerIdentity | null | 'untrusted'>();

/** null: no certificate; 'untrusted': a certificate the CA did not verify. */
export function peerIdentity(req: AnyRequest): PeerIdentity | null | 'untrusted' {
  const socket = (req.stream ? req.stream.session?.socket : req.socket) as TLSSocket | undefined;
  if (!socket || typeof socket.getPeerCertificate !== 'function') return null;
  const cached = identityCache.get(socket);
  if (cached !== undefined) return cached;
  let result: PeerIdentity | null | 'untrusted' = null;
  const cert = socket.getPeerCertificate();
  if (cert && typeof cert.fingerprint256 === 'string' && cert.fingerprint256 !== '') {
    if (!socket.authorized) result = 'untrusted';
    else {
      const cn = cert.subject?.CN;
      result = { owner: `sha256:${cert.fingerprint256}`, subjectCn: Array.isArray(cn) ? cn[0] : cn };
    }
  }
  identityCache.set(socket, result);
  return result;
}
