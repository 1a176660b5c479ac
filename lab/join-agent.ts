// Runs an UpstreamJoiner inside a lab namespace and drives it from stdin, one
// JSON command per line; answers one JSON line per command:
//   {"op":"join"|"leave","source":S,"group":G,"device":D}  {"op":"joined"}  {"op":"close"}
//   -> {"event":"done","op":…,"n":<command number>,"joined":[…]} or {"event":"error","op":…,"n":…,"message":…}
// usage: join-agent.ts --backend socket|smcroute [--smcroute-socket PATH]
import { createInterface } from 'node:readline';
import { createNodeHost, createStderrLogger } from '../src/host/node-host.ts';
import { createSocketJoiner } from '../src/dataplane/upstream-join-socket.ts';
import { createSmcrouteJoiner } from '../src/dataplane/upstream-join-smcroute.ts';
import type { UpstreamJoiner } from '../src/dataplane/upstream-join.ts';
import { emit, fail, parseFlags } from './traffic/args.ts';

const USAGE = 'usage: join-agent.ts --backend socket|smcroute [--smcroute-socket PATH]';
const flags = parseFlags(process.argv.slice(2), { backend: 'value', 'smcroute-socket': 'value' }, USAGE);
const log = createStderrLogger('join-agent', 'info');
const backend = flags.get('backend') ?? 'socket';
let joiner: UpstreamJoiner;
if (backend === 'socket') joiner = createSocketJoiner(log);
else if (backend === 'smcroute') {
  const socketPath = flags.get('smcroute-socket');
  joiner = createSmcrouteJoiner(createNodeHost(log), socketPath ? { socketPath } : {});
} else fail(`--backend must be socket or smcroute, got "${backend}"`, USAGE);

let n = 0;
let chain: Promise<void> = Promise.resolve();
emit('ready', { backend });
createInterface({ input: process.stdin }).on('line', (line) => {
  const id = ++n;
  chain = chain.then(async () => {
    let cmd: { op?: string; source?: string; group?: string; device?: string; channels?: Array<{ source: string; group: string }> };
    try {
      cmd = JSON.parse(line) as typeof cmd;
      const ch = { source: cmd.source ?? '', group: cmd.group ?? '' };
      if (cmd.op === 'join') await joiner.join(ch, cmd.device ?? '');
      else if (cmd.op === 'leave') await joiner.leave(ch, cmd.device ?? '');
      else if (cmd.op === 'close') await joiner.close();
      else if (cmd.op === 'joinMany') {
        if (!joiner.joinMany) throw new Error('this backend has no joinMany');
        const errors = await joiner.joinMany((cmd.channels ?? []).map((channel) => ({ channel, device: cmd.device ?? '' })));
        const failed = errors.filter((e) => e !== null);
        if (failed.length > 0) throw new Error(failed.map((e) => e.message).join('; '));
      }
      else if (cmd.op !== 'joined') throw new Error(`unknown op ${String(cmd.op)}`);
      emit('done', { op: cmd.op, n: id, joined: joiner.joined() });
    } catch (e) {
      emit('error', { n: id, message: (e as Error).message });
    }
  });
});
process.on('SIGTERM', () => {
  void joiner.close().finally(() => process.exit(0));
});
