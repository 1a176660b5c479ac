// Bench helper, run in a core host by receiver-open.bench.ts: opens one
// channel after another with the receiver library, alternating DNS-SD
// discovery and a given server, and times open() → first datagram.
//   receiver-open-app.ts --source S --base A.B.C.D --count N --server URL [--cacert F --cert F --key F]
import { openReceiver, type ReceiverOptions } from '../src/receiver/index.ts';
import { emit, fail, numberFlag, parseFlags } from '../lab/traffic/args.ts';

const USAGE = 'usage: receiver-open-app.ts --source S --base A.B.C.D --count N --server URL [--cacert F --cert F --key F] [--port P]';
const flags = parseFlags(process.argv.slice(2), { source: 'value', base: 'value', count: 'value', server: 'value', cacert: 'value', cert: 'value', key: 'value', port: 'value' }, USAGE);
const source = flags.get('source') ?? fail('--source is required', USAGE);
const base = (flags.get('base') ?? fail('--base is required', USAGE)).split('.').map(Number);
const count = numberFlag(flags, 'count', 20, 1)!;
const port = numberFlag(flags, 'port', 5000, 1)!;
const server = flags.get('server') ?? fail('--server is required', USAGE);
const tls = { cacert: flags.get('cacert'), cert: flags.get('cert'), key: flags.get('key') };

for (let i = 0; i < count; i++) {
  const n = (((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) + i) >>> 0;
  const group = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  const mode = i % 2 === 0 ? 'dns-sd' : 'given';
  const options: ReceiverOptions = { source, group, port, ...(mode === 'given' ? { server } : {}), ...(tls.cacert ? { cacert: tls.cacert } : {}), ...(tls.cert ? { cert: tls.cert, key: tls.key! } : {}) };
  const t0 = performance.now();
  let found = NaN;
  const first = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no datagram of ${group} within 10 s`)), 10_000);
    void openReceiver(options).then((rx) => {
      found = rx.server ? performance.now() - t0 : NaN;
      rx.once('message', () => {
        clearTimeout(timer);
        const ms = performance.now() - t0;
        void rx.close().then(() => resolve(ms));
      });
    }, reject);
  });
  try {
    const ms = await first;
    emit('opened', { mode, group, ms, serverKnownMs: found });
  } catch (err) {
    emit('failed', { mode, group, error: (err as Error).message });
  }
}
emit('done', {});
process.exit(0);
