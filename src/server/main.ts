// mnat-server: the MNAT service (draft-ietf-mboned-mnat) over RESTCONF on
// HTTP/2. The entry point: flags (options.ts) → wiring (server.ts); this file
// owns the process: arguments, exit codes, signals.
import { isMainThread, workerData } from 'node:worker_threads';
import { CliError } from '../core/cli-args.ts';
import { createStderrLogger } from '../host/node-host.ts';
import { parseServerOptions, usage } from './options.ts';
import { startServer, StartupError, type RunningServer } from './server.ts';
import { isCompactionWorker, runCompactionWorker } from './store/compaction.ts';
import { migrate, migrateUsage, parseMigrateOptions } from './migrate.ts';
import { parseLogLevel } from '../host/log-format.ts';

function die(message: string, code: number): never {
  process.stderr.write(`mnat-server: ${message}\n`);
  process.exit(code);
}

/** `mnat-server migrate …`: embedded state directory → an empty region in etcd. */
async function runMigrate(argv: string[]): Promise<void> {
  let options;
  try {
    options = parseMigrateOptions(argv);
  } catch (err) {
    if (err instanceof CliError) die(err.message, 2);
    throw err;
  }
  if (options === 'help') {
    process.stdout.write(migrateUsage());
    process.exit(0);
  }
  const level = parseLogLevel(options.logLevel);
  if (!level) die(`--log-level: "${options.logLevel}" is not one of debug, info, warn, error`, 2);
  const log = createStderrLogger('mnat-server', level);
  try {
    const done = await migrate(options, log);
    log.info('migrated; every mapping read back unchanged', { ...done, region: options.region });
    process.exit(0);
  } catch (err) {
    die(`migrate: ${(err as Error).message}`, 1);
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'migrate') return runMigrate(process.argv.slice(3));
  let options;
  try {
    options = parseServerOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CliError) die(err.message, 2);
    throw err;
  }
  if (options === 'help') {
    process.stdout.write(usage());
    process.exit(0);
  }
  const log = createStderrLogger('mnat-server', options.logLevel);
  let server: RunningServer | undefined;
  // Reload, not Node's default (end at once, streams cut): a renewed certificate
  // needs no restart. Set before "listening" is logged; while starting, the files are being read anyway.
  process.on('SIGHUP', () => server?.reload());
  try {
    server = await startServer(options, log, {
      exit: (code) => process.exit(code),
      memoryUsage: () => process.memoryUsage(),
      // Compaction workers start from this very module (one file in the bundle).
      compactionWorker: new URL(import.meta.url),
    });
  } catch (err) {
    if (err instanceof StartupError) die(err.message, 1);
    throw err;
  }
  const running = server;
  const stop = (signal: string): void => {
    void running.shutdown(signal).then((flushed) => process.exit(flushed ? 0 : 1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (!isMainThread && isCompactionWorker(workerData)) {
  runCompactionWorker();
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`mnat-server: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
