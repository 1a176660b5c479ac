import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMdbSource } from '../../src/egress/membership/mdb-source.ts';
import type { ExecResult, Host, Logger } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

const joined = JSON.stringify([
  { mdb: [{ index: 2, dev: 'br-lan', port: 'p1', grp: '232.1.1.1', src: '192.0.2.1', state: 'temp', filter_mode: 'include', protocol: 'kernel', flags: [] }], router: {} },
]);
const empty = JSON.stringify([{ mdb: [], router: {} }]);

// A host whose LAN host reports right after the agent's first table read, while
// `bridge monitor mdb` is not listening yet: the monitor never prints that event.
function lateMonitorHost(): { host: Host; vt: ReturnType<typeof createVirtualTime>; reads: () => number } {
  const vt = createVirtualTime();
  let reads = 0;
  const host = {
    now: vt.now,
    wallClock: vt.wallClock,
    setTimeout: vt.setTimeout,
    clearTimeout: vt.clearTimeout,
    fileExists: (path: string) => path === '/usr/bin/stdbuf',
    exec: async (argv: readonly string[]): Promise<ExecResult> => {
      assert.deepEqual(argv.slice(0, 4), ['bridge', '-j', '-d', 'mdb']);
      reads++;
      return { code: 0, stdout: reads === 1 ? empty : joined, stderr: '' };
    },
    spawnLines: () => ({ kill() {} }),
  } as unknown as Host;
  return { host, vt, reads: () => reads };
}

test('a join reported between the first table read and the monitor listening is seen within seconds, not at the 30 s safety read', async () => {
  const { host, vt, reads } = lateMonitorHost();
  const seen: string[][] = [];
  const source = createMdbSource(host, quiet, 'br-lan', (channels) => seen.push(channels.map((c) => `${c.channel.source},${c.channel.group}`)));
  source.start();
  await vt.until('the join', () => seen.some((s) => s.length > 0), 5_000);
  assert.deepEqual(seen.at(-1), ['192.0.2.1,232.1.1.1']);
  assert.ok(vt.now() <= 3_000, `seen after ${vt.now()} ms`);
  // Then the 30 s safety net again, not a read every few seconds.
  const before = reads();
  await vt.advance(29_000);
  assert.equal(reads(), before);
  source.stop();
});
