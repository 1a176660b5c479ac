// mnat-egress settings: command-line flags over an optional UCI file (the
// file is read again on SIGHUP; the flags stay). Every problem is one
// CliError line naming the flag or the file option, for exit status 2.
import { CliError, formatUsage, parseArgs, type FlagSpec, type ParsedArgs } from '../../core/cli-args.ts';
import { serverOrigin } from '../../core/server-origin.ts';
import { parseLogLevel } from '../../host/log-format.ts';
import type { HttpTarget, LogLevel } from '../../host/host.ts';
import { parseMqttUrl, type MqttBroker } from '../../protocol/mqtt-mapping.ts';

export type MembershipMode = 'mdb' | 'file' | 'both';
export type JoinBackend = 'socket' | 'smcroute';

export interface EgressSettings {
  /** WAN device that receives (Sl,Gl); the translator and the joins live here. */
  readonly upstream: string;
  /** LAN bridge: where translated (Sg,Gg) goes and whose snooping table says who joined. */
  readonly downstream: string;
  readonly target: HttpTarget;
  readonly apiRoot: string;
  readonly push: boolean;
  /** Mappings from this MQTT broker (docs/mqtt.md), with the server connection's TLS files; null: by RESTCONF. */
  readonly mqtt: (MqttBroker & { readonly url: string }) | null;
  readonly membership: MembershipMode;
  readonly controlFile: string | null;
  readonly joinBackend: JoinBackend;
  /** smcrouted's IPC socket for the smcroute backend (default: smcroutectl's own). */
  readonly smcrouteSocket: string | undefined;
  readonly maxChannels: number;
  /** Make the downstream bridge snoop with IGMPv3/MLDv2 and be querier. */
  readonly bridgeSetup: boolean;
  readonly statusFile: string;
  readonly bpfObject: string | undefined;
  readonly pinRoot: string | undefined;
  readonly instance: string;
  readonly logLevel: LogLevel;
}

/** What a config file (UCI `config egress`) may set; flags win over it. */
export interface EgressFileSettings {
  readonly enabled?: boolean;
  /** "https://host:port", "http://host:port" or a bare host. */
  readonly server?: string;
  readonly port?: number;
  readonly cacert?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecure?: boolean;
  readonly upstream?: string;
  readonly downstream?: string;
  readonly membership?: string;
  readonly controlFile?: string;
  readonly joinBackend?: string;
  readonly maxChannels?: number;
  readonly logLevel?: string;
  readonly statusFile?: string;
  readonly apiRoot?: string;
  readonly mqtt?: string;
}

export const DEFAULT_STATUS_FILE = '/var/run/mnat/egress.json';
export const DEFAULT_MAX_CHANNELS = 64;

// [name, placeholder, help] rows: a table, not 23 object literals (bundle size).
// The placeholder gives the kind: none for a boolean, N for a number.
const FLAG_ROWS: ReadonlyArray<readonly [string, string, string]> = [
  ['upstream-interface', 'IF', 'WAN device that receives the local (Sl,Gl) traffic; joins are made here'],
  ['downstream-interface', 'IF', 'LAN bridge: translated traffic goes here, its snooping table says who joined'],
  ['server', 'HOST|URL', 'mnat-server host[:port], https://host:port or dns-sd; a region\'s front ends: comma-separated'],
  ['port', 'N', 'mnat-server port (default 8443)'],
  ['cacert', 'FILE', 'CA certificate(s) to verify the server with (PEM)'],
  ['cert', 'FILE', 'client certificate for mutual TLS (PEM)'],
  ['key', 'FILE', 'client private key (PEM)'],
  ['insecure', '', 'plaintext HTTP/2 (h2c) to the server, for labs only'],
  ['api-root', 'PATH', 'RESTCONF API root on the server (default /restconf)'],
  ['no-push', '', 'do not use the push stream, long-poll instead'],
  ['mqtt', 'URL', 'mappings from an MQTT broker, mqtt[s]://host[:port][/root]'],
  ['control-file', 'FILE', '"source,group" lines to join, watched for changes'],
  ['membership', 'mdb|file|both', 'where joins come from (default mdb, or file with --control-file)'],
  ['join-backend', 'socket|smcroute', 'how to join upstream (default socket on Node, smcroute on QuickJS)'],
  ['smcroute-socket', 'FILE', "smcrouted's IPC socket for the smcroute backend"],
  ['max-channels', 'N', `most channels to carry at once (default ${DEFAULT_MAX_CHANNELS})`],
  ['no-bridge-setup', '', 'leave the downstream bridge settings alone'],
  ['uci', 'FILE', 'UCI config file (e.g. /etc/config/mnat); re-read on SIGHUP, flags win'],
  ['status-file', 'FILE', `status JSON (default ${DEFAULT_STATUS_FILE})`],
  ['bpf-object', 'FILE', 'translator BPF object'],
  ['pin-root', 'DIR', 'bpffs directory for the translator pins (default /sys/fs/bpf/mnat)'],
  ['instance', 'NAME', 'translator instance name, unique per host (default egress-<upstream>)'],
  ['log-level', 'LEVEL', 'debug, info, warn or error (default info)'],
];

export const EGRESS_FLAGS: readonly FlagSpec[] = FLAG_ROWS.map(([name, value, help]) => ({
  name,
  kind: value === '' ? 'boolean' : value === 'N' ? 'number' : 'string',
  help,
  ...(value ? { value } : {}),
  // Ranges are checked again in resolveEgressSettings (they also apply to UCI values).
  ...(name === 'port' ? { min: 1, max: 65535 } : name === 'max-channels' ? { min: 0, max: 4096 } : {}),
}));

export function egressUsage(): string {
  return (
    formatUsage(
      'mnat-egress',
      'Learns the LAN\'s source-specific joins (IGMPv3/MLDv2 snooping or a control file), reports them to the\n' +
        'MNAT server, joins the assigned local channels on the WAN and translates them back to the global\n' +
        'channels onto the LAN with a tc/eBPF translator.\n\n' +
        '  mnat-egress status [--status-file FILE]   print the running agent\'s status\n' +
        '  mnat-egress cleanup [FLAGS]               remove what a killed agent left',
      EGRESS_FLAGS,
    )
  );
}

const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

function checkInterface(where: string, name: string): string {
  if (!IFNAME.test(name)) throw new CliError(`${where}: "${name}" is not a valid interface name (1-15 characters, no / or spaces)`);
  return name;
}

export type ParsedEgressArgs =
  | { readonly command: 'help' }
  | { readonly command: 'status'; readonly statusFile: string }
  | { readonly command: 'run' | 'cleanup'; readonly args: ParsedArgs; readonly uciFile: string | null };

/** First pass over argv: which command, and the UCI file to read before resolve(). */
export function parseEgressArgs(argv: readonly string[]): ParsedEgressArgs {
  const args = parseArgs(argv, EGRESS_FLAGS);
  if (args.help) return { command: 'help' };
  const [first, ...rest] = args.positionals;
  if (first === 'status') {
    if (rest.length > 0) throw new CliError(`unexpected argument "${rest[0]}" after status`);
    return { command: 'status', statusFile: args.string('status-file') ?? DEFAULT_STATUS_FILE };
  }
  if (first !== undefined && (first !== 'cleanup' || rest.length > 0)) throw new CliError(`unexpected argument "${rest[0] ?? first}" (the subcommands are status and cleanup; see --help)`);
  return { command: first ?? 'run', args, uciFile: args.string('uci') ?? null };
}

/**
 * Flags over file settings → settings. `fileName` names the file in errors
 * about its values ("/etc/config/mnat: option upstream …").
 */
export function resolveEgressSettings(
  args: ParsedArgs,
  file: EgressFileSettings | null,
  defaults: { joinBackend: JoinBackend },
  fileName = 'config',
): EgressSettings {
  const f = file ?? {};
  const pick = <T>(flag: T | undefined, fromFile: T | undefined, option: string, uciOption: string): { value: T | undefined; where: string } =>
    flag !== undefined ? { value: flag, where: `--${option}` } : { value: fromFile, where: `${fileName}: option ${uciOption}` };

  const up = pick(args.string('upstream-interface'), f.upstream, 'upstream-interface', 'upstream');
  if (!up.value) throw new CliError('--upstream-interface is required (the WAN device that receives the local channels), or option upstream in the UCI file');
  checkInterface(up.where, up.value);
  const down = pick(args.string('downstream-interface'), f.downstream, 'downstream-interface', 'downstream');
  if (!down.value) throw new CliError('--downstream-interface is required (the LAN bridge), or option downstream in the UCI file');
  checkInterface(down.where, down.value);
  if (up.value === down.value) throw new CliError(`${down.where}: ${down.value} is also the upstream interface`);

  const server = pick(args.string('server'), f.server, 'server', 'server');
  // cleanup only removes what a killed agent left: it needs no server.
  const cleanup = args.positionals[0] === 'cleanup';
  if (!server.value && !cleanup) throw new CliError('--server is required (the mnat-server host or URL), or option server in the UCI file');
  const insecure = args.has('insecure') ? args.boolean('insecure') : (f.insecure ?? false);
  const cacert = args.string('cacert') ?? f.cacert;
  const cert = args.string('cert') ?? f.cert;
  const key = args.string('key') ?? f.key;
  if (insecure && (cacert || cert || key)) throw new CliError('--insecure is plaintext: it cannot be combined with cacert, cert or key');
  if (key && !cert) throw new CliError('a client key needs a client certificate (--cert)');
  if (cert && !key) throw new CliError('a client certificate needs its key (--key)');
  // dns-sd: run.ts finds the origin by DNS-SD before the agent starts; a list: the client fails over.
  const origin = !server.value ? '' : server.value === 'dns-sd'
    ? (insecure ? 'http:dns-sd' : 'dns-sd')
    : server.value.split(',').map((one) => serverOrigin(server.where, one, args.number('port') ?? f.port, insecure)).join(',');
  const target: HttpTarget = {
    origin,
    ...(cacert ? { caFile: cacert } : {}),
    ...(cert ? { certFile: cert } : {}),
    ...(key ? { keyFile: key } : {}),
  };

  const controlFile = args.string('control-file') ?? f.controlFile ?? null;
  if (controlFile !== null && (controlFile === '' || controlFile.endsWith('/'))) throw new CliError(`--control-file: "${controlFile}" is not a file path`);
  const mode = pick(args.string('membership'), f.membership, 'membership', 'membership');
  const membership = (mode.value ?? (controlFile ? 'file' : 'mdb')) as string;
  if (membership !== 'mdb' && membership !== 'file' && membership !== 'both') {
    throw new CliError(`${mode.where}: "${membership}" is not mdb, file or both`);
  }
  if (membership !== 'mdb' && controlFile === null) throw new CliError(`${mode.where}: ${membership} needs a control file (--control-file)`);

  const backend = pick(args.string('join-backend'), f.joinBackend, 'join-backend', 'join_backend');
  const joinBackend = backend.value ?? defaults.joinBackend;
  if (joinBackend !== 'socket' && joinBackend !== 'smcroute') throw new CliError(`${backend.where}: "${joinBackend}" is not socket or smcroute`);

  const maxChannels = args.number('max-channels') ?? f.maxChannels ?? DEFAULT_MAX_CHANNELS;
  if (!Number.isInteger(maxChannels) || maxChannels < 0 || maxChannels > 4096) {
    throw new CliError(`${fileName}: option max_channels: ${maxChannels} is not a whole number from 0 to 4096`);
  }
  const level = pick(args.string('log-level'), f.logLevel, 'log-level', 'log_level');
  const logLevel = parseLogLevel(level.value ?? 'info');
  if (logLevel === null) throw new CliError(`${level.where}: "${level.value}" is not debug, info, warn or error`);
  const apiRoot = args.string('api-root') ?? f.apiRoot ?? '/restconf';
  if (!apiRoot.startsWith('/')) throw new CliError(`--api-root: "${apiRoot}" must start with /`);
  const mq = pick(args.string('mqtt'), f.mqtt, 'mqtt', 'mqtt');
  let mqtt: EgressSettings['mqtt'] = null;
  try {
    if (mq.value) mqtt = { ...parseMqttUrl(mq.value), url: mq.value };
  } catch (err) {
    throw new CliError(`${mq.where}: ${(err as Error).message}`);
  }
  const instance = args.string('instance') ?? `egress-${up.value}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(instance)) throw new CliError(`--instance: "${instance}" may use only letters, digits, _ . -`);

  return {
    upstream: up.value,
    downstream: down.value,
    target,
    apiRoot,
    push: !args.boolean('no-push'),
    mqtt,
    membership,
    controlFile,
    joinBackend,
    smcrouteSocket: args.string('smcroute-socket'),
    maxChannels,
    bridgeSetup: !args.boolean('no-bridge-setup'),
    statusFile: args.string('status-file') ?? f.statusFile ?? DEFAULT_STATUS_FILE,
    bpfObject: args.string('bpf-object'),
    pinRoot: args.string('pin-root'),
    instance,
    logLevel,
  };
}
