// mnat-server: the MNAT service (draft-ietf-mboned-mnat) over RESTCONF on
// HTTP/2. The entry point: flags (options.ts) → wiring (server.ts); this file
// owns the process: arguments, exit codes, signals.
import { CliError } from '../core/cli-args.ts';
import { createStderrLogger } from '../host/node-host.ts';
import { parseServerOptions, usage } from './options.ts';
import { startServer, StartupError } from './server.ts';

function die(message: string, code: number): never {
  process.stderr.write(`mnat-server: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
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
  let server;
  try {
    server = await startServer(options, log, { exit: (code) => process.exit(code), memoryUsage: () => process.memoryUsage() });
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

main().catch((err: unknown) => {
  process.stderr.write(`mnat-server: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
