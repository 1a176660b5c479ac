// mnat-ingress: the ingress agent's command (Node). Flags -> watcher client,
// translator, upstream joiner, joinfile -> IngressAgent. SIGTERM/SIGINT leave
// every join, detach the translator and write the joinfile empty.
import { existsSync, readFileSync } from 'node:fs';
import { CliError } from '../core/cli-args.ts';
import { formatIngressStatus, type IngressStatus } from './ingress-status.ts';
import { serverTransport } from '../client/failover-transport.ts';
import { createWatcherClient, INGRESS_ROLE } from '../client/watcher-client.ts';
import { createTranslator } from '../dataplane/translator.ts';
import { checkPrerequisites } from '../agent/preflight.ts';
import { listTranslatorRules, refreshTranslator } from '../dataplane/translator-upkeep.ts';
import { createSmcrouteJoiner } from '../dataplane/upstream-join-smcroute.ts';
import { createSocketJoiner } from '../dataplane/upstream-join-socket.ts';
import { createNodeHost, createStderrLogger } from '../host/node-host.ts';
import { createIngressAgent, type IngressRuleTable } from './ingress-agent.ts';
import { ingressUsage, parseIngressOptions, type IngressOptions } from './ingress-options.ts';
import { JoinfileWriter } from './joinfile-writer.ts';
import { createMqttFeed } from '../agent/mqtt-feed.ts';
import { openMqttJsLink } from '../agent/mqtt-node-link.ts';
import { INGRESS_MQTT } from './mqtt-monitors.ts';
import { delayRemaps } from '../agent/remap-delay.ts';
import { processRuns } from '../host/process-runs.ts';

function parse(): IngressOptions {
  try {
    const parsed = parseIngressOptions(process.argv.slice(2));
    if (parsed.help) {
      process.stdout.write(ingressUsage());
      process.exit(0);
    }
    if (parsed.command === 'status') printStatus(parsed.statusFile);
    return parsed.options;
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`mnat-ingress: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** `mnat-ingress status`: the running ingress's status file, for people. */
function printStatus(file: string): never {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    process.stderr.write(`mnat-ingress status: no status file ${file}; is mnat-ingress running? (--status-file names another)\n`);
    process.exit(1);
  }
  let status: IngressStatus;
  try {
    status = JSON.parse(text) as IngressStatus;
    process.stdout.write(formatIngressStatus(status, Date.now()));
  } catch {
    process.stderr.write(`mnat-ingress status: ${file} is not an ingress status file\n`);
    process.exit(1);
  }
  // A killed ingress (kill -9, OOM) leaves its last status behind, looking current.
  if (status.pid !== null && !processRuns({ fileExists: existsSync }, status.pid)) {
    process.stderr.write(`mnat-ingress status: NOT RUNNING: pid ${status.pid} is gone; the above is its last status (a new start removes what it left)\n`);
    process.exit(1);
  }
  process.exit(0);
}

async function main(): Promise<void> {
  const options = parse();
  const log = createStderrLogger('mnat-ingress', options.logLevel);
  const host = createNodeHost(log);
  let transport;
  try {
    transport = serverTransport(host, options.target);
  } catch (err) {
    process.stderr.write(`mnat-ingress: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // With --mqtt the mappings come from the broker; the watcher client keeps
  // the monitors on the server and follows it only while the broker is away.
  const mqtt = options.mqtt;
  const client = createWatcherClient({ host, transport, role: INGRESS_ROLE, apiRoot: options.apiRoot, push: options.push, follow: !mqtt });
  const mappings = mqtt
    ? createMqttFeed({ host, watcher: client, broker: mqtt, url: mqtt.url, role: INGRESS_MQTT, open: (events) => openMqttJsLink(mqtt, options.target, events, 'mnat-ingress') })
    : client;
  const feed = delayRemaps(host, mappings, options.remapDelayS * 1000);
  const kernel = createTranslator(host, {
    ...(options.bpfObject ? { objectPath: options.bpfObject } : {}),
    ...(options.pinRoot ? { pinRoot: options.pinRoot } : {}),
    instance: options.instance,
  });
  const needs = { smcroute: options.join && options.joinBackend === 'smcroute' };
  if (!(await checkPrerequisites(host, kernel, needs, (l) => process.stderr.write(`mnat-ingress: ${l}\n`)))) process.exit(1);
  // The translator programs the kernel; reading the rules back and following
  // recreated devices come from translator-upkeep.
  const translator: IngressRuleTable = { ...kernel, list: () => listTranslatorRules(kernel), refresh: () => refreshTranslator(kernel) };
  const joiner =
    options.joinBackend === 'smcroute'
      ? createSmcrouteJoiner(host, options.smcrouteSocket ? { socketPath: options.smcrouteSocket } : {})
      : createSocketJoiner(log);
  const joinfile = options.joinfile ? new JoinfileWriter({ host, path: options.joinfile, refreshS: options.joinfileRefreshS }) : null;
  const agent = createIngressAgent({
    host,
    config: {
      monitors: options.monitors,
      upstreamInterface: options.upstreamInterface,
      downstreamInterfaces: options.downstreamInterfaces,
      join: options.join,
    },
    feed,
    translator,
    joiner,
    joinfile,
    statusFile: options.statusFile,
    serverOrigin: options.target.origin,
    joinfilePath: options.joinfile,
  });

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    agent
      .stop()
      .then(() => {
        transport.close();
        log.info('stopped: upstream joins left, translator detached, joinfile emptied');
        process.exit(0);
      })
      .catch((err: Error) => {
        log.error('stopped with errors', { error: err.message });
        process.exit(1);
      });
  };
  host.onSignal('SIGTERM', () => shutdown('SIGTERM'));
  host.onSignal('SIGINT', () => shutdown('SIGINT'));
  // Not Node's default (end at once, translator and joins left behind): there is
  // nothing to read again but the TLS files, which each new connection reads.
  host.onSignal('SIGHUP', () => log.info('SIGHUP: the TLS files are read again at the next connection; other settings need a restart'));

  try {
    await agent.start();
  } catch (err) {
    log.error('cannot start', { error: (err as Error).message });
    await agent.stop().catch(() => undefined);
    process.stderr.write(`mnat-ingress: ${(err as Error).message}\n`);
    process.exit(1);
  }
  log.info('started', {
    upstream: options.upstreamInterface,
    downstream: options.downstreamInterfaces.join(','),
    server: options.target.origin,
    mqtt: mqtt?.url,
    monitors: options.monitors.join(','),
    join: options.join,
    joinfile: options.joinfile ?? undefined,
  });
}

void main();
