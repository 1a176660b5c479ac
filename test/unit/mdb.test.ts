import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MdbParseError, membershipsFromMdb, parseMdbJson, parseMdbMonitorLine } from '../../src/egress/membership/mdb.ts';

// Captured from this kernel (6.18, iproute2 6.1): a br-lan with IGMPv3/MLDv2
// snooping + querier; host p1 joined (10.1.1.1|10.1.1.2, 232.1.1.1) and
// (2001:db8::1, ff3e::8000:1); host p2 joined (10.1.1.1, 232.1.1.1),
// (2001:db8::2, ff3e::8000:1) and ASM 239.9.9.9 / ff15::99.
const fixture = (name: string): string => readFileSync(new URL(`fixtures/mdb/${name}`, import.meta.url), 'utf8');

test('detail output parses into entries with filter mode, source lists and timers', () => {
  const entries = parseMdbJson(fixture('mdb-detail-v4v6.json'), 'br-lan');
  assert.equal(entries.length, 18);
  const star = entries.find((e) => e.port === 'p1' && e.group === '232.1.1.1' && e.source === null);
  assert.ok(star);
  assert.equal(star.filterMode, 'include');
  assert.deepEqual(star.sourceList.map((s) => s.address).sort(), ['10.1.1.1', '10.1.1.2']);
  assert.ok(star.sourceList.every((s) => typeof s.timerS === 'number' && s.timerS > 0));
  const sg = entries.find((e) => e.port === 'p2' && e.source === '2001:db8::2');
  assert.equal(sg?.group, 'ff3e::8000:1');
  assert.equal(sg?.state, 'temp');
  const asm = entries.find((e) => e.group === '239.9.9.9');
  assert.equal(asm?.filterMode, 'exclude');
});

test('stats output carries entry timers', () => {
  const entries = parseMdbJson(fixture('mdb-detail-stats.json'));
  assert.ok(entries.some((e) => e.timerS !== null && e.timerS > 200));
});

test('memberships: (S,G) per holder, both families, one leave keeps the other holder', () => {
  const m = membershipsFromMdb(parseMdbJson(fixture('mdb-detail-v4v6.json'), 'br-lan'));
  assert.deepEqual([...m.channels.keys()], ['10.1.1.1,232.1.1.1', '10.1.1.2,232.1.1.1', '2001:db8::1,ff3e::8000:1', '2001:db8::2,ff3e::8000:1']);
  assert.deepEqual(m.channels.get('10.1.1.1,232.1.1.1')?.holders, ['p1', 'p2']);
  assert.deepEqual(m.channels.get('2001:db8::2,ff3e::8000:1')?.holders, ['p2']);
  const asm = m.ignored.filter((i) => i.reason === 'asm').map((i) => i.group).sort();
  assert.deepEqual(asm, ['239.9.9.9', 'ff15::99']);
  assert.ok(m.ignored.some((i) => i.reason === 'link-local' && i.group === 'ff02::1:ff00:10'));
  assert.ok(m.ignored.some((i) => i.reason === 'router' && i.group === 'ff02::6a'));
});

test('memberships from the plain (non-detail) output still find (S,G) entries', () => {
  const m = membershipsFromMdb(parseMdbJson(fixture('mdb-plain.json')));
  assert.deepEqual(m.channels.get('10.1.1.1,232.1.1.1')?.holders, ['p1', 'p2']);
  assert.equal(m.channels.size, 4);
});

test('entries of other bridges are dropped; vlan ids make distinct holders', () => {
  const doc = JSON.stringify([{ mdb: [
    { index: 2, dev: 'br-lan', port: 'p1', grp: '232.1.1.1', src: '10.0.0.1', vid: 10, state: 'temp', flags: [] },
    { index: 2, dev: 'br-lan', port: 'p1', grp: '232.1.1.1', src: '10.0.0.1', vid: 20, state: 'temp', flags: [] },
    { index: 3, dev: 'br-guest', port: 'g1', grp: '232.1.1.2', src: '10.0.0.1', state: 'temp', flags: [] },
  ], router: {} }]);
  const m = membershipsFromMdb(parseMdbJson(doc, 'br-lan'));
  assert.deepEqual([...m.channels.keys()], ['10.0.0.1,232.1.1.1']);
  assert.deepEqual(m.channels.get('10.0.0.1,232.1.1.1')?.holders, ['p1.10', 'p1.20']);
});

test('blocked and star-excluded sources are not joins; v2 reports and bad sources are ignored', () => {
  const doc = JSON.stringify([{ mdb: [
    { dev: 'br-lan', port: 'p1', grp: '232.1.1.1', src: '10.0.0.1', state: 'temp', flags: ['blocked'] },
    { dev: 'br-lan', port: 'p1', grp: '232.1.1.2', src: '10.0.0.1', state: 'temp', flags: ['added_by_star_ex'] },
    { dev: 'br-lan', port: 'p2', grp: '232.1.1.3', state: 'temp', flags: [] },
    { dev: 'br-lan', port: 'p2', grp: '232.1.1.4', src: '224.1.1.1', state: 'temp', flags: [] },
    { dev: 'br-lan', port: 'p3', grp: '232.1.1.5', src: '10.0.0.9', state: 'permanent', flags: [] },
    { dev: 'br-lan', port: 'br-lan', grp: '232.1.1.6', src: '10.0.0.9', state: 'temp', flags: [] },
  ] }]);
  const m = membershipsFromMdb(parseMdbJson(doc));
  assert.deepEqual([...m.channels.keys()], ['10.0.0.9,232.1.1.5']);
  assert.deepEqual(m.ignored.map((i) => i.reason).sort(), ['invalid', 'no-source', 'router']);
});

test('a (*,G) of an SSM-range group is an IGMPv2/MLDv1 report (no-source); elsewhere an ASM join', () => {
  const doc = JSON.stringify([{ mdb: [
    { dev: 'br-lan', port: 'p1', grp: '232.1.1.1', state: 'temp', filter_mode: 'exclude', flags: [] },
    { dev: 'br-lan', port: 'p1', grp: 'ff3e::1:1', state: 'temp', filter_mode: 'exclude', flags: [] },
    { dev: 'br-lan', port: 'p1', grp: '239.1.1.1', state: 'temp', filter_mode: 'exclude', flags: [] },
    { dev: 'br-lan', port: 'p1', grp: 'ff15::1', state: 'temp', flags: [] },
  ] }]);
  const m = membershipsFromMdb(parseMdbJson(doc));
  assert.deepEqual(m.channels.size, 0);
  assert.deepEqual(m.ignored.map((i) => `${i.group} ${i.reason}`), ['232.1.1.1 no-source', 'ff3e::1:1 no-source', '239.1.1.1 asm', 'ff15::1 asm']);
});

test('empty and malformed outputs', () => {
  assert.deepEqual(parseMdbJson('[{"mdb":[],"router":{}}]'), []);
  assert.deepEqual(parseMdbJson(''), []);
  assert.throws(() => parseMdbJson('Cannot find device "x"'), MdbParseError);
  assert.throws(() => parseMdbJson('{"mdb":[]}'), /not a JSON array/);
  assert.throws(() => parseMdbJson('[{"mdb":[{"dev":"br-lan"}]}]'), /\[0\]\.mdb\[0\] lacks/);
});

test('monitor lines as captured, including deletions', () => {
  const lines = fixture('monitor-mdb.txt').split('\n').filter(Boolean);
  const events = lines.map(parseMdbMonitorLine);
  assert.ok(events.every((e) => e !== null));
  assert.deepEqual(events[1], { deleted: false, bridge: 'br-lan', port: 'p1', group: '232.1.1.7', source: '10.1.1.7' });
  assert.deepEqual(events[3], { deleted: true, bridge: 'br-lan', port: 'p1', group: '232.1.1.7', source: '10.1.1.7' });
  assert.equal(parseMdbMonitorLine('router ports on br-lan: p1'), null);
  assert.equal(parseMdbMonitorLine(''), null);
});
