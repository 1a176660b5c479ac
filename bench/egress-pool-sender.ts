// Bench helper: one UDP socket that sends the lab payload to every group of a
// small pool, round-robin, so whichever (Sl,Gl) the server assigns already
// carries traffic (the role of an ingress that is always ahead).
//   node --import ./build/ts-loader.mjs bench/egress-pool-sender.ts --base 239.77.0.0 --count 16 --interval-ms 2 --interface core0
import { createSocket } from 'node:dgram';
import { emit, interfaceAddress, numberFlag, parseFlags } from '../lab/traffic/args.ts';
import { encodePayload } from '../lab/traffic/payload.ts';

const flags = parseFlags(process.argv.slice(2), { base: 'value', count: 'value', 'interval-ms': 'value', interface: 'value', port: 'value' }, 'usage: egress-pool-sender.ts --base A.B.C.D --count N [--interval-ms MS] [--interface DEV] [--port P]');
const base = (flags.get('base') ?? '239.77.0.0').split('.').map(Number);
const count = numberFlag(flags, 'count', 16, 1)!;
const intervalMs = numberFlag(flags, 'interval-ms', 2, 1)!;
const port = numberFlag(flags, 'port', 5000, 1)!;
const dev = flags.get('interface') ?? 'core0';
const source = await interfaceAddress(dev, 4);
const groups = Array.from({ length: count }, (_, i) => {
  const n = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) + i;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
});
const sock = createSocket({ type: 'udp4' });
await new Promise<void>((resolve) => sock.bind({ address: source, port: 0 }, () => resolve()));
sock.setMulticastInterface(source);
sock.setMulticastTTL(16);
let seq = 0;
emit('started', { source, groups: groups.length, intervalMs });
setInterval(() => {
  const now = Date.now() * 1000;
  for (const g of groups) sock.send(encodePayload({ stream: 1, seq, sentUs: now }, 64), port, g);
  seq++;
}, intervalMs);
process.on('SIGTERM', () => process.exit(0));
