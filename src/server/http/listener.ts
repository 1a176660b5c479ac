// The listening side: HTTP/2 over TLS (ALPN h2, with HTTP/1.1 fallback via
// allowHTTP1), optional client certificates (mTLS), or --insecure plaintext
// where one port serves both h2c (prior knowledge) and HTTP/1.1, told apart
// by the connection preface.
//
// Every TCP connection is admitted through the ClientTable (a client with
// too many is closed at once) and must become usable within the connect
// timeout: TLS handshake and the client's HTTP/2 preface and SETTINGS, or the
// first byte of an HTTP/1.1 request, whose headers then have the headers
// timeout. A silent or trickling connection is closed, and counted.
import { serverNow } from '../clock.ts';
import { createServer as createH2cServer, createSecureServer, type Http2Server, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ClientTable, ConnRec } from './limits.ts';
import { LIMIT_FLAGS } from './limits.ts';
import { prepareStream } from './h2-stream.ts';
import { IdleSessions } from './idle-sessions.ts';
import { CONN, H2Exchange, type AnyRequest, type AnyResponse, type Handler } from './request.ts';
import { errorBody, RestconfError } from './restconf-error.ts';
import { describeCertificate, readTlsFiles } from './tls-files.ts';

export type { AnyRequest, AnyResponse, Handler, PeerIdentity } from './request.ts';

function onStream(handler: Handler): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void {
  return (stream, headers) => {
    prepareStream(stream);
    const exchange = new H2Exchange(stream, headers);
    handler(exchange, exchange);
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
  /** Per-client connection and body accounting, with the limits (limits.ts). */
  clients: ClientTable;
  /** An HTTP/2 session with no traffic for this long is closed (default 330 s, longer than the longest long poll). */
  idleSessionMs?: number;
}

export interface Listener {
  readonly port: number;
  /** Stops accepting, closes idle sessions; resolves when the socket is closed. */
  close(): Promise<void>;
  /** Drops every open connection (after streams were ended). */
  destroyAll(): void;
  /** The server certificate in use (null: plaintext). */
  readonly certificate: { subject: string; validTo: string } | null;
  /** Reads the TLS files again for new connections (null: plaintext); throws, keeping the old ones, when they do not fit. */
  reloadTls(): { subject: string; validTo: string } | null;
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

type Holder = { [CONN]?: ConnRec };
const H2_PREFACE_START = 'PRI';

/** HTTP/1.1 errors before a request exists (Node's 'clientError'): a RESTCONF error body, then close. */
function answerClientError(clients: ClientTable, err: NodeJS.ErrnoException, socket: Duplex): void {
  let rc: RestconfError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    clients.refusals.count('headers-timeout');
    rc = new RestconfError(408, 'transport', 'resource-denied', `request headers not complete within ${clients.limits.headersTimeoutMs / 1000} s (${LIMIT_FLAGS['headers-timeout']})`);
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    rc = new RestconfError(431, 'transport', 'too-big', 'request headers are too large');
  } else {
    rc = new RestconfError(400, 'transport', 'malformed-message', `malformed HTTP/1.1 request: ${err.message}`);
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorBody(rc);
  const reason = rc.status === 408 ? 'Request Timeout' : rc.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  socket.end(`HTTP/1.1 ${rc.status} ${reason}\r\ncontent-type: application/yang-data+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Node's HTTP/1.1 request timers, checked every second (Node's default checks every 30 s). */
function http1Timeouts(server: Http1Server | Http2SecureServer, clients: ClientTable): void {
  const s = server as unknown as { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number; keepAliveTimeout?: number };
  s.headersTimeout = clients.limits.headersTimeoutMs;
  s.requestTimeout = Math.max(300_000, clients.limits.headersTimeoutMs);
  s.connectionsCheckingInterval = 1000;
  s.keepAliveTimeout = 65_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(clients, err, socket));
}

export async function listen(options: ListenOptions, handler: Handler): Promise<Listener> {
  const { clients } = options;
  const { limits, refusals } = clients;
  const sockets = new Set<Socket>();
  let certificate: Listener['certificate'] = null;
  let reloadTls: Listener['reloadTls'] = () => null;

  /** Admits a TCP connection (or closes it); the connect timer runs until ready(). */
  const admit = (socket: Socket): ConnRec | null => {
    const conn = clients.connect(socket.remoteAddress);
    if (!conn) {
      // A reset, not a close: the socket is gone at once, with no FIN exchange to wait out.
      socket.resetAndDestroy();
      return null;
    }
    (socket as Holder)[CONN] = conn;
    conn.socket = socket;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      sockets.delete(socket);
      clients.disconnect(conn);
    });
    if (limits.connectTimeoutMs > 0) {
      conn.setupTimer = setTimeout(() => {
        conn.setupTimer = null;
        refusals.count('connect-timeout');
        conn.socket?.destroy();
      }, limits.connectTimeoutMs);
      conn.setupTimer.unref();
    }
    return conn;
  };
  const ready = (conn: ConnRec | undefined): void => {
    if (conn?.setupTimer) {
      clearTimeout(conn.setupTimer);
      conn.setupTimer = null;
    }
  };

  // Idle sessions are closed after longer than the longest long poll (300 s);
  // push streams send a keep-alive every 15 s and are never idle that long.
  const idle = new IdleSessions(options.idleSessionMs ?? 330_000);
  let server: Http2SecureServer | NetServer;
  let h2: Http2Server | Http2SecureServer;
  const h2Settings = { maxConcurrentStreams: 256 };
  if (options.insecure) {
    const h2c = createH2cServer({ settings: h2Settings });
    h2c.on('stream', onStream(handler));
    const http1Server = createHttp1Server(http1(handler));
    http1Timeouts(http1Server, clients);
    // This server never listens itself (connections are handed to it), but Node
    // starts its per-connection timers (headers, request) on 'listening'.
    http1Server.emit('listening');
    h2 = h2c;
    server = createNetServer((socket) => {
      const conn = admit(socket);
      if (!conn) return;
      // "PRI * HTTP/2.0" starts the h2 prior-knowledge preface; wait for three bytes to tell.
      let head: Buffer = Buffer.alloc(0);
      const sniff = (chunk: Buffer): void => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const start = head.subarray(0, 3).toString('latin1');
        if (head.length < 3 && H2_PREFACE_START.startsWith(start)) return;
        socket.off('data', sniff);
        socket.pause();
        socket.unshift(head);
        if (start === H2_PREFACE_START) {
          // The h2 session reads the unshifted bytes itself (socket.read() on the next
          // tick); resuming here would flow them to nobody. It is ready at the client's SETTINGS.
          h2c.emit('connection', socket);
        } else {
          // HTTP/1.1: from here Node's headers timeout applies to each request.
          ready(conn);
          http1Server.emit('connection', socket);
          socket.resume();
        }
      };
      socket.on('data', sniff);
    });
  } else {
    if (!options.tlsCert || !options.tlsKey) throw new Error('TLS needs --tls-cert and --tls-key (or use --insecure for a plaintext lab server)');
    const files = { cert: options.tlsCert, key: options.tlsKey, clientCa: options.clientCa };
    const material = readTlsFiles(files);
    certificate = describeCertificate(material.cert);
    const secure = createSecureServer({
      ...material,
      requestCert: options.clientCa !== undefined,
      rejectUnauthorized: options.clientCa !== undefined && options.requireClientCert === true,
      allowHTTP1: true,
      settings: h2Settings,
      // The connect timer closes a slow handshake first; this is Node's own backstop.
      handshakeTimeout: limits.connectTimeoutMs > 0 ? limits.connectTimeoutMs + 5000 : 120_000,
    });
    // New connections get the files as they are now; open ones keep theirs.
    reloadTls = () => {
      const fresh = readTlsFiles(files);
      secure.setSecureContext(fresh);
      return (certificate = describeCertificate(fresh.cert));
    };
    // HTTP/1.1 (ALPN fallback) arrives as 'request'. Adding that listener also
    // makes Node route HTTP/2 streams through its compatibility layer; drop that
    // route and take the streams directly.
    secure.on('request', http1(handler));
    secure.removeAllListeners('stream');
    secure.on('stream', onStream(handler));
    http1Timeouts(secure, clients);
    // Admission runs before TLS: a refused connection costs no TLS socket.
    const tlsConnection = secure.listeners('connection') as Array<(socket: Socket) => void>;
    secure.removeAllListeners('connection');
    secure.on('connection', (socket: Socket) => {
      if (!admit(socket)) return;
      for (const l of tlsConnection) l.call(secure, socket);
    });
    secure.on('secureConnection', (tls: TLSSocket) => {
      const conn = (tls as unknown as { _parent?: Holder })._parent?.[CONN];
      if (!conn) return;
      (tls as Holder)[CONN] = conn;
      // Past the handshake the TCP socket belongs to the TLS one (and with h2 to
      // the session, set in 'session'): destroying it no longer drops the connection.
      if (tls.alpnProtocol !== 'h2') conn.socket = tls;
      sockets.add(tls as unknown as Socket);
      tls.once('close', () => {
        sockets.delete(tls as unknown as Socket);
        clients.disconnect(conn);
      });
      // HTTP/1.1 over TLS: Node's headers timeout applies from here, and a
      // socket without traffic for the idle time is closed (HTTP/2: IdleSessions).
      if (tls.alpnProtocol !== 'h2') {
        ready(conn);
        tls.setTimeout(idle.idleMs);
      }
    });
    // A failed handshake (e.g. no client certificate) must not take the server down.
    secure.on('tlsClientError', () => {
      clients.tlsFailures++;
    });
    h2 = secure;
    server = secure;
  }
  h2.on('sessionError', () => undefined);
  h2.on('session', (session: Http2Session) => {
    session.on('error', () => undefined);
    idle.track(session, serverNow());
    session.once('close', () => idle.forget(session));
    const socket = session.socket as unknown as Holder & { _parent?: Holder };
    const conn = socket[CONN] ?? socket._parent?.[CONN];
    if (!conn) return;
    (session as unknown as Holder)[CONN] = conn;
    conn.socket = session;
    session.once('remoteSettings', () => ready(conn));
  });
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
  const idleSweep = setInterval(() => idle.sweep(serverNow()), idle.sweepMs);
  idleSweep.unref();
  return {
    port,
    get certificate() {
      return certificate;
    },
    reloadTls,
    close: () => {
      clearInterval(idleSweep);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
    destroyAll() {
      for (const s of sockets) s.destroy();
    },
  };
}
