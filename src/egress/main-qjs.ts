// mnat-egress on QuickJS (the router: /usr/bin/qjs): curl transport,
// smcroutectl joins. Same flags and behaviour as the Node entry.
import * as std from 'std';
import { createSmcrouteJoiner } from '../dataplane/upstream-join-smcroute.ts';
import { createQuickjsHost } from '../host/quickjs-host.ts';
import { openMosquittoSub } from '../agent/mqtt-sub.ts';
import { runEgress } from './run.ts';

declare const scriptArgs: string[];

void runEgress({
  argv: scriptArgs.slice(1),
  createHost: (minLevel) => createQuickjsHost('mnat-egress', minLevel),
  print: (text) => {
    std.out.puts(text);
    std.out.flush();
  },
  printError: (line) => {
    std.err.puts(line + '\n');
    std.err.flush();
  },
  defaultJoinBackend: 'smcroute',
  createJoiner: (host, s) => createSmcrouteJoiner(host, s.smcrouteSocket !== undefined ? { socketPath: s.smcrouteSocket } : {}),
  openMqtt: openMosquittoSub,
});
