// The egress controller against a scripted machine: `ip`/`bridge` answers come
// from tables the test edits, monitors are line streams the test writes to,
// the server feed, translator and joiner record what they are asked, and time
// is virtual (fixtures/virtual-time.ts): the test moves it.
// (The real thing runs in test/lab/egress.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { channelKey, type Channel } from '../../src/core/channel.ts';
import type { EgressSettings } from '../../src/egress/config/egress-options.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';
import type { ExecResult, Host, LogFields } from '../../src/host/host.ts';
import { createEgressAgent, REMAP_OVERLAP_MS } from '../../src/egress/egress-agent.ts';
import type { AssignmentFeed, FeedStatus, Joiner, RuleTable } from '../../src/agent/ports.ts';
import type { TranslationRule } from '../../src/dataplane/translator.ts';
import { createLevelLogger } from '../../src/host/level-log.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const G1: Channel = { source: '198.51.100.2', group: '232.1.1.1' };
const G2: Channel = { source: '198.51.100.2', group: '232.1.1.2' };
const L1: Channel = { source: '10.0.0.1', group: '239.77.0.1' };
const L2: Channel = { source: '10.0.0.1', group: '239.77.0.2' };

class Machine {
  links = new Map<string, { ifindex: number; bridge?: Record<string, number> }>([
    ['wan', { ifindex: 2 }],
    ['br-lan', { ifindex: 4, bridge: { mcast_snooping: 1, mcast_querier: 0, mcast_igmp_version: 2, mcast_mld_version: 1 } }],
  ]);
  mdb: Array<Record<string, unknown>> = [];
  files = new Map<string, string>();
  execs: string[][] = [];
  monitors: Array<{ argv: readonly string[]; onLine: (l: string) => void }> = [];
  logs: string[] = [];
  stdbuf = true;
  readonly time = createVirtualTime();

  join(port: string, c: Channel): void {
    this.mdb.push({ index: 4, dev: 'br-lan', port, grp: c.group, src: c.source, state: 'temp', filter_mode: 'include', flags: [] });
    this.event(`dev br-lan port ${port} grp ${c.group} src ${c.source} temp`);
  }
  leave(port: string, c: Channel): void {
    this.mdb = this.mdb.filter((e) => !(e.port === port && e.grp === c.group && e.src === c.source));
    this.event(`Deleted dev br-lan port ${port} grp ${c.group} src ${c.source} temp`);
  }
  event(line: string): void {
    for (const m of this.monitors) if (m.argv.includes('mdb')) m.onLine(line);
  }
  linkEvent(name: string): void {
    for (const m of this.monitors) if (m.argv.includes('link')) m.onLine(`9: ${name}: <BROADCAST,MULTICAST,UP> mtu 1500`);
  }

  /** `ip -batch -` lines, one entry per exec. */
  batches: string[][] = [];

  async exec(argv: readonly string[], input?: string): Promise<ExecResult> {
    this.execs.push([...argv]);
    const ok = (stdout: string): ExecResult => ({ code: 0, stdout, stderr: '' });
    if (argv[0] === 'ip' && argv.includes('show')) {
      const name = argv[argv.length - 1]!;
      const l = this.links.get(name);
      if (!l) return { code: 1, stdout: '', stderr: `Device "${name}" does not exist.\n` };
      return ok(JSON.stringify([{ ifindex: l.ifindex, ifname: name, flags: ['UP'], operstate: 'UP', ...(l.bridge ? { linkinfo: { info_kind: 'bridge', info_data: l.bridge } } : {}) }]));
    }
    if (argv.join(' ') === 'ip -batch -') {
      const lines = (input ?? '').trim().split('\n');
      this.batches.push(lines);
      for (const line of lines) {
        const w = line.split(' '); // link set dev NAME type bridge K V ...
        const l = this.links.get(w[3]!)!;
        for (let i = 6; i + 1 < w.length; i += 2) l.bridge![w[i]!] = Number(w[i + 1]);
      }
      return ok('');
    }
    if (argv[0] === 'bridge') {
      if (!this.links.has('br-lan')) return { code: 255, stdout: '', stderr: 'Cannot find device "br-lan"\n' };
      return ok(JSON.stringify([{ mdb: this.mdb, router: {} }]));
    }
    return { code: 127, stdout: '', stderr: `${argv[0]}: not scripted\n` };
  }

  host(): Host {
    const log = (level: string) => (m: string, f?: LogFields) => this.logs.push(`${level} ${m}${f ? ' ' + JSON.stringify(f) : ''}`);
    const t = this.time;
    return {
      runtime: 'node',
      log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
      pid: null,
      exec: (argv, o) => this.exec(argv, o?.input),
      spawnLines: (argv, onLine) => {
        const m = { argv, onLine };
        this.monitors.push(m);
        return { kill: () => void (this.monitors = this.monitors.filter((x) => x !== m)) };
      },
      readFile: (p) => this.files.get(p) ?? null,
      writeFileAtomic: (p, d) => void this.files.set(p, d),
      removeFile: (p) => void this.files.delete(p),
      fileExists: (p) => (this.stdbuf && p === '/usr/bin/stdbuf') || this.files.has(p),
      fileMtimeMs: () => null,
      makeDirectory: () => undefined,
      now: t.now,
      wallClock: t.wallClock,
      setTimeout: t.setTimeout,
      clearTimeout: t.clearTimeout,
      onSignal: () => undefined,
      httpTransport: () => {
        throw new Error('no HTTP here');
      },
      exit: () => {
        throw new Error('exit');
      },
    };
  }
}

class Feed implements AssignmentFeed<Channel> {
  puts: string[][] = [];
  stopped = false;
  /** The kernel's operations when start() was called. */
  kernelOpsAtStart: string[] | null = null;
  onStart: () => void = () => undefined;
  private onAssign: (c: MappedChannel[]) => void = () => undefined;
  private onStatus: (s: FeedStatus) => void = () => undefined;
  start(): void {
    this.onStart();
    this.onStatus({ connected: true, watcherId: 'secret-watcher-id-123', mode: 'push' });
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  setDesired(channels: readonly Channel[]): void {
    this.puts.push(channels.map(channelKey));
  }
  on(event: 'assignments' | 'status', fn: never): void {
    if (event === 'assignments') this.onAssign = fn;
    else this.onStatus = fn;
  }
  assign(list: Array<[Channel, Channel | null]>): void {
    this.onAssign(list.map(([g, l], i) => ({ id: i + 1, global: g, state: l ? 'assigned' : 'unassigned', local: l })));
  }
}

/**
 * Translator and joiner in one, checking make-before-break as the kernel sees
 * it: a WAN join only where the rule translates, a rule removed only after its
 * WAN leave. Breaches are recorded in `violations`.
 */
class Kernel implements RuleTable, Joiner {
  ops: string[] = [];
  rules = new Map<string, string>();
  joins = new Map<string, { channel: Channel; device: string }>();
  violations: string[] = [];
  failNextUpsert = 0;
  failNextSync = 0;
  /** A dead predecessor's rule sources (what the translator found cleaning up) and the joins smcrouted still holds. */
  stale: Channel[] = [];
  held: Channel[] = [];
  constructor(private readonly time: { sleep(ms: number): Promise<void> }) {}
  async attach(device: string): Promise<void> {
    await this.time.sleep(5); // tc takes a while; "attach" is logged once it is done
    this.ops.push(`attach ${device}`);
  }
  async upsert(rule: TranslationRule): Promise<void> {
    if (this.failNextUpsert > 0) {
      this.failNextUpsert--;
      throw new Error('bpftool: map update failed');
    }
    this.ops.push(`upsert ${channelKey(rule.from)}>${channelKey(rule.to)}@${rule.outputs.join('+')}`);
    this.rules.set(channelKey(rule.from), channelKey(rule.to));
  }
  async remove(from: Channel): Promise<void> {
    this.ops.push(`remove ${channelKey(from)}`);
    this.dropRule(channelKey(from));
  }
  async sync(rules: readonly TranslationRule[]): Promise<void> {
    if (this.failNextSync > 0) {
      this.failNextSync--;
      throw new Error('bpftool: batch failed');
    }
    this.ops.push(`sync ${rules.map((r) => `${channelKey(r.from)}>${channelKey(r.to)}`).join(' ')}`);
    const keep = new Set(rules.map((r) => channelKey(r.from)));
    for (const k of [...this.rules.keys()]) if (!keep.has(k)) this.dropRule(k);
    for (const r of rules) this.rules.set(channelKey(r.from), channelKey(r.to));
  }
  private dropRule(k: string): void {
    if ([...this.joins.values()].some((j) => channelKey(j.channel) === k)) this.violations.push(`rule ${k} removed while joined`);
    this.rules.delete(k);
  }
  async joinMany(items: ReadonlyArray<{ channel: Channel; device: string }>): Promise<Array<Error | null>> {
    this.ops.push(`joinMany ${items.length}`);
    return Promise.all(items.map((j) => this.join(j.channel, j.device).then(() => null)));
  }
  async counters() {
    return Object.assign([...this.rules.keys()].map((k) => ({ from: { source: k.split(',')[0]!, group: k.split(',')[1]! }, packets: 7, bytes: 700 })), { drops: { ttl: 0 } });
  }
  async detach(): Promise<void> {
    this.ops.push('detach');
    this.rules.clear();
  }
  async join(channel: Channel, device: string): Promise<void> {
    if (!this.rules.has(channelKey(channel))) this.violations.push(`join ${channelKey(channel)} before its rule`);
    this.ops.push(`join ${channelKey(channel)}@${device}`);
    this.joins.set(`${device}|${channelKey(channel)}`, { channel, device });
  }
  async leave(channel: Channel, device: string): Promise<void> {
    this.ops.push(`leave ${channelKey(channel)}@${device}`);
    this.joins.delete(`${device}|${channelKey(channel)}`);
  }
  joined() {
    return [...this.joins.values()];
  }
  async close(): Promise<void> {
    for (const j of this.joined()) await this.leave(j.channel, j.device);
  }
  takeStaleRules(): Channel[] {
    const r = this.stale;
    this.stale = [];
    return r;
  }
  async adopt(channels: readonly Channel[], device: string): Promise<number> {
    const mine = channels.filter((c) => this.held.some((h) => channelKey(h) === channelKey(c)));
    for (const channel of mine) this.joins.set(`${device}|${channelKey(channel)}`, { channel, device });
    this.ops.push(`adopt ${mine.map(channelKey).join(' ')}@${device}`);
    return mine.length;
  }
}

const SETTINGS: EgressSettings = {
  upstream: 'wan',
  downstream: 'br-lan',
  target: { origin: 'https://mnat.example.net:8443' },
  apiRoot: '/restconf',
  push: true,
  mqtt: null,
  membership: 'mdb',
  controlFile: null,
  joinBackend: 'socket',
  smcrouteSocket: undefined,
  maxChannels: 8,
  bridgeSetup: true,
  statusFile: '/run/mnat/egress.json',
  bpfObject: undefined,
  pinRoot: undefined,
  instance: 'egress-wan',
  logLevel: 'debug',
};

// A failed assertion must not leave an agent running.
const agents: Array<{ stop(): Promise<boolean>; machine: Machine }> = [];
after(async () => {
  for (const a of agents) {
    let done = false;
    void a.stop().finally(() => (done = true));
    await a.machine.time.until('stop', () => done);
  }
});

/** Awaits p, moving virtual time while it waits for timers. */
async function settled<T>(m: Machine, p: Promise<T>): Promise<T> {
  let done = false;
  const r = p.finally(() => (done = true));
  await m.time.until('the call to return', () => done);
  return r;
}

/** An agent on the machine's host and kernel (not started); feeds record the kernel's operations when they start. */
function makeAgent(m: Machine, kernel: Kernel, settings: EgressSettings) {
  const host = m.host();
  const feeds: Feed[] = [];
  const agent = createEgressAgent({
    host,
    log: createLevelLogger(host.log, 'debug'),
    settings,
    createFeed: () => {
      const f = new Feed();
      f.onStart = () => (f.kernelOpsAtStart = [...kernel.ops]);
      feeds.push(f);
      return f;
    },
    translator: kernel,
    joiner: kernel,
    countersMs: 20,
  });
  return { agent, feeds, host };
}

async function setup(settings: Partial<EgressSettings> = {}, machine = new Machine(), prepare: (k: Kernel) => void = () => undefined) {
  const m = machine;
  const kernel = new Kernel(m.time);
  prepare(kernel);
  const { agent, feeds, host } = makeAgent(m, kernel, { ...SETTINGS, ...settings });
  agents.push({ stop: () => agent.stop(), machine: m });
  await settled(m, agent.start());
  return {
    m,
    agent: {
      status: () => agent.status(),
      reload: (next: EgressSettings) => settled(m, agent.reload(next)),
      stop: () => settled(m, agent.stop()),
    },
    kernel,
    feed: () => feeds[feeds.length - 1]!,
    feeds,
  };
}

test('start: the bridge is set to IGMPv3/MLDv2, then querier, in one exec, and the changes are logged; the translator attaches', async () => {
  const { m, agent, kernel } = await setup();
  await m.time.until('bridge set', () => m.batches.length > 0);
  assert.deepEqual(m.batches, [['link set dev br-lan type bridge mcast_igmp_version 3 mcast_mld_version 2', 'link set dev br-lan type bridge mcast_querier 1']]);
  await m.time.until('logs', () => m.logs.filter((l) => l.startsWith('info bridge setting changed')).length === 3);
  await m.time.until('attach', () => kernel.ops.includes('attach wan'));
  assert.ok(m.monitors.some((x) => x.argv.join(' ') === '/usr/bin/stdbuf -oL bridge monitor mdb'));
  await agent.stop();
});

test('start: the translator is attached before the server client starts (a clsact added later can cost its SYN 1 s)', async () => {
  const { agent, feed } = await setup();
  assert.deepEqual(feed().kernelOpsAtStart, ['attach wan']);
  await agent.stop();
});

test('start: without the upstream device the server client starts at once', async () => {
  const m = new Machine();
  m.links.delete('wan');
  const { agent, feed } = await setup({}, m);
  assert.deepEqual(feed().kernelOpsAtStart, []);
  await agent.stop();
});

test('LAN joins -> PUT -> assignment -> rule + WAN join; a second host keeps it; the last leave removes it', async () => {
  const { m, agent, kernel, feed } = await setup();
  m.join('lan1', G1);
  await m.time.until('PUT', () => feed().puts.some((p) => p.includes(channelKey(G1))));
  feed().assign([[G1, L1]]);
  await m.time.until('rule and join', () => kernel.rules.size === 1 && kernel.joins.size === 1);
  assert.deepEqual(kernel.ops.filter((o) => o !== 'attach wan'), [`upsert ${channelKey(L1)}>${channelKey(G1)}@br-lan`, `join ${channelKey(L1)}@wan`]);

  m.join('lan2', G1);
  m.leave('lan1', G1);
  await m.time.advance(50);
  assert.equal(kernel.rules.size, 1, 'one host leaving keeps the channel');
  assert.deepEqual(feed().puts[feed().puts.length - 1], [channelKey(G1)]);

  // The status file: the channel, its holder, the redacted watcher id, counters.
  await m.time.until('counters in the status', () => (m.files.get('/run/mnat/egress.json') ?? '').includes('"packets": 7'));
  const st = JSON.parse(m.files.get('/run/mnat/egress.json')!);
  assert.deepEqual(st.channels[0].holders, ['mdb:lan2']);
  assert.equal(st.channels[0].status, 'active');
  assert.equal(st.server.watcher, 'secret…');
  assert.ok(!m.files.get('/run/mnat/egress.json')!.includes('secret-watcher-id-123'));

  m.leave('lan2', G1);
  await m.time.until('removed', () => kernel.rules.size === 0 && kernel.joins.size === 0);
  assert.deepEqual(kernel.ops.slice(-2), [`leave ${channelKey(L1)}@wan`, `remove ${channelKey(L1)}`]);
  assert.deepEqual(feed().puts[feed().puts.length - 1], []);
  await agent.stop();
});

test('a failed rule is retried with backoff; a new server keeps the working translation until it answers', async () => {
  const { m, agent, kernel, feed, feeds } = await setup();
  kernel.failNextUpsert = 1;
  m.join('lan1', G1);
  await m.time.until('PUT', () => feed().puts.length > 0 && feed().puts[feed().puts.length - 1]!.length === 1);
  feed().assign([[G1, L1]]);
  await m.time.until('retried', () => kernel.rules.size === 1, 3000);
  assert.ok(m.logs.some((l) => l.startsWith('warn failed: translate')));

  await agent.reload({ ...SETTINGS, target: { origin: 'https://other.example.net:8443' } });
  assert.equal(feeds.length, 2);
  assert.equal(feeds[0]!.stopped, true);
  assert.deepEqual(feed().puts[0], [channelKey(G1)], 'the new server gets the full set');
  await m.time.advance(50);
  assert.equal(kernel.rules.size, 1, 'held while the new server has not answered');
  feed().assign([[G1, L2]]);
  await m.time.until('remapped', () => kernel.rules.has(channelKey(L2)) && !kernel.rules.has(channelKey(L1)));
  assert.deepEqual([...kernel.joins.values()].map((j) => channelKey(j.channel)), [channelKey(L2)]);
  await agent.stop();
});

test('WAN re-created (new ifindex): detach, attach, re-upsert, re-join; missing LAN bridge keeps the joins', async () => {
  const { m, agent, kernel, feed } = await setup();
  m.join('lan1', G1);
  await m.time.until('PUT', () => feed().puts.some((p) => p.length === 1));
  feed().assign([[G1, L1]]);
  await m.time.until('active', () => kernel.joins.size === 1);
  kernel.ops = [];
  m.links.delete('wan');
  m.linkEvent('wan');
  await m.time.until('gone', () => kernel.ops.includes('detach') && kernel.joins.size === 0);
  m.links.set('wan', { ifindex: 12 });
  m.linkEvent('wan');
  await m.time.until('back', () => kernel.joins.size === 1 && kernel.rules.size === 1);
  assert.deepEqual(kernel.ops, ['detach', `leave ${channelKey(L1)}@wan`, 'attach wan', `upsert ${channelKey(L1)}>${channelKey(G1)}@br-lan`, `join ${channelKey(L1)}@wan`]);

  // The LAN bridge disappears: the snooping table cannot be read, joins stay.
  m.links.delete('br-lan');
  m.linkEvent('br-lan');
  m.event('dev br-lan port lan1 grp 232.1.1.9 temp');
  await m.time.until('warned', () => m.logs.some((l) => l.startsWith('warn cannot read the snooping table')));
  assert.equal(kernel.rules.size, 1);
  await agent.stop();
});

test('LAN bridge re-created during a re-mapping: the wanted rule is rewritten for the new bridge, the one kept for the overlap still leaves the kernel', async () => {
  const { m, agent, kernel, feed } = await setup();
  m.join('lan1', G1);
  await m.time.until('PUT', () => feed().puts.some((p) => p.length === 1));
  feed().assign([[G1, L1]]);
  await m.time.until('active', () => kernel.joins.size === 1);
  feed().assign([[G1, L2]]); // L1 is kept beside L2 for the overlap
  await m.time.until('both', () => kernel.rules.size === 2 && kernel.joins.size === 2);
  kernel.ops = [];
  m.links.set('br-lan', { ...m.links.get('br-lan')!, ifindex: 40 });
  m.linkEvent('br-lan');
  await m.time.until('rewritten', () => kernel.ops.includes(`upsert ${channelKey(L2)}>${channelKey(G1)}@br-lan`));
  await m.time.advance(REMAP_OVERLAP_MS + 1000);
  assert.deepEqual([...kernel.rules.keys()], [channelKey(L2)], 'the old rule left the kernel after the overlap');
  assert.deepEqual([...kernel.joins.values()].map((j) => channelKey(j.channel)), [channelKey(L2)]);
  await agent.stop();
});

test('max channels on reload: the active channel stays, the newest is not carried; stop cleans up', async () => {
  const { m, agent, kernel, feed } = await setup();
  m.join('lan1', G1);
  m.join('lan1', G2);
  await m.time.until('PUT both', () => feed().puts.some((p) => p.length === 2));
  feed().assign([[G1, L1], [G2, L2]]);
  await m.time.until('both active', () => kernel.rules.size === 2);
  await agent.reload({ ...SETTINGS, maxChannels: 1 });
  await m.time.until('one left', () => kernel.rules.size === 1);
  assert.ok(kernel.rules.has(channelKey(L1)));
  assert.deepEqual(feed().puts[feed().puts.length - 1], [channelKey(G1)]);
  assert.ok(m.logs.some((l) => l.startsWith('warn channel not carried: max channels reached') && l.includes('232.1.1.2')));
  await m.time.until('status file', () => m.files.has('/run/mnat/egress.json'));
  assert.equal(await agent.stop(), true, 'a clean stop');
  assert.equal(kernel.joins.size, 0);
  assert.ok(kernel.ops.includes('detach'));
  assert.equal(m.files.has('/run/mnat/egress.json'), false);
  assert.equal(m.monitors.length, 0, 'monitors are stopped');
});

test('a burst: one translator batch for the rules, then the WAN joins as one batch; make-before-break; each change logged once with its reason', async () => {
  const { m, agent, kernel, feed } = await setup();
  const G = [1, 2, 3, 4].map((i) => ({ source: '198.51.100.2', group: `232.1.1.${i}` }));
  const L = [1, 2, 3, 4, 5].map((i) => ({ source: '10.0.0.1', group: `239.77.0.${i}` }));
  for (const g of G.slice(0, 3)) m.join('lan1', g);
  await m.time.until('PUT all', () => feed().puts.some((p) => p.length === 3));
  feed().assign([[G[0]!, L[0]!], [G[1]!, L[1]!], [G[2]!, L[2]!]]);
  await m.time.until('active', () => kernel.joins.size === 3);
  const rules3 = [0, 1, 2].map((i) => `${channelKey(L[i]!)}>${channelKey(G[i]!)}`).join(' ');
  assert.deepEqual(kernel.ops.filter((o) => o !== 'attach wan'), [`sync ${rules3}`, 'joinMany 3', ...[0, 1, 2].map((i) => `join ${channelKey(L[i]!)}@wan`)]);
  for (const l of L.slice(0, 3)) {
    assert.equal(m.logs.filter((x) => x.startsWith(`info translate (${l.source},${l.group}) -> `) && x.includes('"reason":"LAN wants')).length, 1);
    assert.equal(m.logs.filter((x) => x.startsWith(`info join (${l.source},${l.group}) on wan`) && x.includes('"reason":"LAN wants')).length, 1);
  }

  // Remap G2 and G3 to other locals at once.
  kernel.ops = [];
  feed().assign([[G[0]!, L[0]!], [G[1]!, L[3]!], [G[2]!, L[4]!]]);
  // Make before break: the new rules beside the old ones (one batch), the new joins; the old locals stay for REMAP_OVERLAP_MS.
  const rule = (l: number, g: number): string => `${channelKey(L[l]!)}>${channelKey(G[g]!)}`;
  await m.time.until('remapped', () => kernel.rules.has(channelKey(L[4]!)) && kernel.joins.size === 5);
  assert.deepEqual(kernel.ops, [`sync ${[rule(0, 0), rule(1, 1), rule(2, 2), rule(3, 1), rule(4, 2)].join(' ')}`, 'joinMany 2', `join ${channelKey(L[3]!)}@wan`, `join ${channelKey(L[4]!)}@wan`]);
  kernel.ops = [];
  await m.time.until('old locals let go', () => kernel.joins.size === 3 && !kernel.rules.has(channelKey(L[1]!)), REMAP_OVERLAP_MS + 5000);
  // Then break: the old locals are left first, then their rules go (one batch).
  assert.deepEqual(kernel.ops, [`leave ${channelKey(L[1]!)}@wan`, `leave ${channelKey(L[2]!)}@wan`, `sync ${[rule(0, 0), rule(3, 1), rule(4, 2)].join(' ')}`]);
  assert.equal(m.logs.filter((x) => x.startsWith(`info stop translating (${L[1]!.source},${L[1]!.group})`) && x.includes('is now mapped to')).length, 1);

  // A failed batch is applied change by change; a rule that still fails holds back only its own join.
  kernel.ops = [];
  kernel.failNextSync = 1;
  kernel.failNextUpsert = 1;
  const G5 = { source: '198.51.100.2', group: '232.1.1.5' };
  const L6 = { source: '10.0.0.1', group: '239.77.0.6' };
  m.join('lan1', G[3]!);
  m.join('lan1', G5);
  await m.time.until('PUT', () => feed().puts.some((p) => p.length === 5));
  feed().assign([[G[0]!, L[0]!], [G[1]!, L[3]!], [G[2]!, L[4]!], [G[3]!, L[1]!], [G5, L6]]);
  await m.time.until('retried', () => kernel.rules.size === 5 && kernel.joins.size === 5, 3000);
  assert.ok(m.logs.some((x) => x.startsWith('warn failed: 2 translator changes in one batch; applying them one by one')), 'the batch failure is logged');
  assert.ok(m.logs.some((x) => x.startsWith(`warn failed: translate (${L[1]!.source},${L[1]!.group})`)), 'the failing rule is named');
  const firstJoin = kernel.ops.findIndex((o) => o.startsWith('join'));
  assert.deepEqual(kernel.ops.slice(0, firstJoin + 1), [`upsert ${channelKey(L6)}>${channelKey(G5)}@br-lan`, `join ${channelKey(L6)}@wan`], 'the channel whose rule failed is not joined');
  assert.deepEqual(kernel.violations, []);
  await agent.stop();
});

test('without stdbuf the snooping table is polled (every 2 s), and the log says so and what to install', async () => {
  const machine = new Machine();
  machine.stdbuf = false;
  const { m, agent } = await setup({}, machine);
  await m.time.until('monitor', () => m.monitors.some((x) => x.argv.includes('mdb')));
  assert.deepEqual(m.monitors.find((x) => x.argv.includes('mdb'))!.argv, ['bridge', 'monitor', 'mdb']);
  assert.ok(m.logs.some((l) => l.startsWith('warn stdbuf not found') && l.includes('"pollMs":2000') && l.includes('coreutils-stdbuf')), m.logs.join('\n'));
  // A join the monitor never reports is found by the next read of the table.
  const reads = (): number => m.execs.filter((a) => a[0] === 'bridge').length;
  await m.time.until('first read', () => reads() > 0);
  m.mdb.push({ index: 4, dev: 'br-lan', port: 'lan1', grp: G1.group, src: G1.source, state: 'temp', filter_mode: 'include', flags: [] });
  await m.time.until('polled', () => m.logs.some((l) => l.startsWith('info LAN joined') && l.includes(G1.group)), 3500);
  await agent.stop();
});

test("a dead predecessor's WAN joins are taken over after attach: none left before the server's first answer; then the unwanted one is left and the wanted one kept, not joined again", async () => {
  const { m, agent, kernel, feed } = await setup({}, new Machine(), (k) => {
    k.stale = [L1, L2];
    k.held = [L1, L2];
  });
  await m.time.until('adopted', () => kernel.ops.includes(`adopt ${channelKey(L1)} ${channelKey(L2)}@wan`));
  assert.ok(kernel.ops.indexOf('attach wan') < kernel.ops.indexOf(`adopt ${channelKey(L1)} ${channelKey(L2)}@wan`), 'after the translator found them');
  // The LAN's joins are read and the server not heard yet: the adopted joins stay.
  await m.time.advance(2_000);
  assert.ok(!kernel.ops.some((o) => o.startsWith('leave')), kernel.ops.join('\n'));
  m.join('lan1', G1);
  await m.time.until('the PUT', () => feed().puts.some((p) => p.includes(channelKey(G1))));
  feed().assign([[G1, L1]]);
  await m.time.until('L2 left', () => kernel.ops.includes(`leave ${channelKey(L2)}@wan`));
  await m.time.until('L1 translated', () => kernel.rules.get(channelKey(L1)) === channelKey(G1));
  assert.ok(!kernel.ops.some((o) => o === `join ${channelKey(L1)}@wan` || o === `leave ${channelKey(L1)}@wan`), 'L1 kept as it was');
  assert.deepEqual(kernel.violations, []);
  await agent.stop();
  assert.deepEqual(kernel.joined(), [], 'the stop leaves the adopted join too');
});

test('reload: the same servers in another order (DNS-SD shuffles equal-priority SRV records) keep the feed and its joins; another set or TLS file makes a new one', async () => {
  const first = { ...SETTINGS, target: { origin: 'https://a.isp.example:8443,https://b.isp.example:8443' } };
  const { m, agent, kernel, feeds } = await setup(first);
  m.join('lan1', G1);
  await m.time.until('PUT', () => feeds[0]!.puts.some((p) => p.length === 1));
  feeds[0]!.assign([[G1, L1]]);
  await m.time.until('active', () => kernel.joins.size === 1);
  await agent.reload({ ...first, target: { origin: 'https://b.isp.example:8443,https://a.isp.example:8443' } });
  assert.equal(feeds.length, 1, 'no new watcher');
  assert.equal(feeds[0]!.stopped, false, 'the joins are not withdrawn');
  assert.ok(m.logs.includes('info configuration reloaded {"changes":"none"}'), m.logs.join('\n'));
  await agent.reload({ ...first, target: { origin: 'https://b.isp.example:8443,https://a.isp.example:8443', caFile: '/etc/mnat/ca.pem' } });
  assert.equal(feeds.length, 2, 'a new CA file is a change');
  await agent.reload({ ...first, target: { origin: 'https://b.isp.example:8443,https://c.isp.example:8443', caFile: '/etc/mnat/ca.pem' } });
  assert.equal(feeds.length, 3, 'another server is a change');
  await agent.stop();
});

test('a stop (SIGTERM) while the first pass attaches the translator: nothing is started after it', async () => {
  const m = new Machine();
  const kernel = new Kernel(m.time);
  const { agent, feeds } = makeAgent(m, kernel, SETTINGS);
  const started = agent.start();
  await m.time.advance(1); // the attach takes 5 ms
  const stopped = agent.stop();
  await settled(m, Promise.all([started, stopped]));
  await m.time.advance(100);
  assert.equal(await stopped, true);
  assert.deepEqual(m.monitors.map((x) => x.argv.join(' ')), [], 'no monitor (bridge monitor mdb) left running');
  assert.ok(feeds.every((f) => f.kernelOpsAtStart === null), 'the server client was not started');
  assert.equal(m.files.has(SETTINGS.statusFile), false, 'no status file after the stop');
});
