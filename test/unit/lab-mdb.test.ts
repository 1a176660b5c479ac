import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseMdbJson, mdbHasChannel } from '../../lab/lab-mdb.ts';

// Captured with `bridge -d -j mdb show` on the lab's core bridge (iproute2 6.1, kernel 6.18).
const fixture = readFileSync(new URL('./fixtures/lab-mdb-core.json', import.meta.url), 'utf8');

test('parseMdbJson reads (S,G) and (*,G) entries with their filter mode and sources', () => {
  const e = parseMdbJson(fixture);
  assert.equal(e.length, 5);
  assert.deepEqual(e[0], { bridge: 'br-core', port: 'p-cpe1', group: 'ff3e::1', source: 'fd00:c0::1', state: 'temp', filterMode: 'include', sourceList: [] });
  assert.deepEqual(e[1]?.sourceList, ['fd00:c0::1']);
  assert.equal(e[1]?.source, null);
  assert.equal(e[4]?.filterMode, 'exclude');
});

test('mdbHasChannel needs the (S,G) entry on that port, not just the group', () => {
  const e = parseMdbJson(fixture);
  assert.ok(mdbHasChannel(e, 'p-cpe1', '10.0.0.1', '232.1.1.1'));
  assert.ok(mdbHasChannel(e, 'p-cpe1', 'fd00:c0::1', 'ff3e::1'));
  assert.ok(!mdbHasChannel(e, 'p-cpe2', '10.0.0.1', '232.1.1.1'));
  assert.ok(!mdbHasChannel(e, 'p-cpe1', '10.0.0.2', '232.1.1.1'));
});

test('parseMdbJson accepts empty output and blocks without mdb', () => {
  assert.deepEqual(parseMdbJson(''), []);
  assert.deepEqual(parseMdbJson('[{"router":[]}]'), []);
});
