// The watcher client under the real QuickJS (the runtime of mnat-egress on the
// router), over curl, with mTLS, against the real server: push and long polling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from '../qjs/qjs-binary.ts';
import { devCerts, ROOT, startServer, tempDir, tlsArgs } from './helpers.ts';

for (const mode of ['push', 'long-poll'] as const) {
  test(`WatcherClient on QuickJS (${mode}): join → mapping at egress and ingress → leave`, async (t) => {
    const qjs = findOrBuildQjs();
    const server = await startServer(t, tlsArgs('required'));
    const dir = tempDir(t);
    const bundle = join(dir, 'watcher-probe.js');
    await bundleQuickjs(join(ROOT, 'test/server/fixtures/watcher-probe.ts'), bundle);
    const certs = devCerts();
    const child = spawn(qjs, [bundle, `https://localhost:${server.port}`, join(certs, 'ca.pem'), join(certs, 'egress.pem'), join(certs, 'egress.key'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    const events: Array<{ event: string; value: any }> = [];
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    for (const line of out.split('\n')) if (line) events.push(JSON.parse(line));
    assert.equal(code, 0, `qjs exited ${code}:\n${out}\n${err}`);
    const egress = events.filter((e) => e.event === 'egress').map((e) => e.value);
    const ingress = events.filter((e) => e.event === 'ingress').map((e) => e.value);
    const assigned = egress.find((l) => l.length === 1)?.[0] as string;
    assert.match(assigned, /^192\.0\.2\.1,232\.1\.1\.1>assigned>232\./);
    assert.ok(ingress.some((l) => l.length === 1 && l[0] === assigned), 'the ingress saw the same mapping');
    assert.deepEqual(egress[egress.length - 1], []);
    assert.ok(events.some((e) => e.event === 'egress-status' && e.value === `${mode} connected`), JSON.stringify(events));
    assert.ok(events.some((e) => e.event === 'done'));
  });
}
