// Hostile clients for mnat-server, on loopback: the attacker speaks from
// 127.0.0.2 (Linux routes all of 127/8 to lo), a normal client from
// 127.0.0.1, so a test or a bench can show the normal client is still
// answered while one address misbehaves. Used by test/server/hostile-*.test.ts
// and bench/server-attacks.bench.ts. Everything opened here is tracked and
// closed by closeAll().
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';

export const ATTACKER = '127.0.0.2';
export const NORMAL = '127.0.0.1';

export interface Target {
  port: number;
  /** TLS: the CA that signed the server certificate (and a client certificate, if any). */
  tls?: { ca: string; cert?: string; key?: string };
}

/** Everything a test opened, to close at the end. */
export class Opened {
  private readonly closers = new Set<() => void>();
  track<T extends { destroy(): unknown }>(x: T): T {
    const close = (): void => void x.destroy();
    this.closers.add(close);
    return x;
  }
  closeAll(): void {
    for (const c of this.closers) c();
    this.closers.clear();
  }
}

/** A TCP connection from `localAddress`; resolves once connected (the server may close it right after). */
export function tcp(opened: Opened, port: number, localAddress = ATTACKER): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = opened.track(netConnect({ host: NORMAL, port, localAddress }));
    s.on('error', () => undefined);
    // Reading (and dropping) what arrives is what lets 'close' fire when the server hangs up.
    s.resume();
    s.once('connect', () => resolve(s));
    s.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** Resolves when the socket is closed by the peer (or at all). */
export function closed(s: Socket): Promise<void> {
  return s.destroyed || s.closed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));
}

/** A TLS connection (handshake done) from `localAddress`, offering h2. */
export function tls(opened: Opened, target: Target, localAddress = ATTACKER): Promise<TLSSocket> {
  const t = target.tls as NonNullable<Target['tls']>;
  return new Promise((resolve, reject) => {
    const s = opened.track(
      tlsConnect({
        socket: netConnect({ host: NORMAL, port: target.port, localAddress }),
        servername: 'localhost',
        ca: readFileSync(t.ca),
        ...(t.cert ? { cert: readFileSync(t.cert), key: readFileSync(t.key as string) } : {}),
        ALPNProtocols: ['h2'],
      }),
    );
    s.on('error', () => undefined);
    s.resume();
    s.once('secureConnect', () => resolve(s));
    s.once('close', () => reject(new Error('closed before the handshake finished')));
  });
}

/** An HTTP/2 session (h2c, or h2 over TLS) from `localAddress`. */
export function h2(opened: Opened, target: Target, localAddress = NORMAL): Promise<ClientHttp2Session> {
  const t = target.tls;
  const authority = `${t ? 'https' : 'http'}://localhost:${target.port}`;
  return new Promise((resolve, reject) => {
    const session = opened.track(
      h2connect(authority, {
        createConnection: () =>
          t
            ? tlsConnect({
                socket: netConnect({ host: NORMAL, port: target.port, localAddress }),
                servername: 'localhost',
                ca: readFileSync(t.ca),
                ...(t.cert ? { cert: readFileSync(t.cert), key: readFileSync(t.key as string) } : {}),
                ALPNProtocols: ['h2'],
              })
            : netConnect({ host: NORMAL, port: target.port, localAddress }),
      }),
    );
    session.on('error', () => undefined);
    session.once('connect', () => resolve(session));
    session.once('close', () => reject(new Error('session closed before it connected')));
  });
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a session; rejects when the stream is reset or the session goes away. */
export function request(session: ClientHttp2Session, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ':method': method, ':path': path, ...headers };
    if (body !== undefined && h['content-type'] === undefined) h['content-type'] = 'application/yang-data+json';
    const stream = session.request(h, { endStream: body === undefined });
    let status = 0;
    let resHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (hs) => {
      status = Number(hs[':status']);
      resHeaders = hs;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', reject);
    stream.on('close', () => {
      if (status === 0) reject(new Error(`stream closed without a response (code ${stream.rstCode})`));
    });
    if (body !== undefined) stream.end(body);
  });
}

/** A request whose body is sent up to `bytes` and then held open (the stream is returned, not ended). */
export function holdBody(session: ClientHttp2Session, method: string, path: string, bytes: number): ClientHttp2Stream {
  const stream = session.request({ ':method': method, ':path': path, 'content-type': 'application/yang-data+json' }, { endStream: false });
  stream.on('error', () => undefined);
  stream.resume();
  if (bytes > 0) stream.write(Buffer.alloc(bytes, 0x20));
  return stream;
}

/** A stream's answer status once it comes (0 when it was reset without one). */
export function statusOf(stream: ClientHttp2Stream): Promise<number> {
  return new Promise((resolve) => {
    let status = 0;
    stream.once('response', (h) => (status = Number(h[':status'])));
    stream.once('close', () => resolve(status));
  });
}

/** Writes the next character of `text` every `everyMs` (a slow loris) until stopped or the peer closes. */
export function trickle(target: { write(b: string): unknown; destroyed: boolean }, everyMs: number, text = ' '): () => void {
  let i = 0;
  const timer = setInterval(() => {
    if (target.destroyed) clearInterval(timer);
    else target.write(text[i++ % text.length] as string);
  }, everyMs);
  return () => clearInterval(timer);
}

/** The HTTP/2 connection preface (RFC 9113 §3.4), for trickling. */
export const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/** A value of /metrics ("name" or 'name{label="x"}'); NaN when absent. */
export function metric(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return NaN;
}

/** Latencies of a normal client's requests (ms) and their failures, while something else goes on. */
export interface ProbeResult {
  latenciesMs: number[];
  /** When each of latenciesMs was sent (Date.now()). */
  sentAtMs: number[];
  failures: string[];
}

/**
 * The normal client: from 127.0.0.1, one request at a time (a refresh, then a
 * GET of its assigned-channels, alternating) every `everyMs` until stop().
 * Each request gets a fresh session when the previous one failed.
 */
export function probe(target: Target, watcherId: string, everyMs = 20): { stop(): Promise<ProbeResult> } {
  const opened = new Opened();
  const result: ProbeResult = { latenciesMs: [], sentAtMs: [], failures: [] };
  let session: ClientHttp2Session | null = null;
  let stopped = false;
  const refresh = JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': watcherId } });
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const t0 = performance.now();
      const sentAt = Date.now();
      try {
        session ??= await h2(opened, target, NORMAL);
        const a =
          i % 2 === 0
            ? await request(session, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', refresh)
            : await request(session, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${watcherId}`);
        if (a.status !== 200) result.failures.push(`HTTP ${a.status}: ${a.body.slice(0, 200)}`);
        else {
          result.latenciesMs.push(performance.now() - t0);
          result.sentAtMs.push(sentAt);
        }
      } catch (err) {
        result.failures.push((err as Error).message);
        session?.destroy();
        session = null;
      }
      const wait = everyMs - (performance.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  let ended: Promise<ProbeResult> | null = null;
  return {
    // Idempotent: a test stops it to read the result, and again when it ends (also on failure).
    stop: () =>
      (ended ??= (async () => {
        stopped = true;
        await loop;
        opened.closeAll();
        return result;
      })()),
  };
}
