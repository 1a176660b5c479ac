// Wiring of one mnat-server: the store (state directory or memory), the
// RESTCONF application, the listener and the store's clock; and the graceful
// stop. main.ts turns flags into ServerOptions and owns the process.
import { serverNow } from './clock.ts';
import type { Logger } from '../host/host.ts';
import { ClientTable, Refusals } from './http/limits.ts';
import { listen, type Listener } from './http/listener.ts';
import { daysUntil, EXPIRY_WARNING_DAYS, TlsFilesError } from './http/tls-files.ts';
import type { MemoryUsage } from './ops/stats.ts';
import type { ServerOptions } from './options.ts';
import { RestconfApp } from './restconf/app.ts';
import { openEmbeddedStore, StateRestoreError } from './store/embedded-store.ts';
import { StateCorruptError } from './store/journal.ts';
import { startTicker } from './store/ticker.ts';
import { startMqttFanout, type MappingPublisher } from './mqtt/publisher.ts';
import type { MnatStore } from './store/store.ts';
import { EtcdRequestError, EtcdUnavailableError } from './store/etcd-client.ts';
import { RegionConfigError } from './store/etcd-region.ts';
import { SnapshotCorruptError } from './store/etcd-snapshot.ts';
import { openEtcdStore } from './store/etcd-store.ts';
import type { RegionStoreOptions } from './options.ts';

/** The server cannot start; the message says why (exit code 1). */
export class StartupError extends Error {
  override name = 'StartupError';
}

export interface ProcessHooks {
  /** Ends the process (the journal could not even be cut back after a failed write: the disk state is unknown). */
  exit(code: number): void;
  memoryUsage(): MemoryUsage;
  /** The module compaction worker threads start from (the bundle: itself; see main.ts). */
  compactionWorker?: URL;
}

export interface RunningServer {
  readonly port: number;
  /** Stops accepting, ends streams and long polls, flushes the journal; false when the flush failed. */
  shutdown(signal: string): Promise<boolean>;
  /** SIGHUP: reads the TLS files again (a renewed certificate without a restart); logs what it did. */
  reload(): void;
}

export async function startServer(options: ServerOptions, log: Logger, hooks: ProcessHooks): Promise<RunningServer> {
  const store = options.store.kind === 'etcd' ? await openRegionStore(options, options.store, log) : openStore(options, log, hooks);
  return serve(store, options, log, hooks);
}

function openStore(options: ServerOptions, log: Logger, hooks: ProcessHooks): MnatStore {
  const dir = options.stateDir;
  let store;
  try {
    store = openEmbeddedStore({
      state: options.state,
      dir,
      log,
      nowMs: serverNow(),
      compactBytes: options.journalCompactBytes,
      compactionWorker: hooks.compactionWorker,
      onFatal: (err) => {
        // Stop, so that a restart serves exactly what is on disk. The failing requests got a 503.
        log.error('exiting: the journal cannot be cut back to its durable end after a failed write', { error: err.message, dir });
        setTimeout(() => hooks.exit(1), 200).unref();
      },
    });
  } catch (err) {
    if (err instanceof StateCorruptError) {
      log.error('refusing to start: state is corrupt', { error: err.message });
      throw new StartupError(err.message);
    }
    if (err instanceof StateRestoreError) {
      log.error('refusing to start: stored state does not fit the configuration', { error: err.message });
      throw new StartupError(`--state-dir ${dir}: stored state cannot be restored (${err.message}); was the pool changed? Restore the old --pool or move the state directory aside.`);
    }
    throw new StartupError(`--state-dir ${dir}: ${(err as Error).message}`);
  }
  if (dir === undefined) log.warn('no --state-dir: state is kept in memory only and lost on restart');
  return store;
}

/** One front end of a region: joins it through etcd (docs/region.md). */
async function openRegionStore(options: ServerOptions, region: RegionStoreOptions, log: Logger): Promise<MnatStore> {
  const where = `--store etcd://${region.location.endpoints.join(',')}`;
  try {
    return await openEtcdStore({
      endpoints: region.location.endpoints,
      prefix: region.location.prefix,
      ...(region.tls ? { tls: region.tls } : {}),
      ...(region.auth ? { auth: region.auth } : {}),
      frontendId: region.frontendId,
      leaseTtlS: region.leaseTtlS,
      config: {
        format: 'mnat-region-config/1',
        pool: options.poolJson,
        refreshPeriodS: options.state.refreshPeriodS ?? 10,
        gracePeriodS: options.state.gracePeriodS ?? 250,
        maxJoinsPerWatcher: options.state.maxJoinsPerWatcher ?? 64,
        quotas: {
          maxWatchersPerAddress: options.state.maxWatchersPerAddress ?? 0,
          maxWatchersPerOwner: options.state.maxWatchersPerOwner ?? 0,
          newWatchersPerMinute: options.state.newWatchersPerMinute ?? 0,
          newWatcherBurst: options.state.newWatcherBurst ?? 10,
        },
      },
      log,
    });
  } catch (err) {
    if (err instanceof RegionConfigError || err instanceof SnapshotCorruptError || err instanceof EtcdRequestError || err instanceof TlsFilesError) throw new StartupError(`${where}: ${err.message}`);
    if (err instanceof EtcdUnavailableError) throw new StartupError(`${where}: cannot reach etcd (${err.message}); is the cluster up and does it have a quorum?`);
    throw err;
  }
}

async function serve(store: MnatStore, options: ServerOptions, log: Logger, hooks: ProcessHooks): Promise<RunningServer> {

  const clients = new ClientTable(options.httpLimits, new Refusals());
  let fanout: MappingPublisher | null = null;
  if (options.mqtt) {
    try {
      fanout = await startMqttFanout(store, options.mqtt, log);
    } catch (err) {
      await store.close().catch(() => undefined);
      throw new StartupError(`--mqtt ${options.mqtt.url}: ${(err as Error).message}`);
    }
  }
  const publisher = fanout;
  const app = new RestconfApp(store, log, {
    clients,
    ...options.restconfLimits,
    aliasRoots: options.aliasRoots,
    mtls: options.clientCa !== undefined,
    adminCns: options.adminCns,
    longPollMaxMs: 300_000,
    longPollDefaultMs: options.longPollDefaultMs,
    memoryUsage: hooks.memoryUsage,
    ...(publisher ? { mqttStats: () => publisher.stats() } : {}),
    tlsCertificate: () => listener?.certificate ?? null,
  });
  let listener: Listener | undefined;
  try {
    listener = await listen(
      { ...options.listen, insecure: options.insecure, tlsCert: options.tlsCert, tlsKey: options.tlsKey, clientCa: options.clientCa, requireClientCert: options.requireClientCert, clients },
      (req, res) => app.handle(req, res),
    );
  } catch (err) {
    throw new StartupError(`cannot listen on ${options.listenText}: ${(err as Error).message}`);
  }
  warnIfExpiring(listener.certificate, log);
  const backend = store.stats().backend;
  if (backend.kind === 'etcd') warnIfExpiring(backend.clientCertificate, log, 'etcd client');
  const ticker = startTicker(store, log);
  const readOnly = store.stats().readOnly;
  if (readOnly) log.warn('starting read-only: reads and refreshes are served, changes refused until the state directory takes writes', { reason: readOnly.reason });
  log.info('listening', {
    address: options.listen.host,
    port: listener.port,
    tls: !options.insecure,
    mtls: options.clientCa !== undefined,
    requireClientCert: options.requireClientCert,
    roots: ['/restconf', ...options.aliasRoots].join(','),
    pool: options.poolFile ?? 'built-in',
    poolSize: store.stats().poolSize.toString(),
    store: options.store.kind === 'etcd' ? `etcd://${options.store.location.endpoints.join(',')}/${options.store.location.region}` : (options.stateDir ?? 'memory'),
    ...(options.store.kind === 'etcd' ? { frontend: options.store.frontendId } : {}),
    mqtt: options.mqtt?.url,
    ...(listener.certificate ? { certificateSubject: listener.certificate.subject, certificateValidTo: listener.certificate.validTo } : {}),
  });

  let stopping: Promise<boolean> | null = null;
  const stop = async (signal: string): Promise<boolean> => {
    log.info('shutting down', { signal });
    ticker.stop();
    app.beginShutdown();
    const closed = listener.close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    // The retained mappings stay on the broker: CPEs keep them across the restart.
    await publisher?.close();
    try {
      await store.close();
    } catch (err) {
      log.error('journal flush failed at shutdown', { error: (err as Error).message });
      listener.destroyAll();
      return false;
    }
    listener.destroyAll();
    log.info('stopped');
    return true;
  };
  return {
    port: listener.port,
    shutdown: (signal) => (stopping ??= stop(signal)),
    reload() {
      try {
        const cert = listener.reloadTls();
        warnIfExpiring(cert, log);
        if (cert) log.info('TLS files read again: new connections get this certificate, open ones keep theirs', { certificate: options.tlsCert, subject: cert.subject, validTo: cert.validTo });
        else log.info('SIGHUP: plaintext (--insecure), no TLS files to read again');
      } catch (err) {
        log.error('TLS files not reloaded: new connections still get the previous certificate', { error: (err as Error).message });
      }
      const region = options.store.kind === 'etcd' ? options.store : null;
      if (!region || (!region.tls && !region.auth)) return;
      try {
        const cert = store.reloadCredentials?.() ?? null;
        warnIfExpiring(cert, log, 'etcd client');
        if (region.tls) log.info('etcd TLS files read again: new connections to etcd use them, open ones keep theirs', { ...region.tls, ...(cert ? { subject: cert.subject, validTo: cert.validTo } : {}) });
        if (region.auth) log.info('etcd password file read again: a changed password is used for the next login', { user: region.auth.user, file: region.auth.passwordFile });
      } catch (err) {
        const what = region.tls && region.auth ? 'TLS files and password file' : region.tls ? 'TLS files' : 'password file';
        log.error(`etcd ${what} not reloaded: new connections and logins to etcd still use the previous ones`, { error: (err as Error).message });
      }
    },
  };
}

/** Warns before a certificate expires (also on /status and /metrics): the server's, or the one etcd gets. */
function warnIfExpiring(cert: { subject: string; validTo: string } | null, log: Logger, which: 'server' | 'etcd client' = 'server'): void {
  if (!cert) return;
  const daysLeft = daysUntil(cert.validTo, Date.now());
  if (daysLeft >= EXPIRY_WARNING_DAYS) return;
  const locksOut = which === 'server' ? 'clients cannot connect' : 'new connections to etcd fail, and once it needs one this front end refuses changes (503)';
  const what = which === 'server' ? 'the TLS certificate' : 'the etcd client certificate (--etcd-cert)';
  log.warn(daysLeft < 0 ? `${what} has EXPIRED: ${locksOut}; renew it and send SIGHUP` : `${what} expires soon: renew it and send SIGHUP`, { subject: cert.subject, validTo: cert.validTo, daysLeft: Math.floor(daysLeft) });
}
