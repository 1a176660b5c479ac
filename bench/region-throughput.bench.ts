// Per front end of a region (two front ends over a 3-member etcd cluster):
// refresh and assigned-channels GET rates against a bare node:http2 server
// that answers 204, with h2load over TLS in the same run (goal >= 0.6), in alternating rounds (h2-compare.ts).
// Refreshes are local to the front end (no etcd write); GETs read its replica.
// A second bare 204 server shows how far the yardstick itself wanders between rounds.
// Run: node --import ./build/ts-loader.mjs bench/region-throughput.bench.ts [requests] [rounds]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcdCluster } from '../lab/etcd-cluster.ts';
import { benchCleanup } from './bench-support.ts';
import { NO_WATCHER_QUOTAS } from './bench-support.ts';
import { compareWithBare, populate, ROOT, ROUNDS, startBare, startBareSameAnswers, startBareTwin, startProcess } from './h2-compare.ts';

const REQUESTS = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? ROUNDS);
const cleanup = benchCleanup();
const tmp = mkdtempSync(join(tmpdir(), 'mnat-region-tp-'));
cleanup.t.after(() => rmSync(tmp, { recursive: true, force: true }));
const certs = join(tmp, 'certs');
const made = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

const cluster = await startEtcdCluster(cleanup.t, { baseDir: tmp });
// Also when the bench fails: this exit hook runs after the cluster's, which kills the members.
process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
const bare = await startBare(certs);
const frontEnd = (id: string) =>
  startProcess(
    ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--listen', '127.0.0.1:0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--store', cluster.url('tp'), '--frontend-id', id, '--refresh-period', '65535',
      // 2000 watchers from the bench's one address, no certificate: per-address quotas off.
      ...NO_WATCHER_QUOTAS],
    /msg=listening.* port=(\d+)/,
  );
const fa = await frontEnd('A');
const fb = await frontEnd('B');
// Watchers made through each front end (so each refresh in the run is at the watcher's home: no claim).
const idsA = await populate(`https://localhost:${fa.port}`, join(certs, 'ca.pem'));
const idsB = await populate(`https://localhost:${fb.port}`, join(certs, 'ca.pem'));
console.log(`region: 3 etcd members, 2 front ends, ${idsA.length + idsB.length} watchers with 4 joins each`);
// The same answers from a bare server (see server-throughput.bench.ts).
const same = await startBareSameAnswers(certs, tmp, `https://localhost:${fa.port}`, idsA);
const twin = await startBareTwin(certs, idsA);
compareWithBare(tmp, REQUESTS, { port: bare.port, pid: bare.proc.pid as number }, [
  { name: 'front-A', port: fa.port, pid: fa.proc.pid as number, ids: idsA },
  { name: 'front-B', port: fb.port, pid: fb.proc.pid as number, ids: idsB },
  same,
  twin,
], rounds, cluster.members.flatMap((m) => (m.proc ? [m.proc.pid] : [])));
await cleanup.run();
process.exit(0);
