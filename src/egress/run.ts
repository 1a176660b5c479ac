// The mnat-egress command, shared by the Node and QuickJS entry points: flags
// and UCI → settings (one clear line and exit 2 when wrong), `status`, the
// agent, and the signals (SIGHUP reload, SIGTERM/SIGINT clean stop, exit 0).
import { CliError, type ParsedArgs } from '../core/cli-args.ts';
import { readEgressUci } from './config/egress-uci.ts';
import {
  egressUsage,
  parseEgressArgs,
  resolveEgressSettings,
  type EgressFileSettings,
  type EgressSettings,
  type JoinBackend,
} from './config/egress-options.ts';
import { formatEgressStatus, type EgressStatus } from './egress-status.ts';
import { serverTransport } from '../client/failover-transport.ts';
import { createWatcherClient, EGRESS_ROLE, type WatcherClient } from '../client/watcher-client.ts';
import { createMqttFeed, EGRESS_MQTT, type MappingLink, type MappingLinkEvents } from '../agent/mqtt-feed.ts';
import type { MqttFiles } from '../agent/mqtt-sub.ts';
import type { MqttBroker } from '../protocol/mqtt-mapping.ts';
import { createTranslator } from '../dataplane/translator.ts';
import { checkPrerequisites } from '../agent/preflight.ts';
import type { Host, HttpTransport, LogLevel } from '../host/host.ts';
import { createEgressAgent } from './egress-agent.ts';
import { cleanUpAfterEgress } from './cleanup.ts';
import type { AssignmentFeed, Joiner } from '../agent/ports.ts';
import type { Channel } from '../core/channel.ts';
import { createLevelLogger } from '../host/level-log.ts';
import { discoverWithBusybox } from '../core/dns-sd-busybox.ts';
import { serviceOrigins, type MnatService } from '../core/dns-sd.ts';
import { createBackoff } from '../core/backoff.ts';
import { processRuns } from '../host/process-runs.ts';

/** Without a server answering for this long, a DNS-SD egress looks the service up again (as the receiver library does). */
const REDISCOVER_AFTER_MS = 30_000;

/** Settings whose server list came from DNS-SD: in SRV order, and looked up again when no server answers. */
const discovered = new WeakSet<EgressSettings>();

/** https, or http (plaintext h2c): "dns-sd" / "http:dns-sd" (--insecure) before discovery, the origins' own after it. */
const schemeOf = (s: EgressSettings): 'http' | 'https' => (s.target.origin === 'dns-sd' || s.target.origin.startsWith('https:') ? 'https' : 'http');

/** The SRV targets of the service as origins. */
async function discoverOrigins(host: Host, scheme: 'http' | 'https'): Promise<{ origins: string[]; found: MnatService }> {
  const found = await discoverWithBusybox(host);
  return { origins: serviceOrigins(found, scheme), found };
}

/** --server dns-sd: the servers and API root from DNS-SD (BusyBox nslookup), retried with backoff until found. */
async function withServer(host: Host, s: EgressSettings, apiRootGiven: boolean): Promise<EgressSettings> {
  if (!s.target.origin.endsWith('dns-sd')) return s;
  const backoff = createBackoff({ initialMs: 2000, maxMs: 60_000 });
  for (;;) {
    try {
      const { origins, found } = await discoverOrigins(host, schemeOf(s));
      const origin = origins.join(',');
      host.log.info('DNS-SD', { origin, instance: found.instance });
      const next = { ...s, target: { ...s.target, origin }, apiRoot: apiRootGiven ? s.apiRoot : found.apiRoot };
      discovered.add(next);
      return next;
    } catch (err) {
      host.log.warn('DNS-SD', { error: (err as Error).message });
      await new Promise((r) => host.setTimeout(() => r(0), backoff.next()));
    }
  }
}

/** The region's servers behind one transport; a discovered list is tried in order and looked up again. */
function transportFor(host: Host, s: EgressSettings, onChanged: () => void): HttpTransport {
  if (!discovered.has(s)) return serverTransport(host, s.target);
  const scheme = schemeOf(s);
  return serverTransport(host, s.target, {
    inOrder: true,
    rediscover: { afterMs: REDISCOVER_AFTER_MS, lookup: async () => (await discoverOrigins(host, scheme)).origins },
    onChanged,
  });
}

export interface EgressRuntime {
  readonly argv: readonly string[];
  /** A host whose logger passes everything from minLevel up (the agent filters further). */
  createHost(minLevel: LogLevel): Host;
  print(text: string): void;
  printError(line: string): void;
  readonly defaultJoinBackend: JoinBackend;
  createJoiner(host: Host, settings: EgressSettings): Joiner;
  /** The MQTT broker link: mosquitto_sub on QuickJS, MQTT.js on Node. */
  openMqtt(host: Host, broker: MqttBroker, files: MqttFiles, events: MappingLinkEvents): MappingLink;
}

class UsageError extends Error {}

function readFileSettings(host: Host, file: string | null): { settings: EgressFileSettings | null; enabled: boolean; warnings: readonly string[] } {
  if (file === null) return { settings: null, enabled: true, warnings: [] };
  const text = host.readFile(file);
  if (text === null) throw new UsageError(`--uci: cannot read ${file} (does it exist and is it readable?)`);
  try {
    return readEgressUci(text, file);
  } catch (err) {
    // UciError and EgressConfigError both say file:line and what to write.
    throw new UsageError((err as Error).message);
  }
}

function checkFiles(host: Host, s: EgressSettings): void {
  const files: Array<[string, string | undefined]> = [
    ['cacert', s.target.caFile],
    ['cert', s.target.certFile],
    ['key', s.target.keyFile],
    ['bpf-object', s.bpfObject],
  ];
  for (const [what, path] of files) {
    if (path !== undefined && !host.fileExists(path)) throw new UsageError(`${what}: ${path} does not exist`);
  }
}

function settingsFrom(host: Host, rt: EgressRuntime, args: ParsedArgs, uciFile: string | null): { settings: EgressSettings; enabled: boolean; warnings: readonly string[] } {
  const file = readFileSettings(host, uciFile);
  let settings: EgressSettings;
  try {
    settings = resolveEgressSettings(args, file.settings, { joinBackend: rt.defaultJoinBackend }, uciFile ?? 'config');
  } catch (err) {
    if (err instanceof CliError) throw new UsageError(err.message);
    throw err;
  }
  if (settings.joinBackend === 'socket' && host.runtime === 'quickjs') {
    throw new UsageError('join backend socket needs Node (QuickJS has no sockets); use --join-backend smcroute');
  }
  checkFiles(host, settings);
  return { settings, enabled: file.enabled, warnings: file.warnings };
}

/** Runs the command; resolves once the agent is running (the event loop keeps the process alive). */
export async function runEgress(rt: EgressRuntime): Promise<void> {
  const fail = (line: string): never => {
    rt.printError(`mnat-egress: ${line}`);
    const h = rt.createHost('error');
    return h.exit(2);
  };
  let parsed;
  try {
    parsed = parseEgressArgs(rt.argv);
  } catch (err) {
    if (err instanceof CliError) return fail(err.message);
    throw err;
  }
  if (parsed.command === 'help') {
    rt.print(egressUsage());
    rt.createHost('error').exit(0);
    return;
  }
  if (parsed.command === 'status') {
    const host = rt.createHost('error');
    const text = host.readFile(parsed.statusFile);
    if (text === null) {
      rt.printError(`mnat-egress status: no status file ${parsed.statusFile}; is mnat-egress running? (--status-file names another)`);
      host.exit(1);
      return;
    }
    let status: EgressStatus;
    try {
      status = JSON.parse(text) as EgressStatus;
    } catch {
      rt.printError(`mnat-egress status: ${parsed.statusFile} is not a status file (not JSON)`);
      host.exit(1);
      return;
    }
    rt.print(formatEgressStatus(status, host.wallClock()));
    // A killed agent (kill -9, OOM) leaves its last status behind, looking current.
    const gone = status.pid && !processRuns(host, status.pid);
    if (gone) rt.printError(`mnat-egress status: NOT RUNNING: pid ${status.pid} is gone; the above is its last status. \`mnat-egress cleanup\` removes what it left`);
    host.exit(gone ? 1 : 0);
    return;
  }

  const base = rt.createHost('debug');
  const { args, uciFile } = parsed;
  let first;
  try {
    first = settingsFrom(base, rt, args, uciFile);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message);
    throw err;
  }
  const log = createLevelLogger(base.log, first.settings.logLevel);
  const host: Host = { ...base, log };
  for (const w of first.warnings) log.warn(w);
  if (!first.enabled && parsed.command === 'run') {
    log.info('disabled in the configuration (option enabled 0); nothing to do', { file: uciFile ?? undefined });
    host.exit(0);
    return;
  }
  const given = first.settings;
  const translator = createTranslator(host, { objectPath: given.bpfObject, pinRoot: given.pinRoot, instance: given.instance });
  if (parsed.command === 'cleanup') return host.exit((await cleanUpAfterEgress(host, translator, rt.createJoiner(host, given), given)) ? 0 : 1);
  const needs = { ip: true, bridge: given.membership !== 'file', curl: host.runtime === 'quickjs', smcroute: given.joinBackend === 'smcroute' };
  if (!(await checkPrerequisites(host, translator, needs, (l) => rt.printError(`mnat-egress: ${l}`)))) return host.exit(1);
  // The prerequisites first: discovery retries until it finds the service.
  const apiRootGiven = args.has('api-root') || given.apiRoot !== '/restconf';
  const settings = await withServer(host, given, apiRootGiven);
  const joiner = rt.createJoiner(host, settings);
  // Stopping the feed withdraws our joins, so the server releases the mappings
  // now rather than when the watcher expires (the ingress stops sending sooner).
  // With MQTT the mappings come from the broker; the watcher client follows
  // the server itself only while the broker cannot be reached.
  const createFeed = (s: EgressSettings): AssignmentFeed<Channel> => {
    const mqtt = s.mqtt;
    // A new DNS-SD list: the client tries it now instead of after its backoff.
    const watcher: WatcherClient<Channel> = createWatcherClient({ host, transport: transportFor(host, s, () => watcher.retryNow()), role: EGRESS_ROLE, apiRoot: s.apiRoot, push: s.push, withdraw: true, closeTransport: true, follow: !mqtt });
    if (!mqtt) return watcher;
    return createMqttFeed({ host, watcher, broker: mqtt, url: mqtt.url, role: EGRESS_MQTT, open: (events) => rt.openMqtt(host, mqtt, s.target, events) });
  };
  const agent = createEgressAgent({ host, log, settings, createFeed, translator, joiner });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    agent.stop().then(
      (clean) => host.exit(clean ? 0 : 1),
      (err: Error) => {
        log.error('stop failed', { error: err.message });
        host.exit(1);
      },
    );
  };
  host.onSignal('SIGTERM', () => stop('SIGTERM'));
  host.onSignal('SIGINT', () => stop('SIGINT'));
  let reloading = Promise.resolve();
  host.onSignal('SIGHUP', () => {
    if (stopping) return;
    reloading = reloading.then(async () => {
      let next;
      try {
        next = settingsFrom(base, rt, args, uciFile);
      } catch (err) {
        log.error('reload rejected; the running configuration stays', { error: (err as Error).message });
        return;
      }
      for (const w of next.warnings) log.warn(w);
      if (!next.enabled) {
        log.info('disabled by reload (option enabled 0)');
        stop('SIGHUP');
        return;
      }
      if (next.settings.instance !== settings.instance || next.settings.pinRoot !== settings.pinRoot || next.settings.bpfObject !== settings.bpfObject) {
        log.warn('translator instance, pin root or BPF object changes need a restart; keeping the current ones');
      }
      await agent.reload(await withServer(host, next.settings, apiRootGiven));
    });
  });

  try {
    await agent.start();
  } catch (err) {
    log.error('start failed', { error: (err as Error).message });
    await agent.stop().catch(() => undefined);
    host.exit(1);
  }
}
