// An application receiving a global channel with the receiver library (the
// draft's "bump in the host"), for the lab: one JSON line per event.
//   mnat-app.ts --source S --group G [--port 5000] [--server URL] [--cacert F --cert F --key F]
//               [--insecure] [--overlap-ms N] [--drain-ms N] [--from-dist]
// Events: server, mapped, switched, unassigned, error, first-packet {seq, local, ms since open},
// stats (on "stats" on stdin): the sequence accounting of lab/traffic/payload.ts plus
// badPayload, foreign (datagrams of another stream), via {local: count}, maxInterArrivalMs.
// "exit" on stdin closes the receiver (DELETE of the join) and exits.
import { createInterface } from 'node:readline';
import { decodePayload, SequenceTracker } from './payload.ts';
import { parseFlags } from './args.ts';

const USAGE = 'mnat-app.ts --source S --group G [--port 5000] [--server URL] [--cacert F --cert F --key F] [--insecure] [--overlap-ms N] [--drain-ms N] [--from-dist]';
const flags = parseFlags(
  process.argv.slice(2),
  { source: 'value', group: 'value', port: 'value', server: 'value', cacert: 'value', cert: 'value', key: 'value', insecure: 'bool', 'overlap-ms': 'value', 'drain-ms': 'value', 'from-dist': 'bool' },
  USAGE,
);
const str = (name: string): string | undefined => flags.get(name);
const num = (name: string): number | undefined => (str(name) !== undefined ? Number(str(name)) : undefined);
const out = (o: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(o) + '\n');

const lib = (flags.has('from-dist') ? await import(new URL('../../dist/mnat-receiver.js', import.meta.url).href) : await import('../../src/receiver/index.ts')) as typeof import('../../src/receiver/index.ts');
const local = (l: import('../../src/receiver/index.ts').LocalMapping): string => ('asmGroup' in l ? `*,${l.asmGroup}` : `${l.source},${l.group}`);

const started = performance.now();
const rx = new lib.MnatReceiver({
  source: str('source') as string,
  group: str('group') as string,
  port: num('port') ?? 5000,
  ...(str('server') ? { server: str('server') as string } : {}),
  ...(str('cacert') ? { cacert: str('cacert') as string } : {}),
  ...(str('cert') ? { cert: str('cert') as string, key: str('key') as string } : {}),
  insecure: flags.has('insecure'),
  ...(num('overlap-ms') !== undefined ? { overlapMs: num('overlap-ms') as number } : {}),
  ...(num('drain-ms') !== undefined ? { drainMs: num('drain-ms') as number } : {}),
});
const tracker = new SequenceTracker();
const streams = new Map<number, number>();
const via = new Map<string, number>();
let badPayload = 0;
let foreign = 0;
let stream: number | null = null;
let last = 0;
let maxInterArrivalMs = 0;

rx.on('server', (s) => out({ event: 'server', origin: s.origin, apiRoot: s.apiRoot, instance: s.service?.instance ?? null, ms: performance.now() - started }));
rx.on('mapped', (m) => out({ event: 'mapped', local: local(m.local), id: m.id, ms: performance.now() - started }));
rx.on('switched', (from, to, reason) => out({ event: 'switched', from: local(from), to: local(to), reason }));
rx.on('unassigned', () => out({ event: 'unassigned' }));
rx.on('error', (err) => out({ event: 'error', message: err.message }));
rx.on('message', (payload, info) => {
  const now = performance.now();
  const key = local(info.local);
  via.set(key, (via.get(key) ?? 0) + 1);
  const h = decodePayload(payload);
  if (!h) {
    badPayload++;
    return;
  }
  streams.set(h.stream, (streams.get(h.stream) ?? 0) + 1);
  if (stream === null) {
    stream = h.stream;
    out({ event: 'first-packet', seq: h.seq, stream: h.stream, local: key, ms: now - started });
  }
  if (h.stream !== stream) {
    foreign++;
    return;
  }
  if (last > 0) maxInterArrivalMs = Math.max(maxInterArrivalMs, now - last);
  last = now;
  tracker.add(h.seq);
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') {
    out({ event: 'stats', ...tracker.stats(), badPayload, foreign, streams: Object.fromEntries(streams), via: Object.fromEntries(via), maxInterArrivalMs, local: rx.local ? local(rx.local) : null });
  } else if (cmd === 'exit') {
    void rx.close().then(() => {
      out({ event: 'closed' });
      process.exit(0);
    });
  }
});

try {
  await rx.open();
  out({ event: 'opened', ms: performance.now() - started });
} catch (err) {
  out({ event: 'error', message: (err as Error).message });
  process.exit(1);
}
