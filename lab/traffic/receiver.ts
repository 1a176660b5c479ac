// Lab multicast receiver: joins (S,G) with a source-specific membership (or
// (*,G) without --source), counts datagrams and checks the sequence payload.
//   node --import build/ts-loader.mjs lab/traffic/receiver.ts --group 232.1.1.1 --source 10.0.0.1
//        [--interface eth0] [--port 5000] [--count N] [--timeout MS] [--idle MS] [--progress N] [--no-join]
// Prints one JSON line per event: ready, joined, first-packet, unexpected-source,
// bad-payload (first only), progress (every N new datagrams), left, stats (on "stats" stdin command), summary.
// stdin commands: "leave", "join", "stats". Ends on count, timeout, idle, SIGTERM or stdin "exit".
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { emit, fail, interfaceAddress, numberFlag, parseFlags } from './args.ts';
import { decodePayload, SequenceTracker } from './payload.ts';

const USAGE = 'usage: receiver.ts --group G [--source S] [--interface DEV] [--port P] [--count N] [--timeout MS] [--idle MS] [--progress N] [--no-join]';
const flags = parseFlags(process.argv.slice(2), {
  group: 'value', source: 'value', interface: 'value', port: 'value', count: 'value', timeout: 'value', idle: 'value', progress: 'value', 'no-join': 'bool',
}, USAGE);

const group = flags.get('group') ?? fail('--group is required', USAGE);
const family = isIP(group);
if (family === 0) fail(`--group "${group}" is not an IP address`);
const source = flags.get('source');
if (source !== undefined && isIP(source) !== family) fail(`--source "${source}" is not an IPv${family} address`);
const port = numberFlag(flags, 'port', 5000, 1)!;
const count = numberFlag(flags, 'count', undefined, 1);
const timeoutMs = numberFlag(flags, 'timeout', undefined, 1);
const idleMs = numberFlag(flags, 'idle', undefined, 1);
const progressEvery = numberFlag(flags, 'progress', undefined, 1);
const dev = flags.get('interface');
const ifaceArg = dev === undefined ? undefined : family === 6 ? `::%${dev}` : await interfaceAddress(dev, 4);

const sock = createSocket({ type: family === 6 ? 'udp6' : 'udp4', reuseAddr: true });
// Bound to the group address so only datagrams for this group reach this socket.
await new Promise<void>((resolve, reject) => {
  sock.once('error', reject);
  sock.bind({ address: group, port }, () => resolve());
}).catch((e: Error) => fail(`cannot bind [${group}]:${port}: ${e.message}`));
// A large receive buffer absorbs scheduling gaps at high rates (capped by net.core.rmem_max).
try {
  sock.setRecvBufferSize(8 * 1024 * 1024);
} catch {
  // keep the default
}
emit('ready', { group, port, source: source ?? null, interface: dev ?? null, rcvbuf: sock.getRecvBufferSize() });

const tracker = new SequenceTracker();
const sources = new Map<string, number>();
let joined = false;
let bytes = 0;
let badPayload = 0;
let firstAt: number | null = null;
let lastAt: number | null = null;
let idleTimer: NodeJS.Timeout | undefined;
let done = false;

function join(): void {
  if (joined) return;
  try {
    if (source !== undefined) sock.addSourceSpecificMembership(source, group, ifaceArg);
    else sock.addMembership(group, ifaceArg);
  } catch (e) {
    fail(`join ${source ?? '*'},${group} on ${dev ?? 'default interface'}: ${(e as Error).message}`);
  }
  joined = true;
  emit('joined', { source: source ?? null, group });
}

function leave(): void {
  if (!joined) return;
  if (source !== undefined) sock.dropSourceSpecificMembership(source, group, ifaceArg);
  else sock.dropMembership(group, ifaceArg);
  joined = false;
  emit('left', { source: source ?? null, group, ...summaryFields() });
}

function summaryFields(): Record<string, unknown> {
  return {
    ...tracker.stats(), bytes, badPayload, sources: Object.fromEntries(sources),
    firstAt, lastAt, durationMs: firstAt !== null && lastAt !== null ? lastAt - firstAt : 0,
  };
}

function finish(reason: string): void {
  if (done) return;
  done = true;
  emit('summary', { reason, ...summaryFields() });
  sock.close();
  process.exit(0);
}

sock.on('message', (msg, rinfo) => {
  const now = Date.now();
  sources.set(rinfo.address, (sources.get(rinfo.address) ?? 0) + 1);
  if (source !== undefined && rinfo.address !== source && sources.get(rinfo.address) === 1) {
    emit('unexpected-source', { source: rinfo.address, expected: source });
  }
  const h = decodePayload(msg);
  if (h === null) {
    if (badPayload++ === 0) emit('bad-payload', { source: rinfo.address, size: msg.length });
    return;
  }
  bytes += msg.length;
  const kind = tracker.add(h.seq);
  lastAt = now;
  if (firstAt === null) {
    firstAt = now;
    emit('first-packet', { source: rinfo.address, group, seq: h.seq, stream: h.stream, size: msg.length, latencyUs: now * 1000 - h.sentUs });
  }
  if (idleMs !== undefined) {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => finish('idle'), idleMs);
  }
  if (progressEvery !== undefined && kind !== 'duplicate' && tracker.unique % progressEvery === 0) {
    emit('progress', { unique: tracker.unique, source: rinfo.address, seq: h.seq });
  }
  if (count !== undefined && tracker.unique >= count) finish('count');
});

if (!flags.has('no-join')) join();
if (timeoutMs !== undefined) setTimeout(() => finish('timeout'), timeoutMs);
process.on('SIGTERM', () => finish('signal'));
process.on('SIGINT', () => finish('signal'));
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'leave') leave();
  else if (cmd === 'join') join();
  else if (cmd === 'stats') emit('stats', summaryFields());
  else if (cmd === 'exit') finish('exit');
});
