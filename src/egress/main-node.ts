// mnat-egress on Node (development, labs): node:http2 transport, socket joins
// by default (smcroute with --join-backend smcroute).
import { createSmcrouteJoiner } from '../dataplane/upstream-join-smcroute.ts';
import { createSocketJoiner } from '../dataplane/upstream-join-socket.ts';
import { createNodeHost, createStderrLogger } from '../host/node-host.ts';
import { runEgress } from './run.ts';
import { openMqttJsLink } from '../agent/mqtt-node-link.ts';

void runEgress({
  argv: process.argv.slice(2),
  createHost: (minLevel) => createNodeHost(createStderrLogger('mnat-egress', minLevel)),
  print: (text) => process.stdout.write(text),
  printError: (line) => process.stderr.write(line + '\n'),
  defaultJoinBackend: 'socket',
  createJoiner: (host, s) =>
    s.joinBackend === 'socket'
      ? createSocketJoiner(host.log)
      : createSmcrouteJoiner(host, s.smcrouteSocket !== undefined ? { socketPath: s.smcrouteSocket } : {}),
  openMqtt: (_host, broker, files, events) => openMqttJsLink(broker, files, events, 'mnat-egress'),
});
