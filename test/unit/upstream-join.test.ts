import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelToJoin, channelToLeave, serialJoiner, serialQueue, UpstreamJoinError, type JoinedChannel } from '../../src/dataplane/upstream-join.ts';

test('serialQueue: one operation at a time, in call order, a failure does not stop the next', async () => {
  const serial = serialQueue();
  const events: string[] = [];
  let release!: () => void;
  const first = serial(async () => {
    events.push('a start');
    await new Promise<void>((r) => (release = r));
    events.push('a end');
    throw new Error('a failed');
  });
  const second = serial(async () => {
    events.push('b');
    return 2;
  });
  await Promise.resolve();
  assert.deepEqual(events, ['a start'], 'b waits for a');
  release();
  await assert.rejects(first, /a failed/);
  assert.equal(await second, 2);
  assert.deepEqual(events, ['a start', 'a end', 'b']);
});

test('channelToJoin: canonical channel and family; a join error naming the device otherwise', () => {
  assert.deepEqual(channelToJoin({ source: '2001:DB8::0:7', group: 'FF3E::1' }, 'wan'), { channel: { source: '2001:db8::7', group: 'ff3e::1' }, family: 6 });
  assert.deepEqual(channelToJoin({ source: '192.0.2.1', group: '232.1.1.1' }, 'wan').family, 4);
  assert.throws(
    () => channelToJoin({ source: '192.0.2.1', group: '10.0.0.1' }, 'wan'),
    (e: unknown) => e instanceof UpstreamJoinError && e.action === 'join' && e.device === 'wan' && /not a multicast/.test(e.message),
  );
});

test('channelToLeave: canonical channel, or null for what was never joinable', () => {
  assert.deepEqual(channelToLeave({ source: '2001:DB8::0:7', group: 'FF3E::1' }), { source: '2001:db8::7', group: 'ff3e::1' });
  assert.equal(channelToLeave({ source: 'nonsense', group: '232.1.1.1' }), null);
});

test('serialJoiner: operations serialised, joined() a copy of the view', async () => {
  const view = new Map<string, JoinedChannel>();
  const calls: string[] = [];
  let release!: () => void;
  const joiner = serialJoiner(view, {
    join: async (channel, device) => {
      calls.push(`join ${device}`);
      await new Promise<void>((r) => (release = r));
      view.set(device, { channel, device });
    },
    leave: async (_channel, device) => {
      calls.push(`leave ${device}`);
      view.delete(device);
    },
    close: async () => {
      calls.push('close');
    },
  });
  const channel = { source: '192.0.2.1', group: '232.1.1.1' };
  const joining = joiner.join(channel, 'a');
  const leaving = joiner.leave(channel, 'a');
  await Promise.resolve();
  assert.deepEqual(calls, ['join a'], 'the leave waits for the join');
  release();
  await joining;
  const copy = joiner.joined();
  assert.deepEqual(copy, [{ channel, device: 'a' }]);
  assert.notEqual(copy[0]?.channel, channel, 'a copy, not the stored object');
  await leaving;
  assert.deepEqual(joiner.joined(), []);
  await joiner.close();
  assert.deepEqual(calls, ['join a', 'leave a', 'close']);
});
