// Test helpers: start the real mnat-server as a child process (through the
// ts loader, so no build is needed), dev certificates, HTTP/2 requests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodeHttpTransport } from '../../src/host/node-http.ts';
import type { HttpRequest, HttpResponse, HttpTarget, HttpTransport } from '../../src/host/host.ts';
import { SseParser } from '../../src/protocol/sse.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;

interface After {
  after(fn: () => unknown): void;
}

export function tempDir(t: After, prefix = 'mnat-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let certDir: string | null = null;
/** CA, server (localhost) and client certs egress, ingress, other, mnat-admin; made once per test process. */
export function devCerts(): string {
  if (certDir) return certDir;
  const dir = mkdtempSync(join(tmpdir(), 'mnat-certs-'));
  const r = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), dir, 'localhost', 'egress', 'ingress', 'other', 'mnat-admin'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dev-certs.sh failed: ${r.stderr}`);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  certDir = dir;
  return dir;
}

export interface ServerProc {
  port: number;
  origin: string;
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts src/server/main.ts with args (plus --listen 127.0.0.1:0); resolves once it listens. */
export async function startServer(t: After | null, args: string[], opts: { tls?: boolean; expectExit?: boolean } = {}): Promise<ServerProc> {
  const proc = spawn(process.execPath, ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), ...(args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0']), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const watchers: Array<() => void> = [];
  const onText = (chunk: string): void => {
    for (const l of chunk.split('\n')) if (l) lines.push(l);
    for (const w of watchers.slice()) w();
  };
  proc.stdout!.setEncoding('utf8').on('data', onText);
  proc.stderr!.setEncoding('utf8').on('data', onText);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    exitCode = code;
    resolve(code);
    for (const w of watchers.slice()) w();
  }));
  const waitForLine = (re: RegExp, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find((l) => re.test(l));
        if (hit !== undefined) {
          done();
          resolve(hit);
        } else if (exitCode !== undefined) {
          done();
          reject(new Error(`server exited (${exitCode}) before ${re}:\n${lines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line ${re} within ${timeoutMs} ms:\n${lines.join('\n')}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        const i = watchers.indexOf(check);
        if (i >= 0) watchers.splice(i, 1);
      };
      watchers.push(check);
      check();
    });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (exitCode === undefined) proc.kill(signal);
    return exited;
  };
  t?.after(() => stop('SIGKILL'));
  if (opts.expectExit) {
    return { port: 0, origin: '', proc, lines, exited, waitForLine, stop };
  }
  const line = await waitForLine(/msg=listening/);
  const port = Number(/ port=(\d+)/.exec(line)?.[1]);
  const origin = `${opts.tls === false || args.includes('--insecure') ? 'http' : 'https'}://localhost:${port}`;
  return { port, origin, proc, lines, exited, waitForLine, stop };
}

/** TLS flags for the server using the dev certs. */
export function tlsArgs(mtls: 'none' | 'optional' | 'required' = 'none'): string[] {
  const d = devCerts();
  const args = ['--tls-cert', join(d, 'server.pem'), '--tls-key', join(d, 'server.key')];
  if (mtls !== 'none') args.push('--client-ca', join(d, 'ca.pem'));
  if (mtls === 'required') args.push('--require-client-cert');
  return args;
}

/** An HTTP/2 client for the server, optionally with a client certificate. */
export function client(t: After | null, origin: string, cert?: string): HttpTransport {
  const d = origin.startsWith('https') ? devCerts() : '';
  const target: HttpTarget = origin.startsWith('https')
    ? { origin, caFile: join(d, 'ca.pem'), ...(cert ? { certFile: join(d, `${cert}.pem`), keyFile: join(d, `${cert}.key`) } : {}) }
    : { origin };
  const transport = createNodeHttpTransport(target);
  t?.after(() => transport.close());
  return transport;
}

export const JSON_TYPE = 'application/yang-data+json';

export async function req(http: HttpTransport, method: HttpRequest['method'], path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponse & { json: any }> {
  const h: Record<string, string> = { ...headers };
  if (body !== undefined && h['content-type'] === undefined) h['content-type'] = JSON_TYPE;
  const res = await http.request({ method, path, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  let json: any;
  try {
    json = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    json = undefined;
  }
  return { ...res, json };
}

export async function newWatcher(http: HttpTransport, root = '/restconf'): Promise<string> {
  const res = await req(http, 'POST', `${root}/operations/ietf-mnat:get-new-watcher-id`);
  if (res.status !== 200) throw new Error(`get-new-watcher-id: ${res.status} ${res.body}`);
  return root === '/restconf' ? res.json['ietf-mnat:output']['watcher-id'] : res.json['watcher-id'];
}

export function joinsBody(id: string, channels: Array<[string, string]>): unknown {
  return { 'ietf-mnat:watcher': [{ id, 'joined-sg': channels.map(([source, group], i) => ({ id: String(i), source, group })) }] };
}

export function monitorsBody(id: string, prefixes: string[]): unknown {
  return { 'ietf-mnat:watcher': [{ id, monitor: prefixes.map((p, i) => ({ id: String(i), 'global-source-prefix': p })) }] };
}

export function errorOf(res: { json: any }): Record<string, string> {
  return res.json?.['ietf-restconf:errors']?.error?.[0] ?? {};
}

/** Polls fn until it returns a truthy value or the deadline passes (for facts with no event). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Opens the SSE stream of a subscription; notifications arrive on a queue. */
export function openStream(http: HttpTransport, uri: string) {
  const queue: any[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let status = 0;
  const parser = new SseParser((e) => {
    queue.push(JSON.parse(e.data)['ietf-restconf:notification']);
    wake?.();
  });
  const stream = http.stream(
    { method: 'GET', path: new URL(uri).pathname, headers: { accept: 'text/event-stream' } },
    {
      onResponse: (s) => (status = s),
      onData: (d) => parser.push(d),
      onEnd: () => {
        ended = true;
        wake?.();
      },
    },
  );
  return {
    get status() {
      return status;
    },
    get ended() {
      return ended;
    },
    close: () => stream.close(),
    async next(timeoutMs = 5000): Promise<any> {
      const end = Date.now() + timeoutMs;
      while (queue.length === 0) {
        if (ended) throw new Error('stream ended');
        if (Date.now() > end) throw new Error('no notification');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
        wake = null;
      }
      return queue.shift();
    },
    async endedSoon(timeoutMs = 5000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!ended) {
        if (Date.now() > end) throw new Error('stream did not end');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
        wake = null;
      }
    },
  };
}

export async function establish(http: HttpTransport, filter: Record<string, unknown>) {
  const res = await req(http, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', {
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:on-change': {}, ...filter },
  });
  if (res.status !== 200) throw new Error(`establish-subscription: ${res.status} ${res.body}`);
  return res.json['ietf-subscribed-notifications:output'];
}
