// mnat-ingress command-line flags: parsed strictly (cli-args), validated into
// one options object, every problem reported as one line naming the flag.
import { parseLogLevel } from '../host/log-format.ts';
import { CliError, formatUsage, parseArgs, type FlagSpec } from '../core/cli-args.ts';
import { serverOrigin } from '../core/server-origin.ts';
import { parseMonitors } from './ingress-reconcile.ts';
import { formatPrefix } from '../core/address.ts';
import type { HttpTarget, LogLevel } from '../host/host.ts';
import { parseMqttUrl, type MqttBroker } from '../protocol/mqtt-mapping.ts';

export interface IngressOptions {
  readonly upstreamInterface: string;
  readonly downstreamInterfaces: string[];
  readonly target: HttpTarget;
  readonly apiRoot: string;
  readonly push: boolean;
  /** Mappings from this MQTT broker (docs/mqtt.md), with --cacert/--cert/--key; null: by RESTCONF. */
  readonly mqtt: (MqttBroker & { readonly url: string }) | null;
  /** Seconds a re-mapped channel stays on its old local channel (make-before-break); 0: move at once. */
  readonly remapDelayS: number;
  readonly joinfile: string | null;
  readonly joinfileRefreshS: number;
  /** Canonical prefix text. */
  readonly monitors: string[];
  readonly join: boolean;
  readonly joinBackend: 'socket' | 'smcroute';
  readonly smcrouteSocket: string | undefined;
  readonly bpfObject: string | undefined;
  readonly pinRoot: string | undefined;
  readonly instance: string;
  readonly logLevel: LogLevel;
  readonly statusFile: string;
}

export const DEFAULT_STATUS_FILE = '/var/run/mnat/ingress.json';

export const INGRESS_FLAGS: readonly FlagSpec[] = [
  { name: 'upstream-interface', kind: 'string', value: 'IF', help: 'interface that receives the global (Sg,Gg) traffic; joins are made here' },
  { name: 'downstream-interface', kind: 'list', value: 'IF', help: 'interface to send translated (Sl,Gl) traffic to (up to 4)' },
  { name: 'server', kind: 'string', value: 'HOST|URL', help: 'mnat-server host[:port] or https://host:port; a region\'s front ends: comma-separated' },
  { name: 'port', kind: 'number', value: 'N', default: 8443, min: 1, max: 65535, help: 'mnat-server port' },
  { name: 'cacert', kind: 'string', value: 'FILE', help: 'CA certificate(s) to verify the server with (PEM)' },
  { name: 'cert', kind: 'string', value: 'FILE', help: 'client certificate for mutual TLS (PEM)' },
  { name: 'key', kind: 'string', value: 'FILE', help: 'client private key (PEM; default: in --cert)' },
  { name: 'insecure', kind: 'boolean', help: 'plaintext HTTP/2 (h2c) to the server, for labs only' },
  { name: 'api-root', kind: 'string', value: 'PATH', default: '/restconf', help: 'RESTCONF API root on the server' },
  { name: 'no-push', kind: 'boolean', help: 'do not use the push stream, long-poll instead' },
  { name: 'mqtt', kind: 'string', value: 'URL', help: 'mappings from this MQTT broker, mqtt://host[:port][/root] or mqtts://… (with --cacert, --cert, --key); RESTCONF push while it is unreachable' },
  { name: 'remap-delay', kind: 'number', value: 'S', default: 2, min: 0, max: 60, help: 'keep sending a re-mapped channel on its old local channel this long, so the egresses join the new one first (0: move at once)' },
  { name: 'joinfile', kind: 'string', value: 'FILE', help: 'write the joined global channels here ("source,group" lines) for an ingest manager' },
  { name: 'joinfile-refresh', kind: 'number', value: 'S', default: 30, min: 1, max: 86400, help: 'rewrite the joinfile at least this often, so a stale file means a dead ingress' },
  { name: 'monitor', kind: 'list', value: 'PREFIX', help: 'global source prefix to ingest (default 0.0.0.0/0 and ::/0)' },
  { name: 'no-join', kind: 'boolean', help: 'do not join upstream (an ingest manager reading --joinfile does)' },
  { name: 'join-backend', kind: 'string', value: 'socket|smcroute', default: 'socket', help: 'how to join upstream: a socket membership or smcroutectl' },
  { name: 'smcroute-socket', kind: 'string', value: 'FILE', help: "smcrouted's IPC socket for --join-backend smcroute (default: smcroutectl's)" },
  { name: 'bpf-object', kind: 'string', value: 'FILE', help: 'translator BPF object (default: dist/mnat-translator.bpf.o)' },
  { name: 'pin-root', kind: 'string', value: 'DIR', help: 'bpffs directory for the translator pins (default /sys/fs/bpf/mnat)' },
  { name: 'instance', kind: 'string', value: 'NAME', help: 'translator instance name, unique per host (default ingress-<upstream-interface>)' },
  { name: 'status-file', kind: 'string', value: 'FILE', default: DEFAULT_STATUS_FILE, help: 'status JSON, rewritten after every change; `mnat-ingress status` prints it' },
  { name: 'log-level', kind: 'string', value: 'LEVEL', default: 'info', help: 'debug, info, warn or error' },
];

export function ingressUsage(): string {
  return formatUsage(
    'mnat-ingress [status]',
    'Joins the global channels the MNAT server has assigned, and translates them (Sg,Gg)->(Sl,Gl)\n' +
      'into the local network with a tc/eBPF translator; optionally writes a joinfile for an ingest manager.',
    INGRESS_FLAGS,
  );
}

const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

function checkInterface(flag: string, name: string): string {
  if (!IFNAME.test(name)) throw new CliError(`--${flag}: "${name}" is not a valid interface name (1-15 characters, no / or spaces)`);
  return name;
}

/**
 * Parses argv (without node and script); `help` true means print usage and
 * exit 0; `status` prints the running ingress's status file. Throws CliError.
 */
export function parseIngressOptions(
  argv: readonly string[],
): { help: true } | { help: false; command: 'status'; statusFile: string } | { help: false; command?: undefined; options: IngressOptions } {
  const args = parseArgs(argv, INGRESS_FLAGS);
  if (args.help) return { help: true };
  if (args.positionals[0] === 'status' && args.positionals.length === 1) {
    return { help: false, command: 'status', statusFile: args.string('status-file') ?? DEFAULT_STATUS_FILE };
  }
  if (args.positionals.length > 0) throw new CliError(`unexpected argument "${args.positionals[0]}" (the only command is "status"; see --help)`);
  const upstream = args.string('upstream-interface');
  if (!upstream) throw new CliError('--upstream-interface is required (the interface that receives the global traffic)');
  checkInterface('upstream-interface', upstream);
  const downstream = [...args.list('downstream-interface')];
  if (downstream.length === 0) throw new CliError('--downstream-interface is required (where translated traffic goes)');
  if (downstream.length > 4) throw new CliError(`--downstream-interface given ${downstream.length} times; at most 4 outputs`);
  for (const d of downstream) checkInterface('downstream-interface', d);
  if (new Set(downstream).size !== downstream.length) throw new CliError('--downstream-interface: an interface is listed twice');
  if (downstream.includes(upstream)) throw new CliError(`--downstream-interface ${upstream} is also the upstream interface`);
  const server = args.string('server');
  if (!server) throw new CliError('--server is required (the mnat-server host)');
  const insecure = args.boolean('insecure');
  if (insecure && (args.has('cacert') || args.has('cert') || args.has('key'))) {
    throw new CliError('--insecure is plaintext: it cannot be combined with --cacert, --cert or --key');
  }
  if (args.has('key') && !args.has('cert')) throw new CliError('--key needs --cert');
  const target: HttpTarget = {
    origin: server.split(',').map((one) => serverOrigin('--server', one, args.number('port'), insecure)).join(','),
    ...(args.string('cacert') ? { caFile: args.string('cacert') } : {}),
    ...(args.string('cert') ? { certFile: args.string('cert') } : {}),
    ...(args.string('key') ? { keyFile: args.string('key') } : {}),
  };
  let monitors = [...args.list('monitor')];
  if (monitors.length === 0) monitors = ['0.0.0.0/0', '::/0'];
  try {
    monitors = [...new Set(parseMonitors(monitors).map(formatPrefix))];
  } catch (err) {
    throw new CliError(`--${(err as Error).message}`);
  }
  const join = !args.boolean('no-join');
  const joinfile = args.string('joinfile') ?? null;
  if (joinfile !== null && (joinfile === '' || joinfile.endsWith('/'))) throw new CliError(`--joinfile: "${joinfile}" is not a file path`);
  const backend = args.string('join-backend') ?? 'socket';
  if (backend !== 'socket' && backend !== 'smcroute') throw new CliError(`--join-backend: "${backend}" is not socket or smcroute`);
  if (args.has('smcroute-socket') && backend !== 'smcroute') throw new CliError('--smcroute-socket needs --join-backend smcroute');
  const level = parseLogLevel(args.string('log-level') ?? 'info');
  if (level === null) throw new CliError(`--log-level: "${args.string('log-level')}" is not debug, info, warn or error`);
  const instance = args.string('instance') ?? `ingress-${upstream}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(instance)) throw new CliError(`--instance: "${instance}" may use only letters, digits, _ . -`);
  let mqtt: IngressOptions['mqtt'] = null;
  const mqttUrl = args.string('mqtt');
  try {
    if (mqttUrl !== undefined) mqtt = { ...parseMqttUrl(mqttUrl), url: mqttUrl };
  } catch (err) {
    throw new CliError(`--mqtt: ${(err as Error).message}`);
  }
  const apiRoot = args.string('api-root') ?? '/restconf';
  if (!apiRoot.startsWith('/')) throw new CliError(`--api-root: "${apiRoot}" must start with /`);
  return {
    help: false,
    options: {
      upstreamInterface: upstream,
      downstreamInterfaces: downstream,
      target,
      apiRoot,
      push: !args.boolean('no-push'),
      mqtt,
      remapDelayS: args.number('remap-delay') ?? 2,
      joinfile,
      joinfileRefreshS: args.number('joinfile-refresh') ?? 30,
      monitors,
      join,
      joinBackend: backend,
      smcrouteSocket: args.string('smcroute-socket'),
      bpfObject: args.string('bpf-object'),
      pinRoot: args.string('pin-root'),
      instance,
      logLevel: level,
      statusFile: args.string('status-file') ?? DEFAULT_STATUS_FILE,
    },
  };
}
