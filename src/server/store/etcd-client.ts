// A small etcd v3 client over etcd's JSON gateway (/v3/kv/*, /v3/watch,
// /v3/lease/*, /v3/maintenance/status, /v3/cluster/member/list; etcd 3.4+),
// on node:http(s). It is what the etcd store needs and no more: ranges, puts,
// transactions, compaction, leases, status, and watches that reconnect by
// themselves from the last revision seen.
//
// Why not a gRPC client: the etcd3 npm package loads its .proto files from
// disk at run time (which breaks the one-file dist/mnat-server.js bundle) and
// brings grpc-js and protobufjs along; the gateway is a documented, stable API
// of every etcd member, and JSON over keep-alive HTTP/1.1 is fast enough for a
// log whose entries carry batches.
//
// Endpoints: requests go to the current endpoint; a connection that cannot be
// made moves on to the next one (safe to retry: nothing was sent). Any other
// failure of a write (timeout, reset after sending) is reported as
// EtcdUnavailableError, because the write may or may not have happened.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { describeCertificate, readClientTlsFiles, type ClientTlsFiles, type ClientTlsMaterial } from '../http/tls-files.ts';
import { authAdvice, authenticationOff, readEtcdPassword, tokenRefused, type EtcdAuth } from './etcd-auth.ts';

export type EtcdTls = ClientTlsFiles;

export interface EtcdClientOptions {
  /** host:port of each member's client URL. */
  endpoints: string[];
  /** With a CA the gateway is reached over https (client certificate optional). */
  tls?: EtcdTls;
  /** etcd's user/password authentication (its RBAC): every request carries the user's token. */
  auth?: EtcdAuth;
  /** The prefix of the keys this client works on, named when etcd denies permission (default "/"). */
  keyPrefix?: string;
  /** Per-request deadline (default 3 000 ms). */
  timeoutMs?: number;
}

/** etcd could not answer (no quorum, every endpoint down, a deadline passed); a write may or may not have been applied. */
export class EtcdUnavailableError extends Error {
  override name = 'EtcdUnavailableError';
}

/** etcd answered with an error (a bad request, a lost lease, a compacted revision). */
export class EtcdRequestError extends Error {
  override name = 'EtcdRequestError';
  constructor(
    message: string,
    readonly grpcCode: number,
  ) {
    super(message);
  }
}

export interface KeyValue {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

export type Compare =
  | { key: string; target: 'CREATE'; result: 'EQUAL' | 'LESS' | 'GREATER'; createRevision: number }
  | { key: string; target: 'MOD'; result: 'EQUAL' | 'LESS' | 'GREATER'; modRevision: number }
  | { key: string; target: 'VALUE'; result: 'EQUAL'; value: string | Buffer };

export type TxnOp =
  | { put: { key: string; value: string | Buffer; lease?: string } }
  | { range: { key: string; prefix?: boolean } }
  | { deleteRange: { key: string; prefix?: boolean; end?: string } };

export interface RangeOptions {
  prefix?: boolean;
  /** Every key from `key` up to (not including) this one. */
  end?: string;
  limit?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Read from the member's local copy without a quorum round (may be stale). */
  serializable?: boolean;
  /** Read as of this revision (etcd refuses one it compacted: "required revision has been compacted"). */
  revision?: number;
  /** Only keys last written at or after this revision (etcd filters before the limit). */
  minModRevision?: number;
}

export interface MemberInfo {
  id: string;
  name: string;
  clientUrls: string[];
}

export interface EndpointStatus {
  endpoint: string;
  memberId: string;
  leader: string;
  version: string;
  dbSize: number;
  raftIndex: number;
}

export interface WatchHandlers {
  /** Events in revision order; `revision` is the header revision of the message. */
  onEvents(events: WatchEvent[], revision: number): void;
  /** The watch (re)started; `revision` is the store's revision at that moment. */
  onCreated?(revision: number): void;
  /** The start revision was compacted away: the watch has stopped; start over from a snapshot. */
  onCompacted(compactRevision: number): void;
  /** The stream broke and is being re-established (from the last revision seen); once per outage. */
  onInterrupted?(error: Error): void;
  /** The stream is back after an interruption. */
  onResumed?(): void;
}

export interface Watch {
  close(): void;
}

type Json = Record<string, any>;

const b64 = (v: string | Buffer): string => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64');

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix), base64. */
function rangeEndB64(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (end[i] as number) + 1;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

function decodeKv(kv: Json): KeyValue {
  return {
    key: Buffer.from(kv.key ?? '', 'base64').toString('utf8'),
    value: Buffer.from(kv.value ?? '', 'base64'),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
    version: Number(kv.version ?? 0),
    lease: String(kv.lease ?? '0'),
  };
}

function encodeTxnOp(op: TxnOp): Json {
  if ('put' in op) return { request_put: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease ? { lease: op.put.lease } : {}) } };
  if ('range' in op) return { request_range: { key: b64(op.range.key), ...(op.range.prefix ? { range_end: rangeEndB64(op.range.key) } : {}) } };
  const d = op.deleteRange;
  return { request_delete_range: { key: b64(d.key), ...(d.prefix ? { range_end: rangeEndB64(d.key) } : d.end !== undefined ? { range_end: b64(d.end) } : {}) } };
}

function encodeCompare(c: Compare): Json {
  const base = { key: b64(c.key), target: c.target, result: c.result };
  if (c.target === 'CREATE') return { ...base, create_revision: String(c.createRevision) };
  if (c.target === 'MOD') return { ...base, mod_revision: String(c.modRevision) };
  return { ...base, value: b64(c.value) };
}

/**
 * TLS failures, which retrying will not mend: OpenSSL's verification results
 * (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, HOSTNAME_MISMATCH …) and
 * Node's own TLS errors.
 */
function tlsRefused(code: string | undefined): boolean {
  return /^ERR_SSL|^ERR_TLS|CERT|CRL|^UNABLE_TO_|^INVALID_(CA|PURPOSE)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$|^EPROTO$/.test(code ?? '');
}

/** Connection errors where the request never reached etcd: safe to send elsewhere. */
function notSent(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EADDRNOTAVAIL';
}

/** etcd's "hasleader" metadata: a member without a leader refuses at once instead of holding the request. */
const REQUIRE_LEADER = { 'grpc-metadata-hasleader': 'true' };

export class EtcdClient {
  readonly endpoints: readonly string[];
  private current = 0;
  private readonly tls: EtcdTls | undefined;
  private agent: HttpAgent;
  private tlsOptions: ClientTlsMaterial | undefined;
  private certificate: { subject: string; validTo: string } | null;
  /** Agents replaced by reloadCredentials(): their requests finish, their connections then close. */
  private readonly retiredAgents: HttpAgent[] = [];
  private readonly timeoutMs: number;
  private readonly auth: EtcdAuth | undefined;
  private readonly keyPrefix: string;
  private password: string | undefined;
  /** The user's token (etcd's simple tokens end after 5 idle minutes, or with a restart of the member): fetched again when etcd refuses it. */
  private token: Promise<string> | null = null;
  private readonly watches = new Set<{ close(): void }>();
  private closed = false;

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.endpoints = options.endpoints;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.tls = options.tls;
    this.tlsOptions = options.tls && readClientTlsFiles(options.tls, 'etcd');
    this.certificate = this.tlsOptions?.cert ? describeCertificate(this.tlsOptions.cert) : null;
    this.auth = options.auth;
    this.keyPrefix = options.keyPrefix ?? '/';
    this.password = options.auth && readEtcdPassword(options.auth);
    this.agent = this.newAgent();
  }

  /** The client certificate etcd gets on new connections (null without TLS or a certificate). */
  get clientCertificate(): { subject: string; validTo: string } | null {
    return this.certificate;
  }

  /**
   * Reads the TLS files and the password file again (SIGHUP: a renewed
   * client certificate or a changed password without a restart). New
   * connections use the TLS files; open ones (the log watch, requests in
   * flight) go on with theirs, and idle ones are closed. A new password is
   * used for the next token. Throws, keeping what is in use, when the new
   * files cannot be read or do not fit.
   */
  reloadCredentials(): { subject: string; validTo: string } | null {
    if (this.closed) return null;
    const password = this.auth && readEtcdPassword(this.auth);
    const tlsOptions = this.tls && readClientTlsFiles(this.tls, 'etcd');
    if (password !== undefined && password !== this.password) {
      this.password = password;
      this.token = null;
    }
    if (!tlsOptions) return null;
    this.tlsOptions = tlsOptions;
    this.certificate = this.tlsOptions.cert ? describeCertificate(this.tlsOptions.cert) : null;
    const old = this.agent;
    this.agent = this.newAgent();
    old.keepSocketAlive = () => false;
    for (const sockets of Object.values(old.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    // Agents retired before whose last connection has closed are done with.
    for (const agent of this.retiredAgents.splice(0)) {
      if (Object.values(agent.sockets).some((sockets) => sockets?.length)) this.retiredAgents.push(agent);
      else agent.destroy();
    }
    this.retiredAgents.push(old);
    return this.certificate;
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.endpoints[this.current] as string;
  }

  // ---- key-value -------------------------------------------------------------

  async range(key: string, options: RangeOptions = {}): Promise<{ revision: number; kvs: KeyValue[]; count: number; more: boolean }> {
    const body: Json = { key: b64(key) };
    if (options.prefix) body.range_end = rangeEndB64(key);
    if (options.end !== undefined) body.range_end = b64(options.end);
    if (options.limit) body.limit = String(options.limit);
    if (options.keysOnly) body.keys_only = true;
    if (options.countOnly) body.count_only = true;
    if (options.serializable) body.serializable = true;
    if (options.revision) body.revision = String(options.revision);
    if (options.minModRevision) body.min_mod_revision = String(options.minModRevision);
    const res = await this.call('/v3/kv/range', body, true);
    return { revision: Number(res.header?.revision ?? 0), kvs: (res.kvs ?? []).map(decodeKv), count: Number(res.count ?? 0), more: res.more === true };
  }

  async get(key: string): Promise<KeyValue | null> {
    return (await this.range(key)).kvs[0] ?? null;
  }

  async put(key: string, value: string | Buffer, options: { lease?: string; timeoutMs?: number } = {}): Promise<{ revision: number }> {
    const body: Json = { key: b64(key), value: b64(value) };
    if (options.lease) body.lease = options.lease;
    const res = await this.call('/v3/kv/put', body, false, options.timeoutMs);
    return { revision: Number(res.header?.revision ?? 0) };
  }

  /**
   * `repeatable`: running the transaction twice does what running it once
   * does (its compare fails the second time, e.g. a create-only key); one
   * with no answer is then sent again to the next endpoint once, half way
   * through the deadline. That is what lets a change through while the
   * members elect a new leader: a member that has not yet noticed its leader
   * died forwards the proposal to it, and etcd drops it.
   */
  async txn(compare: Compare[], success: TxnOp[], failure: TxnOp[] = [], options: { repeatable?: boolean } = {}): Promise<{ succeeded: boolean; revision: number; responses: Json[] }> {
    const repeatable = options.repeatable === true;
    const res = await this.call('/v3/kv/txn', { compare: compare.map(encodeCompare), success: success.map(encodeTxnOp), failure: failure.map(encodeTxnOp) }, repeatable, undefined, repeatable);
    return { succeeded: res.succeeded === true, revision: Number(res.header?.revision ?? 0), responses: res.responses ?? [] };
  }

  /** KeyValues of a range response inside a transaction's responses. */
  static txnRangeKvs(response: Json | undefined): KeyValue[] {
    return ((response?.response_range?.kvs ?? []) as Json[]).map(decodeKv);
  }

  async deleteRange(key: string, options: { prefix?: boolean } = {}): Promise<{ revision: number; deleted: number }> {
    const body: Json = { key: b64(key) };
    if (options.prefix) body.range_end = rangeEndB64(key);
    const res = await this.call('/v3/kv/deleterange', body, false);
    return { revision: Number(res.header?.revision ?? 0), deleted: Number(res.deleted ?? 0) };
  }

  /** Drops the history before `revision` (watches from older revisions then fail as compacted). */
  async compact(revision: number): Promise<void> {
    try {
      await this.call('/v3/kv/compaction', { revision: String(revision) }, false, 30_000);
    } catch (err) {
      // Compacting to a revision that is compacted already is not a failure.
      if (err instanceof EtcdRequestError && /compacted/.test(err.message)) return;
      throw err;
    }
  }

  // ---- leases ----------------------------------------------------------------

  async leaseGrant(ttlS: number): Promise<{ id: string; ttlS: number }> {
    const res = await this.call('/v3/lease/grant', { TTL: String(ttlS) }, false);
    if (res.error) throw new EtcdRequestError(`lease grant: ${res.error}`, 0);
    return { id: String(res.ID), ttlS: Number(res.TTL ?? 0) };
  }

  /** Renews the lease; returns its remaining TTL in seconds, 0 when it has expired. */
  async leaseKeepAlive(id: string): Promise<number> {
    const res = await this.call('/v3/lease/keepalive', { ID: id }, false);
    return Number(res.result?.TTL ?? 0);
  }

  async leaseRevoke(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id }, false, 1000);
  }

  // ---- cluster ---------------------------------------------------------------

  async memberList(): Promise<MemberInfo[]> {
    const res = await this.call('/v3/cluster/member/list', {}, true);
    return ((res.members ?? []) as Json[]).map((m) => ({ id: String(m.ID), name: String(m.name ?? ''), clientUrls: (m.clientURLs ?? []) as string[] }));
  }

  /** The status of one endpoint (not failing over: it is about that member). */
  async status(endpoint: string): Promise<EndpointStatus> {
    const res = await this.send(endpoint, '/v3/maintenance/status', {}, 1500, await this.authHeaders());
    return {
      endpoint,
      memberId: String(res.header?.member_id ?? ''),
      leader: String(res.leader ?? '0'),
      version: String(res.version ?? ''),
      dbSize: Number(res.dbSize ?? 0),
      raftIndex: Number(res.raftIndex ?? 0),
    };
  }

  // ---- watches ---------------------------------------------------------------

  /**
   * Watches `key` (or every key under it, with prefix) from startRevision on,
   * re-establishing the stream after any failure from the revision after the
   * last one seen, on the next endpoint, with a growing delay. A compacted
   * start revision stops it (onCompacted). The stream asks for a leader
   * (etcd's "hasleader" metadata), so a member cut off from its quorum ends it
   * instead of going silent. With `overlap`, a watch that restarts begins
   * with the last event it delivered, again (from that revision), so the
   * caller can check that etcd still holds it.
   */
  watch(key: string, options: { prefix?: boolean; startRevision: number; overlap?: boolean }, handlers: WatchHandlers): Watch {
    let next = options.startRevision;
    let delivered = false;
    let req: ClientRequest | null = null;
    let stopped = false;
    let retryDelay = 100;
    let interrupted = false;
    let timer: NodeJS.Timeout | null = null;
    const handle = {
      close: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        req?.destroy();
        this.watches.delete(handle);
      },
    };
    this.watches.add(handle);
    const restart = (err: Error): void => {
      if (stopped || this.closed) return;
      this.forgetTokenIfRefused(err.message);
      req?.destroy();
      req = null;
      if (!interrupted) handlers.onInterrupted?.(err);
      interrupted = true;
      this.rotate();
      timer = setTimeout(open, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 2000);
    };
    const open = (): void => {
      timer = null;
      if (stopped || this.closed) return;
      this.authHeaders().then((auth) => {
        if (!stopped && !this.closed) begin(auth);
      }, restart);
    };
    const begin = (auth: Record<string, string>): void => {
      const create: Json = { key: b64(key), start_revision: String(options.overlap && delivered ? next - 1 : next), progress_notify: true };
      if (options.prefix) create.range_end = rangeEndB64(key);
      const payload = JSON.stringify({ create_request: create });
      let buffered = '';
      const r = this.rawRequest(this.endpoint, '/v3/watch', payload, { ...REQUIRE_LEADER, ...auth });
      req = r;
      r.on('response', (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          restart(new Error(`watch answered HTTP ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          // Look for the end of a message in the new text only: a catch-up message can be megabytes in many chunks.
          let from = buffered.length;
          buffered += chunk;
          for (let nl = buffered.indexOf('\n', from); nl >= 0; nl = buffered.indexOf('\n', from)) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            from = 0;
            if (line === '') continue;
            let msg: Json;
            try {
              msg = JSON.parse(line);
            } catch {
              restart(new Error('watch: unreadable message'));
              return;
            }
            if (msg.error) {
              restart(new Error(`watch: ${msg.error.message ?? JSON.stringify(msg.error)}`));
              return;
            }
            const result = (msg.result ?? {}) as Json;
            const revision = Number(result.header?.revision ?? 0);
            if (result.compact_revision !== undefined && Number(result.compact_revision) > 0) {
              handle.close();
              handlers.onCompacted(Number(result.compact_revision));
              return;
            }
            if (result.canceled) {
              restart(new Error(`watch canceled: ${result.cancel_reason ?? 'by the server'}`));
              return;
            }
            if (result.created) {
              retryDelay = 100;
              if (interrupted) handlers.onResumed?.();
              interrupted = false;
              handlers.onCreated?.(revision);
            }
            const events = (result.events ?? []) as Json[];
            if (events.length > 0) {
              const decoded = events.map((e): WatchEvent => ({ type: e.type === 'DELETE' ? 'delete' : 'put', kv: decodeKv(e.kv ?? {}) }));
              next = (decoded[decoded.length - 1] as WatchEvent).kv.modRevision + 1;
              delivered = true;
              handlers.onEvents(decoded, revision);
            } else if (!result.created && revision > 0) {
              handlers.onEvents([], revision); // progress notification
            }
            if (stopped) return;
          }
        });
        res.on('end', () => restart(new Error('watch stream ended')));
        res.on('error', (err) => restart(err));
      });
      r.on('error', (err) => restart(err));
      r.end(payload);
    };
    open();
    return handle;
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.agent.destroy();
    for (const agent of this.retiredAgents) agent.destroy();
  }

  // ---- transport ---------------------------------------------------------------

  private newAgent(): HttpAgent {
    return this.tlsOptions ? new HttpsAgent({ keepAlive: true, maxSockets: 32, ...this.tlsOptions }) : new HttpAgent({ keepAlive: true, maxSockets: 32 });
  }

  private rotate(): void {
    this.current = (this.current + 1) % this.endpoints.length;
  }

  /**
   * One gateway call until its deadline. Every request asks for a leader
   * (etcd's "hasleader" metadata), so a member without one refuses at once
   * ("no leader", nothing applied) instead of holding the request until its
   * own timeout: the call then waits a little and tries again, on the next
   * endpoint, so a change made during a leader election waits for the
   * election. Reads, and writes that could not be sent, also move on to the
   * next endpoint; any other failure of a write is reported, because the
   * write may or may not have been applied.
   */
  private async call(path: string, body: Json, idempotent: boolean, timeoutMs = this.timeoutMs, retryTimeout = idempotent): Promise<Json> {
    const deadline = performance.now() + timeoutMs; // elapsed time: a wall-clock step must not end or stretch it
    let lastError: Error | null = null;
    let loggedInAgain = false;
    for (let attempt = 1; ; attempt++) {
      const endpoint = this.endpoint;
      try {
        const left = deadline - performance.now();
        const auth = await this.authHeaders();
        return await this.send(endpoint, path, body, Math.max(100, retryTimeout && attempt === 1 ? left / 2 : left), { ...REQUIRE_LEADER, ...auth });
      } catch (err) {
        // etcd checks the token before it does anything: asking again with a new one is safe.
        if (err instanceof EtcdRequestError && !loggedInAgain && this.forgetTokenIfRefused(err.message)) {
          loggedInAgain = true;
          continue;
        }
        if (err instanceof EtcdRequestError) throw err;
        lastError = err as Error;
        const noLeader = /no leader/.test(lastError.message);
        if (this.endpoint === endpoint) this.rotate();
        if (!idempotent && !noLeader && !notSent(err as NodeJS.ErrnoException)) break;
        if (performance.now() + 100 >= deadline) break;
        // Every endpoint tried, or no leader anywhere yet: give the cluster a moment.
        if (noLeader || attempt % this.endpoints.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
    }
    // A member serving TLS resets plaintext requests.
    const hint = !this.tlsOptions && /ECONNRESET|socket hang up/.test(lastError?.message ?? '') ? ' (if the members serve TLS, give --etcd-cacert)' : '';
    throw new EtcdUnavailableError(`etcd unavailable (${path}): ${lastError?.message ?? 'no endpoint answered'}${hint}`);
  }

  private send(endpoint: string, path: string, body: Json, timeoutMs: number, headers: Record<string, string>): Promise<Json> {
    if (this.closed) return Promise.reject(new EtcdUnavailableError('etcd client closed'));
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = this.rawRequest(endpoint, path, payload, headers);
      const sentAt = performance.now();
      let settled = false;
      const giveUp = (): void => {
        if (!settled) req.destroy(Object.assign(new Error(`no answer from ${endpoint} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      };
      const timer = setTimeout(() => {
        // Late: this process's event loop was held (a long synchronous job), not etcd. An answer that came
        // meanwhile is read first: the loop polls for I/O before it runs setImmediate callbacks.
        if (performance.now() - sentAt > timeoutMs + 100) setImmediate(giveUp);
        else giveUp();
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        settled = true;
        clearTimeout(timer);
        // A certificate etcd or we refuse will not get better by retrying: say so at once.
        if (tlsRefused(err.code)) reject(new EtcdRequestError(`TLS with etcd at ${endpoint} failed: ${err.message.trim()} (check --etcd-cacert, --etcd-cert, --etcd-key)`, 16));
        else reject(err);
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => {
          settled = true;
          clearTimeout(timer);
          reject(err);
        });
        res.on('end', () => {
          settled = true;
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Json;
          try {
            json = text === '' ? {} : JSON.parse(text);
          } catch {
            reject(new Error(`${endpoint}${path}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
            return;
          }
          if (res.statusCode === 200 && json.error === undefined) {
            resolve(json);
            return;
          }
          const message = String(json.message ?? json.error?.message ?? json.error ?? `HTTP ${res.statusCode}`);
          const code = Number(json.code ?? json.error?.grpc_code ?? 0);
          // Unavailable (14) and deadline exceeded (4): the cluster cannot decide now (no leader, no quorum).
          if (code === 14 || code === 4 || res.statusCode === 503) reject(Object.assign(new Error(`${endpoint}: ${message}`), { code: 'EUNAVAILABLE' }));
          else reject(new EtcdRequestError(`etcd ${path}: ${message}${authAdvice(message, this.auth, this.keyPrefix)}`, code));
        });
      });
      req.end(payload);
    });
  }

  /** The token header (none without --etcd-user, or when etcd's authentication is off); logs in when there is no token. */
  private async authHeaders(): Promise<Record<string, string>> {
    if (!this.auth) return {};
    const login = (this.token ??= this.logIn(this.auth.user, this.password as string));
    try {
      const token = await login;
      return token === '' ? {} : { authorization: token };
    } catch (err) {
      if (this.token === login) this.token = null;
      throw err;
    }
  }

  private async logIn(name: string, password: string): Promise<string> {
    try {
      const res = await this.send(this.endpoint, '/v3/auth/authenticate', { name, password }, this.timeoutMs, REQUIRE_LEADER);
      return String(res.token ?? '');
    } catch (err) {
      if (err instanceof EtcdRequestError && authenticationOff(err.message)) return '';
      throw err;
    }
  }

  /** True (and the token dropped, so the next request logs in again) when etcd refused the token. */
  private forgetTokenIfRefused(message: string): boolean {
    if (!this.auth || !tokenRefused(message)) return false;
    this.token = null;
    return true;
  }

  private rawRequest(endpoint: string, path: string, payload: string, extraHeaders: Record<string, string> = {}): ClientRequest {
    const colon = endpoint.lastIndexOf(':');
    const host = endpoint.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(endpoint.slice(colon + 1));
    const options = {
      host,
      port,
      method: 'POST',
      path,
      agent: this.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...extraHeaders },
    };
    return this.tlsOptions ? httpsRequest({ ...options, ...this.tlsOptions }) : httpRequest(options);
  }
}

/**
 * Runs `fn` again every 500 ms while etcd is unavailable (a front end started
 * with or before etcd), for at most `timeoutMs`; tells `onFirstWait` once.
 */
export async function untilReachable<T>(fn: () => Promise<T>, o: { timeoutMs: number; now: () => number; stopped: () => boolean; onFirstWait: (err: Error) => void }): Promise<T> {
  const deadline = o.now() + o.timeoutMs;
  let warned = false;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof EtcdUnavailableError) || o.now() > deadline || o.stopped()) throw err;
      if (!warned) o.onFirstWait(err);
      warned = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
