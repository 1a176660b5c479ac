// Bench helper: a LAN host that joins several (S,G) at once (one socket each,
// bound to the group) on a "join" command and reports, per channel, the time
// of its join and of the first datagram, in this host's clock.
//   node --import ./build/ts-loader.mjs bench/system-receiver.ts --source S --group G1 --group G2 ... --interface eth0
// stdin: "join [G]" (all groups, or one) -> {"event":"joined","at":ms}; then per channel
//        {"event":"first","group":G,"t":ms}; "leave [G]" drops memberships; "exit".
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { emit, fail, interfaceAddress } from '../lab/traffic/args.ts';

const argv = process.argv.slice(2);
let source: string | undefined;
let dev: string | undefined;
const groups: string[] = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = argv[++i];
  if (v === undefined) fail(`${a} needs a value`);
  if (a === '--source') source = v;
  else if (a === '--group') groups.push(v);
  else if (a === '--interface') dev = v;
  else fail(`unknown argument "${a}"`);
}
if (!source || groups.length === 0 || !dev) fail('usage: system-receiver.ts --source S --group G [--group G ...] --interface DEV');
const iface = await interfaceAddress(dev, 4);
const sockets: Array<{ group: string; sock: Socket; first: number | null }> = [];
for (const group of groups) {
  const sock = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: group, port: 5000 }, () => resolve());
  }).catch((e: Error) => fail(`bind ${group}: ${e.message}`));
  const entry = { group, sock, first: null as number | null };
  sock.on('message', (_msg, rinfo) => {
    if (entry.first !== null) return;
    entry.first = Date.now();
    emit('first', { group, source: rinfo.address });
  });
  sockets.push(entry);
}
emit('ready', { groups: groups.length });
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, group] = line.trim().split(/\s+/);
  const chosen = group ? sockets.filter((s) => s.group === group) : sockets;
  if (group && chosen.length === 0) return emit('error', { message: `not a configured group: ${group}` });
  if (cmd === 'join') {
    const t = Date.now();
    for (const s of chosen) {
      s.first = null;
      s.sock.addSourceSpecificMembership(source!, s.group, iface);
    }
    emit('joined', { at: t, group: group ?? null });
  } else if (cmd === 'leave') {
    for (const s of chosen) s.sock.dropSourceSpecificMembership(source!, s.group, iface);
    emit('left', { group: group ?? null });
  } else if (cmd === 'exit') {
    process.exit(0);
  }
});
