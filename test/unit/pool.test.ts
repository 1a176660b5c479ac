import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress, parsePrefix, prefixContains } from '../../src/core/address.ts';
import { localGroup, type LocalMapping } from '../../src/protocol/model.ts';
import { FreeSet, Pool, PoolError, createSeededRandom, randomBelow } from '../../src/server/state/pool.ts';

const ch = (source: string, group: string) => ({ source, group });
const pool = (ranges: unknown[], extra: Record<string, unknown> = {}, seed = 1) =>
  Pool.fromJson({ 'group-pool': { ranges, ...extra } }, { random: createSeededRandom(seed) });

function poolError(fn: () => unknown, path: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PoolError, `expected PoolError, got ${String(e)}`);
    assert.equal(e.path, path);
    assert.match(e.message, message);
    return true;
  });
}

test('pool.json errors name the bad field by path', () => {
  poolError(() => Pool.parse('{"group-pool":'), '/', /not valid JSON/);
  poolError(() => Pool.fromJson({ 'group-pool': { ranges: [] } }), '/group-pool/ranges', /non-empty list/);
  poolError(() => Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.1.0.0/16', 'source-range': 'keep' }] }, extra: 1 }), '/extra', /unknown field "extra"/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'keep', colour: 'red' }]), '/group-pool/ranges[0]/colour', /unknown field "colour"/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'keep', exclude: [{ 'groupex-range': '232.1.0.0/24', x: 1 }] }]), '/group-pool/ranges[0]/exclude[0]/x', /unknown field/);
  poolError(() => pool([{ 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /required/);
  poolError(() => pool([{ 'group-range': '10.0.0.0/8', 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /not inside the multicast range/);
  poolError(() => pool([{ 'group-range': '232.1.0.1/16', 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /host bits set; did you mean 232.1.0.0\/16/);
  poolError(() => pool([{ 'group-range': 232, 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /must be a string/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': '233.0.0.0/24' }]), '/group-pool/ranges[0]/source-range', /unicast prefix/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'kept' }]), '/group-pool/ranges[0]/source-range', /not an IPv4 or IPv6 prefix/);
  poolError(() => pool([{ 'group-range': 'ff3e::/96', 'source-range': '10.0.0.0/24' }]), '/group-pool/ranges[0]/source-range', /IPv4 but group-range ff3e::\/96 is IPv6/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'keep', exclude: [{ 'groupex-range': '232.2.0.0/24' }] }]), '/group-pool/ranges[0]/exclude[0]/groupex-range', /not inside group-range/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'keep', exclude: { 'groupex-range': '232.1.0.0/24' } }]), '/group-pool/ranges[0]/exclude', /must be a list/);
  poolError(
    () => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'keep' }, { 'group-range': '232.1.128.0/24', 'source-range': 'keep' }]),
    '/group-pool/ranges[1]/group-range',
    /overlaps \/group-pool\/ranges\[0\]/,
  );
  poolError(() => pool([{ 'group-range': '224.0.0.0/16', 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /never forward/);
  poolError(() => pool([{ 'group-range': 'ff02::/96', 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /never forward/);
  poolError(() => pool([{ 'group-range': 'ff00::/8', 'source-range': 'keep' }]), '/group-pool/ranges[0]/group-range', /never forward/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16', 'source-range': 'asm' }]), '/group-pool/ranges[0]/group-range', /SSM range/);
  poolError(() => pool([{ 'group-range': 'ff3e::/96', 'source-range': 'asm' }]), '/group-pool/ranges[0]/group-range', /SSM range/);
  poolError(() => pool([{ 'group-range': '232.1.0.0/16' }], { 'default-source-range': 'nope' }), '/group-pool/default-source-range', /source-range/);
});

test('ranges, excludes, default-source-range, note', () => {
  const p = pool(
    [
      { 'group-range': '232.1.0.0/29', exclude: [{ 'groupex-range': '232.1.0.0/30' }, { 'groupex-range': '232.1.0.6/32' }], note: 'small' },
      { 'group-range': 'ff3e::/96', 'source-range': 'keep' },
    ],
    { 'default-source-range': '10.9.0.0/30' },
  );
  assert.equal(p.ranges[0]?.size, 3n);
  assert.deepEqual(p.ranges[0]?.source, { kind: 'prefix', prefix: '10.9.0.0/30' });
  assert.equal(p.ranges[0]?.note, 'small');
  assert.deepEqual(p.ranges[0]?.excludes, ['232.1.0.0/30', '232.1.0.6/32']);
  assert.equal(p.size(), 3n + (1n << 32n));
  const groups = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const l = p.allocate(ch('192.0.2.1', '232.9.9.9')) as { source: string; group: string };
    assert.ok(l && 'source' in l);
    // a /30 source prefix has two usable hosts: never the network or broadcast address
    assert.ok(['10.9.0.1', '10.9.0.2'].includes(l.source), l.source);
    groups.add(l.group);
  }
  assert.deepEqual([...groups].sort(), ['232.1.0.4', '232.1.0.5', '232.1.0.7']);
  assert.equal(p.allocate(ch('192.0.2.1', '232.9.9.9')), null, 'IPv4 exhausted; the IPv6 range is not used for IPv4');
  assert.equal(p.canAllocate(ch('192.0.2.1', '232.9.9.9')), false);
  assert.equal(p.free(4), 0n);
  const v6 = p.allocate(ch('2001:db8::1', 'ff3e::1234'));
  assert.ok(v6 && 'source' in v6);
  assert.equal(v6.source, '2001:db8::1', 'keep keeps Sg as Sl');
  assert.ok(prefixContains(parsePrefix('ff3e::/96'), parseAddress(v6.group)));
  assert.equal(p.inUse(), 4);
});

test("the prototype's layout: top-level note, default-source-range, keep when neither is given", () => {
  const p = Pool.fromJson(
    {
      'group-pool': {
        ranges: [
          { 'group-range': '239.192.0.0/14', exclude: [{ 'groupex-range': '239.195.255.0/24', note: 'reserved' }], 'source-range': 'keep', note: 'org-local' },
          { 'group-range': '234.10.0.0/16', note: 'unicast-prefix based' },
        ],
        'default-source-range': 'asm',
        note: 'pool note',
      },
      note: 'file note',
    },
    { random: createSeededRandom(5) },
  );
  assert.deepEqual(p.ranges.map((r) => r.source.kind), ['keep', 'asm']);
  assert.equal(p.ranges[0]?.size, (1n << 18n) - 256n);
  const q = pool([{ 'group-range': '239.1.1.0/29' }]);
  assert.deepEqual(q.ranges[0]?.source, { kind: 'keep' });
  const one = pool([{ 'group-range': '239.1.1.0/29', 'source-range': '10.9.1.2/32' }]);
  const l = one.allocate(ch('192.0.2.1', '232.1.1.1'));
  assert.ok(l && 'source' in l && l.source === '10.9.1.2', 'a /32 source-range is its one address');
});

test('asm ranges map to a local (*,Gl); ranges are first-fit in file order', () => {
  const p = pool([
    { 'group-range': '239.1.1.0/31', 'source-range': 'asm' },
    { 'group-range': '232.5.0.0/24', 'source-range': 'keep' },
  ]);
  const a = p.allocate(ch('192.0.2.1', '232.0.0.1'));
  const b = p.allocate(ch('192.0.2.1', '232.0.0.2'));
  assert.ok(a && 'asmGroup' in a && b && 'asmGroup' in b);
  assert.deepEqual([a.asmGroup, b.asmGroup].sort(), ['239.1.1.0', '239.1.1.1']);
  const c = p.allocate(ch('192.0.2.1', '232.0.0.3'));
  assert.ok(c && 'source' in c && c.source === '192.0.2.1' && c.group.startsWith('232.5.0.'));
});

test('a /8 and IPv6 /96 and /32 pools allocate without enumerating addresses (bounded work)', () => {
  const p = pool([
    { 'group-range': '232.0.0.0/8', 'source-range': '10.0.0.0/8', exclude: [{ 'groupex-range': '232.0.0.0/24' }] },
    { 'group-range': 'ff3e::/32', 'source-range': 'keep' },
  ]);
  assert.equal(p.ranges[0]?.size, (1n << 24n) - 256n);
  assert.equal(p.ranges[1]?.size, 1n << 96n);
  const seen = new Set<string>();
  const before = p.steps();
  const n = 2000;
  for (let i = 0; i < n; i++) {
    const l = p.allocate(ch('192.0.2.1', '232.1.1.1'));
    assert.ok(l && 'source' in l);
    assert.ok(!l.group.startsWith('232.0.0.'), 'excluded /24 is never handed out');
    seen.add(l.group);
    const l6 = p.allocate(ch('2001:db8::1', 'ff3e::1'));
    assert.ok(l6);
    seen.add(localGroup(l6));
  }
  assert.equal(seen.size, 2 * n);
  // A treap over <= 2n+2 intervals: O(log n) visits per operation, nowhere near 2^24.
  const perOp = (p.steps() - before) / (2 * n);
  assert.ok(perOp < 200, `work per allocation ${perOp} nodes`);
});

test('seeded allocation is deterministic; different seeds differ', () => {
  const run = (seed: number) => {
    const p = pool([{ 'group-range': '232.0.0.0/8', 'source-range': '10.0.0.0/16' }], {}, seed);
    return Array.from({ length: 20 }, () => JSON.stringify(p.allocate(ch('192.0.2.1', '232.1.1.1'))));
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));
});

test('grace period: a released pair is not reused until reclaimed', () => {
  const p = pool([{ 'group-range': '232.1.0.0/31', 'source-range': 'keep' }]);
  const a = p.allocate(ch('192.0.2.1', '232.0.0.1')) as LocalMapping;
  const b = p.allocate(ch('192.0.2.1', '232.0.0.2')) as LocalMapping;
  assert.ok(a && b);
  assert.equal(p.allocate(ch('192.0.2.1', '232.0.0.3')), null);
  p.release(a, 1000);
  assert.equal(p.inUse(), 1);
  assert.equal(p.inGrace(), 1);
  assert.equal(p.allocate(ch('192.0.2.1', '232.0.0.3')), null, 'in grace: not reusable');
  assert.deepEqual(p.graceDue(250_999, 250_000), []);
  assert.equal(p.nextGraceEndMs(250_000), 251_000);
  assert.deepEqual(p.graceDue(251_000, 250_000), [{ local: a, releasedAtMs: 1000 }]);
  assert.throws(() => p.release(a, 2000), PoolError);
  p.reclaim(a);
  assert.equal(p.inGrace(), 0);
  const c = p.allocate(ch('192.0.2.9', '232.0.0.3'));
  assert.ok(c && 'source' in c);
  assert.equal(c.group, localGroup(a));
  assert.equal(c.source, '192.0.2.9');
  assert.throws(() => p.reclaim(b), /not in its grace period/);
});

test('snapshot and restore keep in-use and grace entries; claim detects conflicts', () => {
  const cfg = [{ 'group-range': '232.1.0.0/28', 'source-range': '10.1.0.0/24' }];
  const p = pool(cfg);
  const locals = Array.from({ length: 5 }, () => p.allocate(ch('192.0.2.1', '232.0.0.1')) as LocalMapping);
  p.release(locals[1] as LocalMapping, 500);
  p.release(locals[3] as LocalMapping, 100);
  const snap = JSON.parse(JSON.stringify(p.snapshot()));
  const q = pool(cfg, {}, 99);
  q.restore(snap);
  assert.equal(q.inUse(), 3);
  assert.equal(q.inGrace(), 2);
  assert.equal(q.free(), 16n - 5n);
  assert.deepEqual(q.graceDue(1_000_000, 1000).map((g) => g.releasedAtMs), [100, 500], 'oldest first');
  assert.throws(() => q.claim(locals[0] as LocalMapping), /already in use/);
  for (let i = 0; i < 11; i++) assert.ok(q.allocate(ch('192.0.2.1', '232.0.0.1')));
  assert.equal(q.allocate(ch('192.0.2.1', '232.0.0.1')), null);
  // A mapping outside today's ranges (the file changed) is honoured and never handed out again.
  const r = pool(cfg);
  r.claim({ source: '10.7.7.7', group: '232.200.0.1' });
  assert.equal(r.inUse(), 1);
  assert.equal(r.free(), 16n);
  r.release({ source: '10.7.7.7', group: '232.200.0.1' }, 0);
  r.reclaim({ source: '10.7.7.7', group: '232.200.0.1' });
  assert.equal(r.free(), 16n);
});

test('FreeSet matches a reference set under random removes and adds', () => {
  const rnd = createSeededRandom(7);
  const universe = 200;
  const set = new FreeSet([
    [0n, 49n],
    [60n, 199n],
  ]);
  const ref = new Set<number>();
  for (let v = 0; v < universe; v++) if (v < 50 || v >= 60) ref.add(v);
  for (let step = 0; step < 5000; step++) {
    const v = Math.floor(rnd() * universe);
    const r = rnd();
    if (r < 0.25) {
      assert.equal(set.remove(BigInt(v)), ref.delete(v));
    } else if (r < 0.5 && ref.size > 0) {
      const sorted = [...ref].sort((a, b) => a - b);
      const k = Math.floor(rnd() * sorted.length);
      assert.equal(set.takeKth(BigInt(k)), BigInt(sorted[k] as number));
      ref.delete(sorted[k] as number);
    } else if (!ref.has(v)) {
      set.add(BigInt(v));
      ref.add(v);
    }
    if (step % 97 === 0) {
      const sorted = [...ref].sort((a, b) => a - b);
      assert.equal(set.total(), BigInt(sorted.length));
      for (let k = 0; k < sorted.length; k += 7) assert.equal(set.kth(BigInt(k)), BigInt(sorted[k] as number));
      // intervals stay disjoint, ordered and maximal (neighbours merged)
      const iv = set.intervals();
      for (let i = 1; i < iv.length; i++) assert.ok((iv[i] as [bigint, bigint])[0] > (iv[i - 1] as [bigint, bigint])[1] + 1n);
    }
  }
});

test('randomBelow is in range for huge bounds', () => {
  const rnd = createSeededRandom(3);
  const n = (1n << 96n) + 12345n;
  for (let i = 0; i < 200; i++) {
    const v = randomBelow(n, rnd);
    assert.ok(v >= 0n && v < n);
  }
  assert.equal(randomBelow(1n, rnd), 0n);
});
