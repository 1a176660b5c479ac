// mnat-recv SOURCE GROUP PORT: receive a global SSM channel through the MNAT
// network as an application would (the receiver library), print
// `received N from SOURCE` and exit 0 after N datagrams: an ssmping-style
// check for ISP support staff. Every failure is one line on stderr: exit 2 for
// bad usage or configuration, 1 for what happened on the network.
import { existsSync } from 'node:fs';
import { CliError, formatUsage, parseArgs, type FlagSpec } from '../core/cli-args.ts';
import { DiscoveryError } from '../core/dns-sd.ts';
import { createNodeHost, createStderrLogger } from '../host/node-host.ts';
import type { Logger } from '../host/host.ts';
import { describeLocal, MnatReceiver } from './receiver.ts';
import { ReceiverConfigError } from './receiver-config.ts';

const FLAGS: FlagSpec[] = [
  { name: 'count', kind: 'number', value: 'N', help: 'datagrams to receive before exiting 0', default: 1, min: 1 },
  { name: 'timeout', kind: 'number', value: 'S', help: 'give up (exit 1) when they have not arrived after this many seconds', default: 30, min: 1 },
  { name: 'server', kind: 'string', value: 'URL', help: 'the MNAT server (https://host:port[/root] or host); default: DNS-SD _mnat._tcp in the search domains' },
  { name: 'api-root', kind: 'string', value: 'PATH', help: 'RESTCONF root (default: the URL path, the DNS-SD TXT path, else /restconf)' },
  { name: 'cacert', kind: 'string', value: 'FILE', help: 'CA certificate(s) to verify the server with (PEM)' },
  { name: 'cert', kind: 'string', value: 'FILE', help: 'client certificate for mutual TLS (PEM)' },
  { name: 'key', kind: 'string', value: 'FILE', help: 'client private key (PEM)' },
  { name: 'insecure', kind: 'boolean', help: 'plaintext HTTP/2 (h2c) to the server, for labs only' },
  { name: 'interface', kind: 'string', value: 'ADDR', help: 'join on this interface (IPv4 address, or ::%IFNAME for IPv6)' },
  { name: 'dns-server', kind: 'list', value: 'ADDR', help: 'DNS server for DNS-SD instead of those in /etc/resolv.conf' },
  { name: 'search', kind: 'list', value: 'DOMAIN', help: 'search domain for DNS-SD instead of those in /etc/resolv.conf' },
  { name: 'no-push', kind: 'boolean', help: 'follow the mapping by long polling instead of the push stream' },
  { name: 'quiet', kind: 'boolean', help: 'print only the result line' },
  { name: 'verbose', kind: 'boolean', help: 'log what happens (logfmt on stderr)' },
];

const USAGE = formatUsage(
  'mnat-recv SOURCE GROUP PORT',
  'Receives the global SSM channel (SOURCE,GROUP) on UDP PORT through an MNAT network, as an\n' +
    'application would (no CPE agent): finds the MNAT server (--server, or DNS-SD), asks it for the\n' +
    'local mapping, joins it, and prints "received N from SOURCE" after N datagrams (exit 0).\n' +
    'Exit 2: bad usage or configuration; exit 1: discovery, server, mapping or timeout failure.',
  FLAGS,
);

const QUIET: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function fail(code: 1 | 2, line: string): never {
  process.stderr.write(`mnat-recv: ${line}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  let args;
  try {
    args = parseArgs(argv, FLAGS);
  } catch (err) {
    if (err instanceof CliError) fail(2, err.message);
    throw err;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (args.positionals.length !== 3) fail(2, `expected SOURCE GROUP PORT, got ${args.positionals.length} argument(s) (see --help)`);
  const [source, group, portText] = args.positionals as [string, string, string];
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  for (const what of ['cacert', 'cert', 'key'] as const) {
    const file = args.string(what);
    if (file !== undefined && !existsSync(file)) fail(2, `--${what}: ${file} does not exist`);
  }
  if (args.has('cert') !== args.has('key')) fail(2, 'a client certificate needs its key: give both --cert and --key');
  if (args.boolean('insecure') && (args.has('cacert') || args.has('cert'))) fail(2, '--insecure is plaintext: it cannot be combined with --cacert, --cert or --key');
  const count = args.number('count') as number;
  const say = args.boolean('quiet') ? (): void => undefined : (line: string): void => void process.stderr.write(`mnat-recv: ${line}\n`);
  const logger = args.boolean('verbose') ? createStderrLogger('mnat-recv', 'debug') : QUIET;

  let receiver: MnatReceiver;
  try {
    receiver = new MnatReceiver({
      source,
      group,
      port,
      ...(args.string('server') !== undefined ? { server: args.string('server') as string } : {}),
      ...(args.string('api-root') !== undefined ? { apiRoot: args.string('api-root') as string } : {}),
      ...(args.string('cacert') !== undefined ? { cacert: args.string('cacert') as string } : {}),
      ...(args.string('cert') !== undefined ? { cert: args.string('cert') as string, key: args.string('key') as string } : {}),
      ...(args.string('interface') !== undefined ? { interface: args.string('interface') as string } : {}),
      insecure: args.boolean('insecure'),
      push: !args.boolean('no-push'),
      dns: {
        ...(args.list('dns-server').length > 0 ? { servers: [...args.list('dns-server')] } : {}),
        ...(args.list('search').length > 0 ? { search: [...args.list('search')] } : {}),
      },
      logger,
      host: createNodeHost(logger),
    });
  } catch (err) {
    if (err instanceof ReceiverConfigError) fail(2, err.message);
    throw err;
  }

  let received = 0;
  let finishing = false;
  const finish = (code: 0 | 1, line?: string): void => {
    if (finishing) return;
    finishing = true;
    clearTimeout(timer);
    if (code === 0) process.stdout.write(`received ${received} from ${receiver.channel.source}\n`);
    else if (line) process.stderr.write(`mnat-recv: ${line}\n`);
    // Withdraw the join before exiting; a server that is gone must not hold the exit up.
    void Promise.race([receiver.close(), new Promise((r) => setTimeout(r, 3000).unref())]).then(() => process.exit(code));
  };
  const timeoutS = args.number('timeout') as number;
  const timer = setTimeout(() => {
    const local = receiver.local;
    finish(
      1,
      local === null
        ? `no local mapping for (${source},${group}) from ${receiver.server?.origin ?? 'the server'} within ${timeoutS} s`
        : `received ${received} of ${count} datagrams within ${timeoutS} s on ${describeLocal(local)}`,
    );
  }, timeoutS * 1000);

  receiver.on('server', (s) => say(`server ${s.origin}${s.apiRoot}${s.service ? ` (DNS-SD ${s.service.instance})` : ''}`));
  receiver.on('mapped', (m) => say(`(${m.channel.source},${m.channel.group}) is carried as ${describeLocal(m.local)}`));
  receiver.on('switched', (from, to) => say(`re-mapped from ${describeLocal(from)} to ${describeLocal(to)}`));
  receiver.on('unassigned', (ch) => finish(1, `the server has no local channel for (${ch.source},${ch.group}) now (its pool is exhausted); try again later`));
  receiver.on('error', (err) => finish(1, `${receiver.server?.origin ?? 'server'}: ${err.message}`));
  receiver.on('status', (st) => {
    // Before the first answer, a failure to reach the server is the answer.
    if (!st.connected && st.lastError && !receiver.connected) finish(1, `server ${receiver.server?.origin ?? ''} unreachable: ${st.lastError}`);
  });
  receiver.on('message', () => {
    received++;
    if (received >= count) finish(0);
  });
  process.on('SIGINT', () => finish(1, `interrupted after ${received} of ${count} datagrams`));
  process.on('SIGTERM', () => finish(1, `terminated after ${received} of ${count} datagrams`));

  try {
    await receiver.open();
  } catch (err) {
    if (err instanceof DiscoveryError) finish(1, err.message);
    else if (err instanceof ReceiverConfigError) fail(2, err.message);
    else finish(1, (err as Error).message);
  }
}

void main(process.argv.slice(2));
