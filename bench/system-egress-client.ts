// Bench helper: an egress watcher without a data plane (the real WatcherClient
// over HTTP/2 + mTLS), to load the server and the ingress with many joins at
// once. stdin "joins N BASE SOURCE" sets the joined set to N channels
// (SOURCE, BASE+i); prints {"event":"assigned","n":K} whenever the number of
// assigned channels changes.
//   node --import ./build/ts-loader.mjs bench/system-egress-client.ts --server H --port P --cacert F --cert F --key F
import { createInterface } from 'node:readline';
import { createWatcherClient, EGRESS_ROLE } from '../src/client/watcher-client.ts';
import { createNodeHost, createStderrLogger } from '../src/host/node-host.ts';
import { emit, fail, parseFlags } from '../lab/traffic/args.ts';

const flags = parseFlags(process.argv.slice(2), { server: 'value', port: 'value', cacert: 'value', cert: 'value', key: 'value' }, 'usage: system-egress-client.ts --server H --port P --cacert F --cert F --key F');
const server = flags.get('server') ?? fail('--server is required');
const host = createNodeHost(createStderrLogger('bench-egress', 'warn'));
const transport = host.httpTransport({
  origin: `https://${server}:${flags.get('port') ?? '8443'}`,
  caFile: flags.get('cacert'),
  certFile: flags.get('cert'),
  keyFile: flags.get('key'),
});
const client = createWatcherClient({ host, transport, role: EGRESS_ROLE });
let last = -1;
client.on('assignments', (list) => {
  const n = list.filter((c) => c.state === 'assigned').length;
  if (n !== last) emit('assigned', { n, total: list.length });
  last = n;
});
client.on('status', (s) => emit('status', { connected: s.connected, mode: s.mode }));
client.start();

function channel(base: string, i: number, source: string): { source: string; group: string } {
  const b = base.split('.').map(Number);
  const n = ((((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0) + i;
  return { source, group: [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.') };
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, count, base, source] = line.trim().split(/\s+/);
  if (cmd === 'joins' && count && base && source) {
    const n = Number(count);
    client.setDesired(Array.from({ length: n }, (_, i) => channel(base, i, source)));
    emit('joins-set', { n });
  } else if (cmd === 'exit') {
    void client.stop().then(() => process.exit(0));
  }
});
