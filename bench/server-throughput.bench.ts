// Requests per second of mnat-server against a bare node:http2 server that
// answers 204, both over TLS, measured with h2load in the same run on the same
// machine, alternating in rounds. The per-round ratio is the figure (goal >= 0.6);
// its median over the rounds is reported with every round (h2-compare.ts).
// A second bare server sends mnat-server's own answers (same headers and
// bytes): its ratio to the 204 server is the most any server sending those
// answers through node:http2 could reach. A second bare 204 server shows how
// far the yardstick itself wanders between rounds on this machine.
// Run: node --import ./build/ts-loader.mjs bench/server-throughput.bench.ts [requests] [rounds]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_WATCHER_QUOTAS } from './bench-support.ts';
import { compareWithBare, populate, ROOT, ROUNDS, startBare, startBareSameAnswers, startBareTwin, startProcess } from './h2-compare.ts';

const REQUESTS = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? ROUNDS);
const tmp = mkdtempSync(join(tmpdir(), 'mnat-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const certs = join(tmp, 'certs');
const made = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

const bare = await startBare(certs);
const mnat = await startProcess(
  ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--listen', '127.0.0.1:0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--state-dir', join(tmp, 'state'), '--refresh-period', '65535',
    // 1000 watchers from the bench's one address, no certificate: per-address quotas off.
    ...NO_WATCHER_QUOTAS],
  /port=(\d+)/,
);
const ids = await populate(`https://localhost:${mnat.port}`, join(certs, 'ca.pem'));
// The same answers from a bare server: how much of the gap is HTTP/2's cost of sending them at all.
const same = await startBareSameAnswers(certs, tmp, `https://localhost:${mnat.port}`, ids);
const twin = await startBareTwin(certs, ids);
compareWithBare(tmp, REQUESTS, { port: bare.port, pid: bare.proc.pid as number }, [{ name: 'mnat', port: mnat.port, pid: mnat.proc.pid as number, ids }, same, twin], rounds);
process.exit(0);
