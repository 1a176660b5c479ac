// Re-mapping without a gap, the two halves: the ingress holds a re-mapped
// channel on its old local channel for a moment (src/agent/remap-delay.ts),
// the egress keeps the old local channel beside the new one (planEgress's
// keep, driven by egress-agent.ts: see egress-agent.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delayRemaps } from '../../src/agent/remap-delay.ts';
import type { AssignmentFeed, FeedStatus } from '../../src/agent/ports.ts';
import { planEgress } from '../../src/egress/egress-reconcile.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Host, Logger } from '../../src/host/host.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const G = { source: '23.212.185.4', group: '232.1.1.1' };
const H = { source: '203.0.113.7', group: '232.1.1.2' };
const at = (g: typeof G, id: number, group: string): MappedChannel => ({ id, global: g, state: 'assigned', local: { source: '10.0.0.9', group } });

function feedOf(): { feed: AssignmentFeed<string>; say(c: MappedChannel[]): void } {
  const fns: Array<(c: MappedChannel[]) => void> = [];
  return {
    feed: {
      start() {},
      async stop() {},
      setDesired() {},
      on(event: 'assignments' | 'status', fn: ((c: MappedChannel[]) => void) | ((s: FeedStatus) => void)) {
        if (event === 'assignments') fns.push(fn as (c: MappedChannel[]) => void);
      },
    } as AssignmentFeed<string>,
    say: (c) => fns.forEach((fn) => fn(c)),
  };
}

test('ingress: a re-mapped channel stays on its old local channel for the delay; new channels and releases pass at once', async () => {
  const time = createVirtualTime();
  const host: Host = { ...createNodeHost(quiet), now: time.now, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout };
  const inner = feedOf();
  const feed = delayRemaps(host, inner.feed, 2000);
  const out: MappedChannel[][] = [];
  feed.on('assignments', (c) => out.push(c));

  inner.say([at(G, 1, '232.255.0.1')]);
  assert.deepEqual(out.at(-1), [at(G, 1, '232.255.0.1')], 'a new channel at once');
  inner.say([at(G, 1, '232.255.0.9'), at(H, 2, '232.255.0.2')]);
  assert.deepEqual(out.at(-1), [at(G, 1, '232.255.0.1'), at(H, 2, '232.255.0.2')], 'G held, H new at once');
  await time.advance(1999);
  assert.deepEqual(out.at(-1), [at(G, 1, '232.255.0.1'), at(H, 2, '232.255.0.2')]);
  await time.advance(1);
  assert.deepEqual(out.at(-1), [at(G, 1, '232.255.0.9'), at(H, 2, '232.255.0.2')], 'G moves after 2 s');
  const count = out.length;
  await time.advance(10_000);
  assert.equal(out.length, count, 'no timer left behind');

  // Moved while moving: the delay starts again from the old channel; a release passes at once.
  inner.say([at(G, 1, '232.255.0.7'), at(H, 2, '232.255.0.2')]);
  await time.advance(1000);
  inner.say([at(G, 1, '232.255.0.8'), at(H, 2, '232.255.0.2')]);
  assert.deepEqual(out.at(-1)![0], at(G, 1, '232.255.0.9'));
  inner.say([at(H, 2, '232.255.0.2')]);
  assert.deepEqual(out.at(-1), [at(H, 2, '232.255.0.2')], 'a release is not held');
  await time.advance(5000);
  assert.deepEqual(out.at(-1), [at(H, 2, '232.255.0.2')]);
  // 0 turns it off.
  assert.equal(delayRemaps(host, inner.feed, 0), inner.feed);
});

test('egress plan: a kept old local channel keeps its rule and join beside the new one, only while its global is wanted', () => {
  const L1 = { source: '10.0.0.9', group: '232.255.0.1' };
  const L2 = { source: '10.0.0.9', group: '232.255.0.9' };
  const kernel = {
    rules: [{ from: L1, to: G, outputs: ['br-lan'] }],
    joins: [{ channel: L1, device: 'wan' }],
    upstream: 'wan',
    downstream: 'br-lan',
  };
  const kept = planEgress({ ...kernel, desired: [G], assignments: [at(G, 1, L2.group)], keep: new Set([`${L1.source},${L1.group}`]) });
  assert.deepEqual(kept.actions.map((a) => a.kind), ['upsert', 'join'], 'make: nothing removed');
  const broken = planEgress({ ...kernel, desired: [G], assignments: [at(G, 1, L2.group)] });
  assert.deepEqual(broken.actions.map((a) => a.kind), ['leave', 'remove', 'upsert', 'join'], 'without keep: break first');
  const gone = planEgress({ ...kernel, desired: [], assignments: [at(G, 1, L2.group)], keep: new Set([`${L1.source},${L1.group}`]) });
  assert.deepEqual(gone.actions.map((a) => a.kind), ['leave', 'remove'], 'not kept once the LAN left');
});
