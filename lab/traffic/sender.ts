// Lab multicast sender: real UDP datagrams at a given rate with a sequence payload.
//   node --import build/ts-loader.mjs lab/traffic/sender.ts --group 232.1.1.1 [--source 10.0.0.1]
//        [--interface core0] [--port 5000] [--rate 100] [--count N | --duration S] [--ttl 16] [--size 64] [--stream 1]
// Prints JSON lines: {"event":"started",...}, {"event":"done","sent":N,...}. SIGTERM ends it with "done".
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { emit, fail, interfaceAddress, numberFlag, parseFlags } from './args.ts';
import { encodePayload } from './payload.ts';

const USAGE = 'usage: sender.ts --group G [--source ADDR] [--interface DEV] [--port P] [--rate PPS] [--count N | --duration S] [--ttl N] [--size BYTES] [--stream ID]';
const flags = parseFlags(process.argv.slice(2), {
  group: 'value', source: 'value', interface: 'value', port: 'value', rate: 'value', count: 'value',
  duration: 'value', ttl: 'value', size: 'value', stream: 'value',
}, USAGE);

const group = flags.get('group') ?? fail('--group is required', USAGE);
const family = isIP(group);
if (family === 0) fail(`--group "${group}" is not an IP address`);
const port = numberFlag(flags, 'port', 5000, 1)!;
const rate = numberFlag(flags, 'rate', 100, 0.001)!;
const count = numberFlag(flags, 'count', undefined, 0);
const durationS = numberFlag(flags, 'duration', undefined, 0);
const ttl = numberFlag(flags, 'ttl', 16, 1)!;
const size = numberFlag(flags, 'size', 64, 24)!;
const stream = numberFlag(flags, 'stream', 1, 0)!;
const dev = flags.get('interface');
let source = flags.get('source');
if (source === undefined && dev !== undefined && family === 4) source = await interfaceAddress(dev, 4);

const sock = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
await new Promise<void>((resolve, reject) => {
  sock.once('error', reject);
  sock.bind({ address: source, port: 0 }, () => resolve());
}).catch((e: Error) => fail(`cannot bind ${source ?? 'any'}: ${e.message}`));
sock.setMulticastTTL(ttl);
sock.setMulticastLoopback(false);
if (family === 6 && dev !== undefined) sock.setMulticastInterface(`::%${dev}`);
else if (family === 4 && source !== undefined) sock.setMulticastInterface(source);

const start = performance.now();
const limit = count ?? (durationS !== undefined ? Math.round(durationS * rate) : Infinity);
let sent = 0;
let errors = 0;
let completed = 0;
let finished = false;
let onAllSent: (() => void) | null = null;
emit('started', { group, port, source: source ?? null, rate, limit: Number.isFinite(limit) ? limit : null, ttl, size, stream });

function finish(): void {
  if (finished) return;
  finished = true;
  const elapsedMs = performance.now() - start;
  // Close only after every send has completed: a send still resolving its
  // destination in JS land (not yet in libuv's queue) would be dropped by close().
  const close = (): void => {
    emit('done', { sent, errors, elapsedMs: Math.round(elapsedMs), pps: Math.round((sent / elapsedMs) * 1000) });
    sock.close();
  };
  if (completed === sent) close();
  else onAllSent = close;
}

function tick(): void {
  if (finished) return;
  const due = Math.min(limit, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
  // Bound the sends in flight so a rate beyond what the socket takes does not grow memory.
  while (sent < due && sent - completed < 256) {
    const seq = sent++;
    const payload = encodePayload({ stream, seq, sentUs: Date.now() * 1000 }, size);
    sock.send(payload, port, group, (err) => {
      if (err) errors++;
      completed++;
      if (completed === sent && onAllSent) onAllSent();
    });
  }
  if (sent >= limit) return finish();
  const nextDueMs = ((sent) / rate) * 1000 - (performance.now() - start);
  setTimeout(tick, Math.max(0, Math.min(nextDueMs, 50)));
}

process.on('SIGTERM', finish);
process.on('SIGINT', finish);
tick();
