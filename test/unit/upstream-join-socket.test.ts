// Socket backend errors that need no network: the lab tests cover real joins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocketJoiner } from '../../src/dataplane/upstream-join-socket.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test('a join on a device that does not exist names the channel and the device, and records nothing', async () => {
  const j = createSocketJoiner(quiet);
  await assert.rejects(j.join({ source: '10.0.0.1', group: '232.1.1.1' }, 'nosuchdev0'), /upstream join \(10\.0\.0\.1,232\.1\.1\.1\) on nosuchdev0: device nosuchdev0 does not exist/);
  await assert.rejects(j.join({ source: '2001:db8::1', group: 'ff3e::1' }, 'nosuchdev0'), /on nosuchdev0: device nosuchdev0 does not exist/);
  await assert.rejects(j.join({ source: '10.0.0.1', group: '10.0.0.2' }, 'lo'), /not a multicast address/);
  assert.deepEqual(j.joined(), []);
  await j.leave({ source: '10.0.0.1', group: '232.1.1.1' }, 'nosuchdev0'); // nothing joined: no-op
  await j.close();
});
