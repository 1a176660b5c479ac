// Requests per second of mnat-server against a bare node:http2 server that
// answers 204, both over TLS, measured with h2load in the same run on the same
// machine. The ratio is the figure (goal >= 0.5).
// Run: node --import ./build/ts-loader.mjs bench/server-throughput.bench.ts [requests]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareWithBare, populate, ROOT, startBare, startProcess } from './h2-compare.ts';

const REQUESTS = Number(process.argv[2] ?? 100_000);
const tmp = mkdtempSync(join(tmpdir(), 'mnat-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const certs = join(tmp, 'certs');
const made = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

const bare = await startBare(certs);
const mnat = await startProcess(
  ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--listen', '127.0.0.1:0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--state-dir', join(tmp, 'state'), '--refresh-period', '65535'],
  /port=(\d+)/,
);
const ids = await populate(`https://localhost:${mnat.port}`, join(certs, 'ca.pem'));
compareWithBare(tmp, REQUESTS, bare.port, [{ name: 'mnat', port: mnat.port, ids }]);
process.exit(0);
