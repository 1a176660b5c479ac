// mosquitto_sub as the router's broker link (src/agent/mqtt-sub.ts), with a
// scripted child: how its ending is reported. Status 0 is how it ends on
// SIGINT/SIGTERM (checked with mosquitto_sub 2.0: a refused connection exits 1,
// a lost broker is reconnected to), so it reads as stopped, not as a broker
// fault; it is started again after a backoff either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openMosquittoSub } from '../../src/agent/mqtt-sub.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Host } from '../../src/host/host.ts';
import { parseMqttUrl } from '../../src/protocol/mqtt-mapping.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

test('mosquitto_sub ending with status 0 (a signal) is down as stopped; a non-zero status is a fault; both start it again', async () => {
  const time = createVirtualTime();
  const children: Array<{ argv: readonly string[]; exit: (code: number | null) => void }> = [];
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const host: Host = {
    ...createNodeHost(quiet),
    setTimeout: time.setTimeout,
    clearTimeout: time.clearTimeout,
    now: time.now,
    spawnLines: (argv, _onLine, onExit) => {
      children.push({ argv, exit: onExit });
      return { kill() {} };
    },
  };
  const downs: Array<[string, boolean | undefined]> = [];
  const link = openMosquittoSub(host, parseMqttUrl('mqtts://broker.example/mnat'), {}, { up() {}, down: (why, stopped) => void downs.push([why, stopped]), message() {} });
  link.subscribe(['mnat/192.0.2.1/232.1.1.1']);
  assert.equal(children.length, 1);
  children[0]!.exit(0);
  assert.deepEqual(downs, [['mosquitto_sub was stopped by a signal (status 0)', true]]);
  await time.until('started again', () => children.length === 2, 60_000);
  children[1]!.exit(1);
  assert.equal(downs.length, 2);
  assert.equal(downs[1]![1], false, 'status 1: the broker refused or could not be reached');
  await time.until('started again', () => children.length === 3, 60_000);
  link.close();
});
