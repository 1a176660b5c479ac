// The receiver's make-before-break between local mappings, with scripted links
// and a virtual clock: no datagram lost at the switch, none delivered twice or
// after its link closed, the old link closed after the drain (or the overlap
// limit), unassigned closes everything. Then the receiver itself over a
// scripted server: mapped → re-mapped → unassigned events, and close()
// withdrawing the join.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSwitcher, type Link } from '../../src/receiver/switcher.ts';
import { MnatReceiver } from '../../src/receiver/receiver.ts';
import type { Host, HttpRequest, HttpResponse, HttpStreamHandlers, TimerHandle } from '../../src/host/host.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { LocalMapping } from '../../src/protocol/model.ts';

/** A virtual clock: timers fire only when advanced. */
function virtualClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn: () => void, ms: number): TimerHandle {
      timers.set(++seq, { at: now + ms, fn });
      return seq as unknown as TimerHandle;
    },
    clearTimeout(h: TimerHandle): void {
      timers.delete(h as unknown as number);
    },
    advance(ms: number): void {
      const end = now + ms;
      for (;;) {
        const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at).find(([, t]) => t.at <= end);
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
    get pending() {
      return timers.size;
    },
  };
}

interface FakeLink extends Link {
  local: LocalMapping;
  open: boolean;
  send(seq: number): void;
}

function harness(opts: { drainMs?: number; overlapMs?: number } = {}) {
  const clock = virtualClock();
  const links: FakeLink[] = [];
  const delivered: Array<{ seq: number; via: string }> = [];
  const switched: string[] = [];
  const name = (l: LocalMapping): string => ('asmGroup' in l ? `*,${l.asmGroup}` : `${l.source},${l.group}`);
  const sw = createSwitcher({
    open(local, deliver) {
      const link: FakeLink = {
        local,
        open: true,
        close() {
          link.open = false;
        },
        // The network: a datagram on this local channel reaches the socket only while it is open.
        send(seq) {
          if (link.open) deliver(new Uint8Array([seq]), 'asmGroup' in local ? '10.0.0.9' : local.source, 5000);
        },
      };
      links.push(link);
      return link;
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    onDatagram: (p, info) => delivered.push({ seq: p[0]!, via: name(info.local) }),
    onSwitched: (from, to, reason) => switched.push(`${name(from)} -> ${name(to)} ${reason}`),
    ...opts,
  });
  return { sw, clock, links, delivered, switched };
}

const A: LocalMapping = { source: '10.0.0.150', group: '232.255.0.10' };
const B: LocalMapping = { source: '10.0.0.151', group: '232.255.0.11' };
const C: LocalMapping = { source: '10.0.0.152', group: '232.255.0.12' };

test('make-before-break: the new link opens first; the old one closes a drain after the first new datagram', () => {
  const { sw, clock, links, delivered, switched } = harness({ drainMs: 200, overlapMs: 10_000 });
  sw.set(A);
  links[0]!.send(1);
  links[0]!.send(2);
  sw.set(B); // the server re-mapped: both links are open now
  assert.equal(links.length, 2);
  assert.ok(links[0]!.open && links[1]!.open, 'make before break');
  assert.ok(sw.switching);
  links[0]!.send(3); // still in flight on the old path
  links[1]!.send(4); // the ingress switched: the first datagram on the new path
  clock.advance(100);
  links[0]!.send(5); // a straggler within the drain is still delivered (it is not a duplicate: each datagram takes one path)
  assert.ok(links[0]!.open);
  clock.advance(100);
  assert.equal(links[0]!.open, false, 'the old link closed 200 ms after the new one delivered');
  links[0]!.send(6); // closed: never delivered
  links[1]!.send(7);
  assert.deepEqual(delivered.map((d) => d.seq), [1, 2, 3, 4, 5, 7]);
  assert.deepEqual(delivered.map((d) => d.via), ['10.0.0.150,232.255.0.10', '10.0.0.150,232.255.0.10', '10.0.0.150,232.255.0.10', '10.0.0.151,232.255.0.11', '10.0.0.150,232.255.0.10', '10.0.0.151,232.255.0.11']);
  assert.deepEqual(switched, ['10.0.0.150,232.255.0.10 -> 10.0.0.151,232.255.0.11 drained']);
  assert.equal(sw.switching, false);
  assert.equal(clock.pending, 0);
});

test('a silent new path: the old link closes at the overlap limit, not before', () => {
  const { sw, clock, links, switched } = harness({ drainMs: 200, overlapMs: 5000 });
  sw.set(A);
  sw.set(B);
  clock.advance(4999);
  assert.ok(links[0]!.open, 'still open while the new path has said nothing');
  clock.advance(1);
  assert.equal(links[0]!.open, false);
  assert.deepEqual(switched, ['10.0.0.150,232.255.0.10 -> 10.0.0.151,232.255.0.11 timeout']);
});

test('the same mapping again changes nothing; a third mapping during a switch closes the oldest at once', () => {
  const { sw, clock, links } = harness();
  sw.set(A);
  sw.set({ ...A });
  assert.equal(links.length, 1, 'no reopen for an equal mapping');
  sw.set(B);
  sw.set(C);
  assert.deepEqual(links.map((l) => l.open), [false, true, true], 'A closed, B (old) and C (new) open');
  links[2]!.send(1);
  clock.advance(200);
  assert.deepEqual(links.map((l) => l.open), [false, false, true]);
});

test('unassigned (null) and close() close every link; late datagrams are dropped', () => {
  const { sw, clock, links, delivered } = harness();
  sw.set(A);
  sw.set(B);
  sw.set(null);
  assert.deepEqual(links.map((l) => l.open), [false, false]);
  assert.equal(sw.current, null);
  assert.equal(clock.pending, 0, 'no timer left behind');
  sw.set(C);
  sw.close();
  links[2]!.send(9);
  assert.deepEqual(delivered, []);
});

test('ASM and SSM mappings of the same group: break before make (an ASM socket would take both)', () => {
  const { sw, links } = harness();
  sw.set({ asmGroup: '232.255.0.10' });
  sw.set(A);
  assert.deepEqual(links.map((l) => l.open), [false, true]);
});

test('a link that cannot open leaves the current one receiving', () => {
  const clock = virtualClock();
  let fail = false;
  const opened: LocalMapping[] = [];
  const sw = createSwitcher({
    open(local) {
      if (fail) throw new Error('bind failed');
      opened.push(local);
      return { close() {} };
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    onDatagram() {},
  });
  sw.set(A);
  fail = true;
  assert.throws(() => sw.set(B), /bind failed/);
  assert.deepEqual(sw.current, A);
  assert.equal(sw.switching, false);
});

// ------------------------------------------------------------ the receiver over a scripted server

function mappedSg(id: number, local: LocalMapping | null): unknown {
  return {
    id,
    state: local ? 'ietf-mnat:assigned-local-multicast' : 'ietf-mnat:unassigned',
    'global-subscription': { source: '23.212.185.4', group: '232.1.1.1' },
    ...(local && !('asmGroup' in local) ? { 'local-mapping': { source: local.source, group: local.group } } : {}),
  };
}

test('the receiver: PUTs the join, follows the push stream (mapped, re-mapped, unassigned), close() withdraws the join', async () => {
  const clock = virtualClock();
  const requests: string[] = [];
  let push: HttpStreamHandlers | null = null;
  const transport = {
    async request(req: HttpRequest): Promise<HttpResponse> {
      requests.push(`${req.method} ${req.path}${req.body ? ` ${req.body}` : ''}`);
      if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w1', 'refresh-period': 10 } }) };
      if (req.path.endsWith('establish-subscription')) {
        return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-subscribed-notifications:output': { id: 1, 'ietf-restconf-subscribed-notifications:uri': '/restconf/subscriptions/1.x' } }) };
      }
      return { status: 204, headers: {}, body: '' };
    },
    stream(_req: HttpRequest, handlers: HttpStreamHandlers) {
      push = handlers;
      handlers.onResponse(200, {});
      return { close() {} };
    },
    close() {},
  };
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const host: Host = { ...createNodeHost(quiet), setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, httpTransport: () => transport };
  const links: Array<{ local: LocalMapping; open: boolean; deliver: (p: Uint8Array, a: string, port: number) => void }> = [];
  const rx = new MnatReceiver({
    source: '23.212.185.4',
    group: '232.1.1.1',
    port: 5000,
    server: 'https://mnat.isp.example:8443/restconf',
    host,
    openLink(local, deliver) {
      const l = { local, open: true, deliver };
      links.push(l);
      return { close: () => void (l.open = false) };
    },
  });
  const events: string[] = [];
  rx.on('mapped', (m) => events.push(`mapped ${'asmGroup' in m.local ? '' : m.local.group} id ${m.id}`));
  rx.on('unassigned', (c) => events.push(`unassigned ${c.group}`));
  rx.on('switched', (_f, to, reason) => events.push(`switched to ${'asmGroup' in to ? '' : to.group} ${reason}`));
  const got: number[] = [];
  rx.on('message', (p, info) => got.push(p[0]!) && assert.deepEqual(info.channel, { source: '23.212.185.4', group: '232.1.1.1' }));
  await rx.open();
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      clock.advance(0);
      await new Promise((r) => setImmediate(r));
    }
  };
  await settle();
  assert.ok(requests.some((r) => r.startsWith('PUT /restconf/data/ietf-mnat:egress-global-joined/watcher=w1') && r.includes('"source":"23.212.185.4","group":"232.1.1.1"')), 'the join is PUT');
  assert.ok(push, 'push stream open');
  const send = (obj: unknown): void => push!.onData(`data: ${JSON.stringify(obj)}\n\n`);
  const update = (entries: unknown[]): void =>
    send({ 'ietf-restconf:notification': { 'ietf-yang-push:push-update': { 'datastore-contents': { 'ietf-mnat:assigned-channels': { watcher: [{ id: 'w1', 'mapped-sg': entries }] } } } } });
  update([]); // the server has not seen the join yet: nothing to do
  update([mappedSg(7, A)]);
  assert.deepEqual(links.map((l) => l.local), [A]);
  links[0]!.deliver(new Uint8Array([1]), A.source, 5000);
  update([mappedSg(7, B)]); // re-mapped
  links[0]!.deliver(new Uint8Array([2]), A.source, 5000);
  links[1]!.deliver(new Uint8Array([3]), B.source, 5000);
  clock.advance(200);
  assert.deepEqual(links.map((l) => l.open), [false, true]);
  update([mappedSg(7, null)]); // pool exhausted
  assert.deepEqual(links.map((l) => l.open), [false, false]);
  assert.deepEqual(got, [1, 2, 3]);
  assert.deepEqual(events, ['mapped 232.255.0.10 id 7', 'mapped 232.255.0.11 id 7', 'switched to 232.255.0.11 drained', 'unassigned 232.1.1.1']);
  await rx.close();
  assert.equal(requests.at(-1), 'DELETE /restconf/data/ietf-mnat:egress-global-joined/watcher=w1');
});

test('the receiver refuses what it cannot carry before touching the network', () => {
  assert.throws(() => new MnatReceiver({ source: '23.212.185.4', group: '239.1.1.1', port: 5000 }), /239\.1\.1\.1 is not a source-specific multicast group/);
  assert.throws(() => new MnatReceiver({ source: '23.212.185.4', group: '232.1.1.1', port: 70000 }), /port 70000/);
  assert.throws(() => new MnatReceiver({ source: '232.1.1.2', group: '232.1.1.1', port: 5000 }), /not a unicast address/);
});
