// mnat-server's command line: the flags, their checks and the pool file.
// Every problem is a CliError with one line naming the flag (exit code 2).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CliError, formatUsage, parseArgs, type FlagSpec, type ParsedArgs } from '../core/cli-args.ts';
import { parseMqttUrl, type MqttBroker } from '../protocol/mqtt-mapping.ts';
import { parseLogLevel } from '../host/log-format.ts';
import type { LogLevel } from '../host/host.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './http/limits.ts';
import { parseListen } from './http/listener.ts';
import type { RestconfLimits } from './restconf/app.ts';
import { DEFAULT_POOL } from './state/default-pool.ts';
import { Pool, PoolError } from './state/pool.ts';
import type { MnatStateOptions, QuotaOptions } from './state/state-types.ts';
import { parseEtcdUrl, type EtcdLocation } from './store/etcd-region.ts';
import type { EtcdTls } from './store/etcd-client.ts';
import { readEtcdPassword, type EtcdAuth } from './store/etcd-auth.ts';

export const FLAGS: FlagSpec[] = [
  { name: 'listen', kind: 'string', value: 'HOST:PORT', default: '[::]:8443', help: 'address and port to listen on' },
  { name: 'tls-cert', kind: 'string', value: 'FILE', help: 'server certificate (PEM, may include the chain)' },
  { name: 'tls-key', kind: 'string', value: 'FILE', help: 'server private key (PEM)' },
  { name: 'client-ca', kind: 'string', value: 'FILE', help: 'CA for client certificates: enables mTLS; watchers are bound to the certificate that created them' },
  { name: 'require-client-cert', kind: 'boolean', help: 'refuse TLS clients without a certificate signed by --client-ca' },
  { name: 'admin-cn', kind: 'list', value: 'CN', help: 'with --client-ca: certificate subject CN allowed to see the status page (default mnat-admin)' },
  { name: 'insecure', kind: 'boolean', help: 'plaintext HTTP/2 (h2c) and HTTP/1.1 on the same port, for labs only' },
  { name: 'pool', kind: 'string', value: 'FILE', help: 'local address pool in the prototype\'s pool.json format (default: 232.0.0.0/8 and ff3e::/96, sources kept)' },
  { name: 'state-dir', kind: 'string', value: 'DIR', help: 'keep watchers, joins and mappings here (journal + snapshot); without it state is in memory only' },
  { name: 'store', kind: 'string', value: 'URL', help: 'etcd://HOST:PORT[,HOST:PORT…][/REGION]: one front end of a region whose state lives in etcd (docs/region.md); instead of --state-dir' },
  { name: 'etcd-cacert', kind: 'string', value: 'FILE', help: 'with --store: CA of etcd\'s client certificates; reach etcd over TLS' },
  { name: 'etcd-cert', kind: 'string', value: 'FILE', help: 'with --store: client certificate for etcd (PEM)' },
  { name: 'etcd-key', kind: 'string', value: 'FILE', help: 'with --store: client key for etcd (PEM)' },
  { name: 'etcd-user', kind: 'string', value: 'NAME', help: 'with --store: log in to etcd (its authentication is on) as this user' },
  { name: 'etcd-password-file', kind: 'string', value: 'FILE', help: 'with --etcd-user: the file holding that user\'s password' },
  { name: 'frontend-id', kind: 'string', value: 'NAME', help: 'with --store: this front end\'s name in the region (default: host name and a random suffix)' },
  { name: 'frontend-lease', kind: 'number', value: 'S', default: 10, min: 2, max: 300, help: 'with --store: lease of the front end\'s registration; a dead front end is noticed this long after it died' },
  { name: 'refresh-period', kind: 'number', value: 'S', default: 10, min: 1, max: 65535, help: 'seconds between watcher refreshes (a watcher expires after 3 missed)' },
  { name: 'grace-period', kind: 'number', value: 'S', default: 250, min: 0, max: 86400, help: 'seconds a released local (S,G) stays unused' },
  { name: 'max-joins-per-watcher', kind: 'number', value: 'N', default: 64, min: 1, max: 100000, help: 'joined (S,G)s / monitors one watcher may hold' },
  { name: 'api-root', kind: 'list', value: 'PATH', help: 'extra API root with the prototype\'s quirks, e.g. /mnat-ds (/restconf is always served)' },
  { name: 'long-poll-wait', kind: 'number', value: 'S', default: 25, min: 0, max: 300, help: 'how long a GET with a matching If-None-Match is held (Prefer: wait=N may shorten it)' },
  { name: 'mqtt', kind: 'string', value: 'URL', help: 'also publish every mapping, retained, to this MQTT broker: mqtt://host[:port][/root] or mqtts://… (docs/mqtt.md)' },
  { name: 'mqtt-cacert', kind: 'string', value: 'FILE', help: "CA certificate(s) to verify the MQTT broker with (PEM; default: the system's)" },
  { name: 'mqtt-cert', kind: 'string', value: 'FILE', help: 'client certificate for the MQTT broker (PEM)' },
  { name: 'mqtt-key', kind: 'string', value: 'FILE', help: 'client private key for the MQTT broker (PEM)' },
  { name: 'log-level', kind: 'string', value: 'LEVEL', default: 'info', help: 'debug, info, warn or error' },
  // Per-client limits (docs/server.md, "Limits"); 0 turns a count limit off.
  { name: 'max-connections-per-client', kind: 'number', value: 'N', default: 64, min: 0, help: 'open connections per client address (IPv6: per --ipv6-client-prefix); more are closed at once' },
  { name: 'ipv6-client-prefix', kind: 'number', value: 'LEN', default: 64, min: 32, max: 128, help: 'IPv6 clients are counted by this prefix (a host holds a whole /64)' },
  { name: 'connect-timeout', kind: 'number', value: 'S', default: 10, min: 1, max: 600, help: 'seconds from TCP connect to a usable connection (TLS handshake, HTTP/2 preface, first HTTP/1.1 byte)' },
  { name: 'headers-timeout', kind: 'number', value: 'S', default: 10, min: 1, max: 600, help: 'seconds an HTTP/1.1 request may take to send its headers' },
  { name: 'body-timeout', kind: 'number', value: 'S', default: 10, min: 1, max: 600, help: 'seconds a request body may take (plus 1 s per --body-min-rate bytes)' },
  { name: 'body-min-rate', kind: 'number', value: 'BYTES', default: 1024, min: 0, help: 'bytes per second that extend --body-timeout (0: no extension)' },
  { name: 'max-body-buffer-per-connection', kind: 'number', value: 'BYTES', default: 1048576, min: 0, help: 'request-body bytes one connection may have in flight' },
  { name: 'max-body-buffer-per-client', kind: 'number', value: 'BYTES', default: 4194304, min: 0, help: 'request-body bytes one client address may have in flight over all its connections' },
  { name: 'max-watchers-per-address', kind: 'number', value: 'N', default: 64, min: 0, help: 'watchers one client address may hold without a client certificate' },
  { name: 'max-watchers-per-certificate', kind: 'number', value: 'N', default: 32, min: 0, help: 'watchers one client certificate may hold' },
  { name: 'new-watchers-per-minute', kind: 'number', value: 'N', default: 6, min: 0, integer: false, help: 'get-new-watcher-id per client (certificate, or address), sustained' },
  { name: 'new-watcher-burst', kind: 'number', value: 'N', default: 20, min: 1, help: 'get-new-watcher-id per client at once after a quiet time' },
  { name: 'max-subscriptions-per-client', kind: 'number', value: 'N', default: 64, min: 0, help: 'push subscriptions per client (certificate, or address)' },
  { name: 'max-container-watchers', kind: 'number', value: 'N', default: 64, min: 0, help: 'watchers a container GET may list; more: 413, GET each watcher=ID' },
  { name: 'journal-compact-bytes', kind: 'number', value: 'BYTES', default: 16777216, min: 4096, help: 'compact (snapshot in a worker thread) when the journal passes this size' },
];

export interface ServerOptions {
  logLevel: LogLevel;
  listen: { host: string; port: number };
  /** --listen as given, for messages. */
  listenText: string;
  insecure: boolean;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  clientCa: string | undefined;
  requireClientCert: boolean;
  adminCns: string[];
  aliasRoots: string[];
  /** --pool FILE, or undefined for the built-in pool. */
  poolFile: string | undefined;
  /** The state machine's options (the pool included). */
  state: MnatStateOptions;
  stateDir: string | undefined;
  longPollDefaultMs: number;
  /** Connection, timeout and body limits (per front end). */
  httpLimits: HttpLimits;
  /** Container size and push subscriptions per client. */
  restconfLimits: RestconfLimits;
  journalCompactBytes: number;
  /** The pool as JSON (a region stores it, and builds its replicas' pools from it). */
  poolJson: unknown;
  /** embedded: the state machine in this process (with --state-dir or in memory); etcd: a region front end. */
  store: { kind: 'embedded' } | RegionStoreOptions;
  /** --mqtt: the broker the mappings are published to. */
  mqtt: MqttOptions | undefined;
}

export interface MqttOptions extends MqttBroker {
  /** --mqtt as given, for messages. */
  readonly url: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface RegionStoreOptions {
  kind: 'etcd';
  location: EtcdLocation;
  tls: EtcdTls | undefined;
  auth: EtcdAuth | undefined;
  frontendId: string;
  leaseTtlS: number;
}

export function usage(): string {
  return formatUsage(
    'mnat-server',
    'The MNAT service: RESTCONF (RFC 8040) over HTTP/2 that assigns local (Sl,Gl) to global (Sg,Gg)\nchannels for mnat-egress and mnat-ingress watchers. See docs/server.md.\n`mnat-server migrate --help`: move a --state-dir into a region in etcd (docs/region.md).',
    FLAGS,
  );
}

/** The options, or 'help' for --help; throws CliError for anything wrong. */
export function parseServerOptions(argv: readonly string[]): ServerOptions | 'help' {
  const args = parseArgs(argv, FLAGS);
  if (args.help) return 'help';
  if (args.positionals.length > 0) throw new CliError(`unexpected argument "${args.positionals[0]}" (see --help)`);
  const logLevel = parseLogLevel(args.string('log-level') as string);
  if (!logLevel) throw new CliError(`--log-level: "${args.string('log-level')}" is not one of debug, info, warn, error`);

  const insecure = args.boolean('insecure');
  const tlsCert = args.string('tls-cert');
  const tlsKey = args.string('tls-key');
  const clientCa = args.string('client-ca');
  if (!insecure && (!tlsCert || !tlsKey)) throw new CliError('TLS needs --tls-cert FILE and --tls-key FILE (or --insecure for a plaintext lab server)');
  if (insecure && (tlsCert || tlsKey || clientCa)) throw new CliError('--insecure cannot be combined with --tls-cert, --tls-key or --client-ca');
  if (args.boolean('require-client-cert') && !clientCa) throw new CliError('--require-client-cert needs --client-ca FILE');
  let listen: { host: string; port: number };
  try {
    listen = parseListen(args.string('listen') as string);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const aliasRoots = args.list('api-root').map((r) => r.replace(/\/+$/, ''));
  for (const r of aliasRoots) {
    if (!/^\/[A-Za-z0-9._~\-/]+$/.test(r) || r === '/restconf' || r.startsWith('/restconf/') || ['/metrics', '/status', '/.well-known'].includes(r)) {
      throw new CliError(`--api-root ${r}: must be a path like /mnat-ds, other than /restconf, /metrics, /status`);
    }
  }
  const poolFile = args.string('pool');
  const num = (name: string): number => args.number(name) as number;
  const httpLimits: HttpLimits = {
    ...DEFAULT_HTTP_LIMITS,
    maxConnectionsPerClient: num('max-connections-per-client'),
    ipv6ClientPrefix: num('ipv6-client-prefix'),
    connectTimeoutMs: num('connect-timeout') * 1000,
    headersTimeoutMs: num('headers-timeout') * 1000,
    bodyTimeoutMs: num('body-timeout') * 1000,
    bodyMinRate: num('body-min-rate'),
    maxBodyBufferPerConnection: num('max-body-buffer-per-connection'),
    maxBodyBufferPerClient: num('max-body-buffer-per-client'),
  };
  const region = parseRegionFlags(args);
  if (region && args.string('state-dir') !== undefined) throw new CliError('--store etcd://… and --state-dir exclude each other: a region keeps its state in etcd');
  const frontendId = args.string('frontend-id');
  if (frontendId !== undefined && !region) throw new CliError('--frontend-id needs --store etcd://…');
  if (frontendId !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(frontendId)) throw new CliError(`--frontend-id "${frontendId}": use 1-64 letters, digits, '.', '_' or '-'`);
  const pool = loadPool(poolFile);
  return {
    logLevel,
    listen,
    listenText: args.string('listen') as string,
    insecure,
    tlsCert,
    tlsKey,
    clientCa,
    requireClientCert: args.boolean('require-client-cert'),
    adminCns: args.list('admin-cn').length > 0 ? [...args.list('admin-cn')] : ['mnat-admin'],
    aliasRoots,
    poolFile,
    state: {
      pool: pool.pool,
      refreshPeriodS: args.number('refresh-period') as number,
      gracePeriodS: args.number('grace-period') as number,
      maxJoinsPerWatcher: args.number('max-joins-per-watcher') as number,
      ...quotaOptions(args),
    },
    stateDir: args.string('state-dir'),
    longPollDefaultMs: (args.number('long-poll-wait') as number) * 1000,
    httpLimits,
    restconfLimits: { maxContainerWatchers: num('max-container-watchers'), maxSubscriptionsPerClient: num('max-subscriptions-per-client'), maxJoinsPerWatcher: num('max-joins-per-watcher') },
    journalCompactBytes: num('journal-compact-bytes'),
    poolJson: pool.json,
    store: region ? { kind: 'etcd', ...region, frontendId: frontendId ?? defaultFrontendId(), leaseTtlS: args.number('frontend-lease') as number } : { kind: 'embedded' },
    mqtt: mqttOptions(args),
  };
}

/** The per-client watcher quotas (state/quotas.ts; a region shares them, shared with `mnat-server migrate`). */
export const QUOTA_FLAG_NAMES = ['max-watchers-per-address', 'max-watchers-per-certificate', 'new-watchers-per-minute', 'new-watcher-burst'];

export function quotaOptions(args: ParsedArgs): QuotaOptions {
  const num = (name: string): number => args.number(name) as number;
  return {
    maxWatchersPerAddress: num('max-watchers-per-address'),
    maxWatchersPerOwner: num('max-watchers-per-certificate'),
    newWatchersPerMinute: num('new-watchers-per-minute'),
    newWatcherBurst: num('new-watcher-burst'),
  };
}

/**
 * A broker or cluster URL flag with its TLS file flags (--P-cacert, --P-cert,
 * --P-key): the files need the URL, a certificate goes with its key, and the
 * URL's parse error names the flag. null without the URL flag.
 */
function urlWithTlsFiles<T>(args: ParsedArgs, urlFlag: string, prefix: string, placeholder: string, parse: (url: string) => T) {
  const url = args.string(urlFlag);
  const [cacert, cert, key] = ['cacert', 'cert', 'key'].map((f) => args.string(`${prefix}-${f}`));
  if (url === undefined) {
    if (cacert || cert || key) throw new CliError(`--${prefix}-cacert, --${prefix}-cert and --${prefix}-key need --${urlFlag} ${placeholder}`);
    return null;
  }
  let parsed: T;
  try {
    parsed = parse(url);
  } catch (err) {
    throw new CliError(`--${urlFlag}: ${(err as Error).message}`);
  }
  if ((cert === undefined) !== (key === undefined)) throw new CliError(`--${prefix}-cert and --${prefix}-key go together`);
  return { url, parsed, cacert, cert, key };
}

function mqttOptions(args: ParsedArgs): MqttOptions | undefined {
  const flags = urlWithTlsFiles(args, 'mqtt', 'mqtt', 'URL', parseMqttUrl);
  if (!flags) return undefined;
  const { url, parsed: broker, cacert: caFile, cert: certFile, key: keyFile } = flags;
  if (!broker.tls && (caFile || certFile || keyFile)) throw new CliError(`--mqtt ${url} is plaintext: use mqtts:// with --mqtt-cacert, --mqtt-cert, --mqtt-key`);
  return { ...broker, url, ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
}

/** --store and the --etcd-* flags (shared with `mnat-server migrate`); null without --store. */
export function parseRegionFlags(args: ParsedArgs): { location: EtcdLocation; tls: EtcdTls | undefined; auth: EtcdAuth | undefined } | null {
  const user = args.string('etcd-user');
  const passwordFile = args.string('etcd-password-file');
  const flags = urlWithTlsFiles(args, 'store', 'etcd', 'etcd://…', parseEtcdUrl);
  if (!flags) {
    if (user !== undefined || passwordFile !== undefined) throw new CliError('--etcd-user and --etcd-password-file need --store etcd://…');
    return null;
  }
  if ((user === undefined) !== (passwordFile === undefined)) throw new CliError('--etcd-user and --etcd-password-file go together');
  const auth = user !== undefined && passwordFile !== undefined ? { user, passwordFile } : undefined;
  if (auth) {
    try {
      readEtcdPassword(auth);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  const { parsed: location, cacert, cert, key } = flags;
  if (cert && !cacert) throw new CliError('--etcd-cert needs --etcd-cacert (a client certificate is sent only over TLS)');
  for (const [flag, file] of [['etcd-cacert', cacert], ['etcd-cert', cert], ['etcd-key', key]] as const) {
    if (file === undefined) continue;
    try {
      readFileSync(file);
    } catch (err) {
      throw new CliError(`--${flag} ${file}: ${(err as Error).message}`);
    }
  }
  const tls: EtcdTls | undefined = cacert ? { caFile: cacert, ...(cert ? { certFile: cert } : {}), ...(key ? { keyFile: key } : {}) } : undefined;
  return { location, tls, auth };
}

/** A front end's default name: the host and a random suffix (a restarted process is a new front end). */
function defaultFrontendId(): string {
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${randomBytes(3).toString('hex')}`;
}

/** The pool file (or the built-in pool), built and as JSON. */
export function loadPool(file: string | undefined): { pool: Pool; json: unknown } {
  try {
    if (file === undefined) return { pool: Pool.fromJson(DEFAULT_POOL), json: DEFAULT_POOL };
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(`--pool ${file}: ${(err as Error).message}`);
    }
    const pool = Pool.parse(text);
    return { pool, json: JSON.parse(text) };
  } catch (err) {
    if (err instanceof PoolError) throw new CliError(`--pool ${file ?? '(built-in)'}: ${err.message}`);
    throw err;
  }
}
