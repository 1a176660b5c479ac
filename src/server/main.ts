// mnat-server: the MNAT service (draft-ietf-mboned-mnat) over RESTCONF on
// HTTP/2. Parses flags, restores durable state, listens, ticks the state
// machine, compacts the journal, shuts down cleanly on SIGTERM.
import { readFileSync } from 'node:fs';
import { CliError, formatUsage, parseArgs, type FlagSpec } from '../core/cli-args.ts';
import { parseLogLevel } from '../host/log-format.ts';
import { MnatState, type MnatStateOptions, type StateChange, type StateSnapshot } from './state/mnat-state.ts';
import { Pool, PoolError } from './state/pool.ts';
import { createStderrLogger } from '../host/node-host.ts';
import { MnatApp, newWatcherId } from './app.ts';
import { DEFAULT_POOL } from './state/default-pool.ts';
import { Journal, StateCorruptError } from './store/journal.ts';
import { listen, parseListen } from './http/listener.ts';

const FLAGS: FlagSpec[] = [
  { name: 'listen', kind: 'string', value: 'HOST:PORT', default: '[::]:8443', help: 'address and port to listen on' },
  { name: 'tls-cert', kind: 'string', value: 'FILE', help: 'server certificate (PEM, may include the chain)' },
  { name: 'tls-key', kind: 'string', value: 'FILE', help: 'server private key (PEM)' },
  { name: 'client-ca', kind: 'string', value: 'FILE', help: 'CA for client certificates: enables mTLS; watchers are bound to the certificate that created them' },
  { name: 'require-client-cert', kind: 'boolean', help: 'refuse TLS clients without a certificate signed by --client-ca' },
  { name: 'admin-cn', kind: 'list', value: 'CN', help: 'with --client-ca: certificate subject CN allowed to see the status page (default mnat-admin)' },
  { name: 'insecure', kind: 'boolean', help: 'plaintext HTTP/2 (h2c) and HTTP/1.1 on the same port, for labs only' },
  { name: 'pool', kind: 'string', value: 'FILE', help: 'local address pool in the prototype\'s pool.json format (default: 232.0.0.0/8 and ff3e::/96, sources kept)' },
  { name: 'state-dir', kind: 'string', value: 'DIR', help: 'keep watchers, joins and mappings here (journal + snapshot); without it state is in memory only' },
  { name: 'refresh-period', kind: 'number', value: 'S', default: 10, min: 1, max: 65535, help: 'seconds between watcher refreshes (a watcher expires after 3 missed)' },
  { name: 'grace-period', kind: 'number', value: 'S', default: 250, min: 0, max: 86400, help: 'seconds a released local (S,G) stays unused' },
  { name: 'max-joins-per-watcher', kind: 'number', value: 'N', default: 64, min: 1, max: 100000, help: 'joined (S,G)s / monitors one watcher may hold' },
  { name: 'api-root', kind: 'list', value: 'PATH', help: 'extra API root with the prototype\'s quirks, e.g. /mnat-ds (/restconf is always served)' },
  { name: 'long-poll-wait', kind: 'number', value: 'S', default: 25, min: 0, max: 300, help: 'how long a GET with a matching If-None-Match is held (Prefer: wait=N may shorten it)' },
  { name: 'log-level', kind: 'string', value: 'LEVEL', default: 'info', help: 'debug, info, warn or error' },
];

function usage(): string {
  return formatUsage(
    'mnat-server',
    'The MNAT service: RESTCONF (RFC 8040) over HTTP/2 that assigns local (Sl,Gl) to global (Sg,Gg)\nchannels for mnat-egress and mnat-ingress watchers. See docs/server.md.',
    FLAGS,
  );
}

function die(message: string, code: number): never {
  process.stderr.write(`mnat-server: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), FLAGS);
  } catch (err) {
    if (err instanceof CliError) die(err.message, 2);
    throw err;
  }
  if (args.help) {
    process.stdout.write(usage());
    process.exit(0);
  }
  if (args.positionals.length > 0) die(`unexpected argument "${args.positionals[0]}" (see --help)`, 2);
  const level = parseLogLevel(args.string('log-level') as string);
  if (!level) die(`--log-level: "${args.string('log-level')}" is not one of debug, info, warn, error`, 2);
  const log = createStderrLogger('mnat-server', level);

  const insecure = args.boolean('insecure');
  const tlsCert = args.string('tls-cert');
  const tlsKey = args.string('tls-key');
  const clientCa = args.string('client-ca');
  if (!insecure && (!tlsCert || !tlsKey)) die('TLS needs --tls-cert FILE and --tls-key FILE (or --insecure for a plaintext lab server)', 2);
  if (insecure && (tlsCert || tlsKey || clientCa)) die('--insecure cannot be combined with --tls-cert, --tls-key or --client-ca', 2);
  if (args.boolean('require-client-cert') && !clientCa) die('--require-client-cert needs --client-ca FILE', 2);
  let listenAt: { host: string; port: number };
  try {
    listenAt = parseListen(args.string('listen') as string);
  } catch (err) {
    die((err as Error).message, 2);
  }
  const aliasRoots = args.list('api-root').map((r) => r.replace(/\/+$/, ''));
  for (const r of aliasRoots) {
    if (!/^\/[A-Za-z0-9._~\-/]+$/.test(r) || r === '/restconf' || r.startsWith('/restconf/') || ['/metrics', '/status', '/.well-known'].includes(r)) {
      die(`--api-root ${r}: must be a path like /mnat-ds, other than /restconf, /metrics, /status`, 2);
    }
  }

  let pool: Pool;
  const poolFile = args.string('pool');
  try {
    if (poolFile) {
      let text: string;
      try {
        text = readFileSync(poolFile, 'utf8');
      } catch (err) {
        die(`--pool ${poolFile}: ${(err as Error).message}`, 2);
      }
      pool = Pool.parse(text);
    } else {
      pool = Pool.fromJson(DEFAULT_POOL);
    }
  } catch (err) {
    if (err instanceof PoolError) die(`--pool ${poolFile ?? '(built-in)'}: ${err.message}`, 2);
    throw err;
  }

  const options: MnatStateOptions = {
    pool,
    refreshPeriodS: args.number('refresh-period') as number,
    gracePeriodS: args.number('grace-period') as number,
    maxJoinsPerWatcher: args.number('max-joins-per-watcher') as number,
    newWatcherId,
  };

  const now = Date.now();
  let state: MnatState;
  let journal: Journal<StateSnapshot, StateChange> | null = null;
  const stateDir = args.string('state-dir');
  if (stateDir) {
    journal = new Journal<StateSnapshot, StateChange>({ dir: stateDir, log });
    let loaded;
    try {
      loaded = journal.load();
    } catch (err) {
      if (err instanceof StateCorruptError) {
        log.error('refusing to start: state is corrupt', { error: err.message });
        die(err.message, 1);
      }
      die(`--state-dir ${stateDir}: ${(err as Error).message}`, 1);
    }
    try {
      state = loaded.snapshot ? MnatState.restore(loaded.snapshot, options, now) : new MnatState(options);
      for (const record of loaded.records) state.applyChange(record);
    } catch (err) {
      log.error('refusing to start: stored state does not fit the configuration', { error: (err as Error).message });
      die(`--state-dir ${stateDir}: stored state cannot be restored (${(err as Error).message}); was the pool changed? Restore the old --pool or move the state directory aside.`, 1);
    }
    // Nobody could refresh while the server was down: every watcher gets a full window again.
    state.restartClocks(now);
    const stats = state.stats();
    log.info('state restored', {
      dir: stateDir,
      generation: loaded.generation,
      records: loaded.records.length,
      watchers: stats.watchers,
      channels: stats.channelsAssigned + stats.channelsUnassigned,
      tornTailAt: loaded.truncatedAt?.offset,
    });
    const j = journal;
    state.onChange((change) => j.append(change));
    j.onFailure = (err) => {
      // Memory now holds changes the disk does not: stop, so that a restart
      // serves exactly what was acknowledged. The failing requests got a 500.
      log.error('exiting: the journal cannot be written', { error: err.message, dir: stateDir });
      setTimeout(() => process.exit(1), 200).unref();
    };
    if (loaded.records.length > 0) j.compact(state.snapshot());
  } else {
    state = new MnatState(options);
    log.warn('no --state-dir: state is kept in memory only and lost on restart');
  }

  const app = new MnatApp(state, journal, log, {
    aliasRoots,
    mtls: clientCa !== undefined,
    adminCns: args.list('admin-cn').length > 0 ? args.list('admin-cn') : ['mnat-admin'],
    longPollMaxMs: 300_000,
    longPollDefaultMs: (args.number('long-poll-wait') as number) * 1000,
  });

  let listener;
  try {
    listener = await listen(
      { ...listenAt, insecure, tlsCert, tlsKey, clientCa, requireClientCert: args.boolean('require-client-cert') },
      (req, res) => app.handle(req, res),
    );
  } catch (err) {
    die(`cannot listen on ${args.string('listen')}: ${(err as Error).message}`, 1);
  }

  // The state machine's clock: expiry, grace ends, waiting channels.
  let tickTimer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    try {
      state.tick(Date.now());
    } catch (err) {
      log.error('tick failed', { error: (err as Error).stack ?? String(err) });
    }
    journal?.sync().catch(() => undefined);
    if (journal && journal.wantsCompaction()) {
      try {
        journal.compact(state.snapshot());
      } catch (err) {
        log.error('compaction failed; the journal keeps growing', { error: (err as Error).message });
      }
    }
    const next = state.nextDeadlineMs();
    const delay = next === null ? 1000 : Math.max(10, Math.min(1000, next - Date.now()));
    tickTimer = setTimeout(tick, delay);
  };
  tick();

  log.info('listening', {
    address: listenAt.host,
    port: listener.port,
    tls: !insecure,
    mtls: clientCa !== undefined,
    requireClientCert: args.boolean('require-client-cert'),
    roots: ['/restconf', ...aliasRoots].join(','),
    pool: poolFile ?? 'built-in',
    poolSize: state.stats().poolSize.toString(),
  });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    if (tickTimer) clearTimeout(tickTimer);
    app.beginShutdown();
    const closed = listener.close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    try {
      await journal?.close();
    } catch (err) {
      log.error('journal flush failed at shutdown', { error: (err as Error).message });
      listener.destroyAll();
      process.exit(1);
    }
    listener.destroyAll();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`mnat-server: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
