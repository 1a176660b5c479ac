// Bench helper: a global sender for many channels (S, base+i) from one socket,
// round-robin every interval, so any channel a host joins already carries
// traffic at the ingress's upstream interface (as real global streams would).
//   node --import ./build/ts-loader.mjs bench/system-sender.ts --source 23.212.185.4 --base 232.2.0.0 --count 60 --interval-ms 5 --interface eth0
import { createSocket } from 'node:dgram';
import { emit, fail, numberFlag, parseFlags } from '../lab/traffic/args.ts';
import { encodePayload } from '../lab/traffic/payload.ts';

const USAGE = 'usage: system-sender.ts --source S --base A.B.C.D --count N [--interval-ms MS] [--port P]';
const flags = parseFlags(process.argv.slice(2), { source: 'value', base: 'value', count: 'value', 'interval-ms': 'value', port: 'value', interface: 'value' }, USAGE);
const source = flags.get('source') ?? fail('--source is required', USAGE);
const base = (flags.get('base') ?? fail('--base is required', USAGE)).split('.').map(Number);
if (base.length !== 4 || base.some((o) => !(o >= 0 && o <= 255))) fail(`--base "${flags.get('base')}" is not an IPv4 address`);
const count = numberFlag(flags, 'count', 1, 1)!;
const intervalMs = numberFlag(flags, 'interval-ms', 5, 1)!;
const port = numberFlag(flags, 'port', 5000, 1)!;
const start = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) >>> 0;
const groups = Array.from({ length: count }, (_, i) => {
  const n = (start + i) >>> 0;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
});
const sock = createSocket({ type: 'udp4' });
await new Promise<void>((resolve, reject) => {
  sock.once('error', reject);
  sock.bind({ address: source, port: 0 }, () => resolve());
}).catch((e: Error) => fail(`cannot bind ${source}: ${e.message}`));
sock.setMulticastInterface(source);
sock.setMulticastTTL(16);
sock.setMulticastLoopback(false);
let seq = 0;
emit('started', { source, groups: groups.length, first: groups[0], last: groups[groups.length - 1], intervalMs });
setInterval(() => {
  const now = Date.now() * 1000;
  // Bounded queue: if the kernel falls behind, skip a round rather than grow memory.
  if (sock.getSendQueueCount() > groups.length * 4) return;
  for (let i = 0; i < groups.length; i++) sock.send(encodePayload({ stream: i, seq, sentUs: now }, 64), port, groups[i]!);
  seq++;
}, intervalMs);
process.on('SIGTERM', () => process.exit(0));
