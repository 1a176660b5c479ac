// The agent's sequencing against in-memory stand-ins for the feed, the
// translator and the joiner (the real ones are exercised by the lab tests),
// on virtual time (fixtures/virtual-time.ts): the test moves it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel } from '../../src/core/channel.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';
import type { TranslationRule } from '../../src/dataplane/translator.ts';
import { createIngressAgent, type IngressAgent, type IngressAgentOptions, type IngressRuleTable } from '../../src/ingress/ingress-agent.ts';
import type { AssignmentFeed, Joiner } from '../../src/agent/ports.ts';
import { JoinfileWriter } from '../../src/ingress/joinfile-writer.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Host, Logger } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const lines: string[] = [];
const log: Logger = {
  debug: (m) => lines.push(`debug ${m}`),
  info: (m) => lines.push(`info ${m}`),
  warn: (m, f) => lines.push(`warn ${m} ${JSON.stringify(f)}`),
  error: (m, f) => lines.push(`error ${m} ${JSON.stringify(f)}`),
};
const time = createVirtualTime();
const host: Host = { ...createNodeHost(log), now: time.now, wallClock: time.wallClock, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout };

/** The agent, its calls awaited while virtual time moves (a pass may wait for a retry timer). */
function createAgent(options: Omit<IngressAgentOptions, 'host'>): IngressAgent {
  const agent = createIngressAgent({ host, ...options });
  const moving = <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    const r = p.finally(() => (done = true));
    return time.until('the call to return', () => done).then(() => r);
  };
  return { ...agent, start: () => moving(agent.start()), stop: () => moving(agent.stop()), settled: () => moving(agent.settled()) };
}

type Status = { connected: boolean; watcherId: string | null; mode: string; lastError?: string };
class FakeFeed implements AssignmentFeed<string> {
  monitors: string[] = [];
  started = false;
  stopped = false;
  private assignmentFns: Array<(c: MappedChannel[]) => void> = [];
  private statusFns: Array<(s: Status) => void> = [];
  start(): void {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  setDesired(p: readonly string[]): void {
    this.monitors = [...p];
  }
  on(event: 'assignments' | 'status', fn: ((c: MappedChannel[]) => void) | ((s: Status) => void)): void {
    if (event === 'assignments') this.assignmentFns.push(fn as (c: MappedChannel[]) => void);
    else this.statusFns.push(fn as (s: Status) => void);
  }
  push(c: MappedChannel[]): void {
    for (const fn of this.assignmentFns) fn(c);
  }
  status(s: Status): void {
    for (const fn of this.statusFns) fn(s);
  }
}

const key = (c: Channel): string => `${c.source},${c.group}`;
class FakeTranslator implements IngressRuleTable {
  rules = new Map<string, TranslationRule>();
  attached: string | null = null;
  ops: string[] = [];
  failNext = 0;
  async attach(d: string): Promise<void> {
    this.attached = d;
  }
  async upsert(r: TranslationRule): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('bpftool: map update failed');
    }
    this.ops.push(`upsert ${key(r.from)}>${key(r.to)}`);
    this.rules.set(key(r.from), r);
  }
  async remove(from: Channel): Promise<void> {
    this.ops.push(`remove ${key(from)}`);
    this.rules.delete(key(from));
  }
  async list(): Promise<TranslationRule[]> {
    return [...this.rules.values()];
  }
  async detach(): Promise<void> {
    this.ops.push('detach');
    this.attached = null;
    this.rules.clear();
  }
}
class FakeJoiner implements Joiner {
  joins = new Map<string, { channel: Channel; device: string }>();
  ops: string[] = [];
  async join(c: Channel, d: string): Promise<void> {
    this.ops.push(`join ${key(c)}`);
    this.joins.set(`${d}|${key(c)}`, { channel: c, device: d });
  }
  async leave(c: Channel, d: string): Promise<void> {
    this.ops.push(`leave ${key(c)}`);
    this.joins.delete(`${d}|${key(c)}`);
  }
  joined(): Array<{ channel: Channel; device: string }> {
    return [...this.joins.values()];
  }
  async close(): Promise<void> {
    this.ops.push('close');
    this.joins.clear();
  }
}

const G1 = { source: '23.212.185.4', group: '232.1.1.1' };
const L1 = { source: '10.99.0.1', group: '232.255.0.1' };
const G2 = { source: '2001:db8::5', group: 'ff3e::1' };
const L2 = { source: 'fd00::1', group: 'ff35::100' };
const a = (id: number, g: Channel, l: Channel): MappedChannel => ({ id, global: g, state: 'assigned', local: l });
const config = { monitors: ['0.0.0.0/0', '::/0'], upstreamInterface: 'up0', downstreamInterfaces: ['down0'], join: true };

function setup(options: { settleMs?: number; joinfile?: string } = {}) {
  const feed = new FakeFeed();
  const translator = new FakeTranslator();
  const joiner = new FakeJoiner();
  const joinfile = options.joinfile ? new JoinfileWriter({ host, path: options.joinfile, refreshS: 30 }) : null;
  const agent = createAgent({ config, feed, translator, joiner, joinfile, settleMs: options.settleMs ?? 0 });
  return { feed, translator, joiner, agent };
}

/** Resolves after the agent's next completed pass, moving virtual time until then. */
async function reconciled(agent: IngressAgent): Promise<void> {
  let done = false;
  agent.onReconciled(() => (done = true));
  await time.until('a pass', () => done);
}

test('start attaches to the upstream device, sets the monitors, follows the feed', async () => {
  const { feed, translator, joiner, agent } = setup();
  await agent.start();
  assert.equal(translator.attached, 'up0');
  assert.deepEqual(feed.monitors, ['0.0.0.0/0', '::/0']);
  assert.equal(feed.started, true);
  const done = reconciled(agent);
  feed.push([a(1, G1, L1), a(2, G2, L2), { id: 3, global: { source: '9.9.9.9', group: '232.9.9.9' }, state: 'unassigned', local: null }]);
  await done;
  assert.deepEqual(translator.ops, [`upsert ${key(G1)}>${key(L1)}`, `upsert ${key(G2)}>${key(L2)}`]);
  assert.deepEqual(joiner.ops, [`join ${key(G1)}`, `join ${key(G2)}`]);
  assert.equal(agent.status.carried, 2);
  await agent.stop();
});

test('a burst of pushes is folded: the last state wins, nothing is done twice', async () => {
  const { feed, translator, agent } = setup();
  await agent.start();
  feed.push([a(1, G1, L1)]);
  feed.push([a(1, G1, L1), a(2, G2, L2)]);
  feed.push([a(2, G2, L2)]);
  await agent.settled();
  assert.deepEqual([...translator.rules.keys()], [key(G2)]);
  assert.ok(translator.ops.filter((o) => o.startsWith(`upsert ${key(G2)}`)).length === 1);
  await agent.stop();
});

test('rules adopted from a previous run stay until the server has spoken, then are reconciled', async () => {
  const { feed, translator, joiner, agent } = setup();
  translator.rules.set(key(G1), { from: G1, to: L1, outputs: ['down0'] });
  translator.rules.set(key(G2), { from: G2, to: L2, outputs: ['down0'] });
  await agent.start();
  feed.status({ connected: false, watcherId: null, mode: 'push', lastError: 'ECONNREFUSED' });
  assert.equal(translator.rules.size, 2);
  const done = reconciled(agent);
  feed.push([a(1, G1, L1)]);
  await done;
  assert.deepEqual(translator.ops, [`remove ${key(G2)}`]);
  assert.deepEqual(joiner.ops, [`join ${key(G1)}`]);
  await agent.stop();
});

test('a failed action is retried with backoff until it succeeds', async () => {
  const { feed, translator, agent } = setup();
  await agent.start();
  translator.failNext = 2;
  feed.push([a(1, G1, L1)]);
  await time.until('the rule', () => translator.rules.has(key(G1)), 5000);
  assert.ok(translator.rules.has(key(G1)));
  assert.ok(agent.status.failures >= 2);
  assert.ok(lines.some((l) => l.startsWith('warn failed: translate') && l.includes('map update failed')));
  await agent.stop();
});

test('after a new watcher id, removals wait for the settle period while additions go ahead', async () => {
  const { feed, translator, joiner, agent } = setup({ settleMs: 300 });
  await agent.start();
  feed.status({ connected: true, watcherId: 'w1', mode: 'push' });
  let done = reconciled(agent);
  feed.push([a(1, G1, L1)]);
  await done;
  feed.status({ connected: true, watcherId: 'w2', mode: 'push' }); // server lost our watcher
  done = reconciled(agent);
  feed.push([a(7, G2, L2)]); // G1's egress has not re-registered yet
  await done;
  assert.ok(translator.rules.has(key(G1)), 'G1 still translated while settling');
  assert.ok(translator.rules.has(key(G2)));
  done = reconciled(agent);
  await done; // the settle timer's pass
  assert.ok(!translator.rules.has(key(G1)), 'G1 removed after the settle period');
  assert.deepEqual(joiner.ops, [`join ${key(G1)}`, `join ${key(G2)}`, `leave ${key(G1)}`]);
  await agent.stop();
});

test('stop leaves, detaches and writes the joinfile empty; the joinfile tracks the carried set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-ingress-'));
  try {
    const path = join(dir, 'ingress-joined.sgs');
    const { feed, translator, joiner, agent } = setup({ joinfile: path });
    await agent.start();
    let done = reconciled(agent);
    feed.push([a(2, G2, L2), a(1, G1, L1)]);
    await done;
    assert.equal(readFileSync(path, 'utf8'), `${key(G1)}\n${key(G2)}\n`);
    done = reconciled(agent);
    feed.push([a(2, G2, L2)]);
    await done;
    assert.equal(readFileSync(path, 'utf8'), `${key(G2)}\n`);
    await agent.stop();
    assert.equal(readFileSync(path, 'utf8'), '');
    assert.deepEqual(joiner.ops.slice(-1), ['close']);
    assert.deepEqual(translator.ops.slice(-1), ['detach']);
    assert.equal(feed.stopped, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

class BatchingTranslator extends FakeTranslator {
  async sync(rules: readonly TranslationRule[]): Promise<void> {
    this.ops.push(`sync ${rules.length}`);
    this.rules = new Map(rules.map((r) => [key(r.from), r]));
  }
}

test('many rule changes go to the kernel as one batch, in phase order around the joins and leaves', async () => {
  const feed = new FakeFeed();
  const translator = new BatchingTranslator();
  const joiner = new FakeJoiner();
  const agent = createAgent({ config, feed, translator, joiner, settleMs: 0 });
  await agent.start();
  const many = Array.from({ length: 5 }, (_, i) =>
    a(i + 1, { source: '23.212.185.4', group: `232.1.1.${i + 1}` }, { source: '10.99.0.1', group: `232.255.0.${i + 1}` }),
  );
  let done = reconciled(agent);
  feed.push(many);
  await done;
  assert.deepEqual(translator.ops, ['sync 5']);
  assert.equal(joiner.ops.length, 5);
  done = reconciled(agent);
  feed.push(many.slice(0, 1)); // four released
  await done;
  assert.deepEqual(translator.ops, ['sync 5', 'sync 1']);
  assert.deepEqual(joiner.ops.slice(5).map((o) => o.split(' ')[0]), ['leave', 'leave', 'leave', 'leave']);
  done = reconciled(agent);
  feed.push([...many.slice(0, 1), ...many.slice(1, 2)]); // one added: below the batch size, a plain upsert
  await done;
  assert.equal(translator.ops.at(-1), `upsert 23.212.185.4,232.1.1.2>10.99.0.1,232.255.0.2`);
  await agent.stop();
});

test('the periodic resync re-attaches through refresh() and repairs rules removed behind its back', async () => {
  const feed = new FakeFeed();
  let refreshed = 0;
  const translator = new (class extends FakeTranslator {
    async refresh() {
      refreshed++;
      return { reattached: ['up0'], rewritten: 0, missing: [] };
    }
  })();
  const joiner = new FakeJoiner();
  const agent = createAgent({ config, feed, translator, joiner, settleMs: 0, resyncMs: 50 });
  await agent.start();
  let done = reconciled(agent);
  feed.push([a(1, G1, L1)]);
  await done;
  translator.rules.clear(); // e.g. someone ran bpftool map delete
  await time.until('the rule back', () => translator.rules.has(key(G1)), 5000);
  assert.ok(translator.rules.has(key(G1)), 'the rule is back');
  assert.ok(refreshed >= 1);
  assert.ok(lines.some((l) => l.startsWith('warn translator re-attached')));
  await agent.stop();
});

test('a channel that cannot be carried is reported once, not on every pass', async () => {
  const feed = new FakeFeed();
  const translator = new FakeTranslator();
  const joiner = new FakeJoiner();
  const agent = createAgent({ config: { ...config, monitors: ['2001:db8::/32'] }, feed, translator, joiner, settleMs: 0 });
  await agent.start();
  const before = lines.filter((l) => l.startsWith('warn assigned channel not carried')).length;
  for (let i = 0; i < 3; i++) {
    const done = reconciled(agent);
    feed.push([a(1, G1, L1), a(2 + i, G2, L2)]); // G1 is outside the monitor each time
    await done;
  }
  assert.equal(lines.filter((l) => l.startsWith('warn assigned channel not carried')).length - before, 1);
  await agent.stop();
});

test('the status file follows every pass (channels, counters) and is removed on stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnat-ingress-status-'));
  try {
    const statusFile = join(dir, 'sub', 'ingress.json');
    const feed = new FakeFeed();
    const translator = new (class extends FakeTranslator {
      async counters() {
        return Object.assign([{ from: G1, packets: 10, bytes: 640 }], { drops: { ttl: 0 } });
      }
    })();
    const joiner = new FakeJoiner();
    const agent = createAgent({ config, feed, translator, joiner, settleMs: 0, resyncMs: 30, statusFile, serverOrigin: 'https://s:8443' });
    await agent.start();
    const done = reconciled(agent);
    feed.push([a(1, G1, L1)]);
    await done;
    const read = () => JSON.parse(readFileSync(statusFile, 'utf8'));
    await time.until('counters in the status file', () => read().channels[0]?.packets !== undefined, 3000);
    const st = read();
    assert.equal(st.component, 'mnat-ingress');
    assert.equal(st.server.origin, 'https://s:8443');
    assert.deepEqual(st.channels, [{ id: 1, global: key(G1), local: key(L1), status: 'carried', joined: true, packets: 10, bytes: 640 }]);
    await agent.stop();
    assert.throws(() => readFileSync(statusFile, 'utf8'), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
