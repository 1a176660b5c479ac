import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseControlFile } from '../../src/egress/membership/control-file.ts';

test('source,group lines with comments, blanks, spaces and duplicates', () => {
  const f = parseControlFile(
    '# channels for the lab\n\n23.212.185.4,232.1.1.1\n 2001:DB8::1 , FF3E::8000:1  # v6\r\n23.212.185.4,232.1.1.1\n',
    '/etc/mnat/joins.sgs',
  );
  assert.deepEqual(f.channels, [
    { source: '23.212.185.4', group: '232.1.1.1' },
    { source: '2001:db8::1', group: 'ff3e::8000:1' },
  ]);
  assert.deepEqual(f.lines.get('23.212.185.4,232.1.1.1'), [3, 5]);
  assert.deepEqual(f.problems, []);
});

test('a bad line is reported with file:line and skipped, the rest counts', () => {
  const f = parseControlFile('10.0.0.1,232.1.1.1\n10.0.0.1 232.1.1.2\n10.0.0.1,10.0.0.2\n10.0.0.1,ff3e::1\n10.0.0.1,232.1.1.3\n', 'joins.sgs');
  assert.deepEqual(f.channels.map((c) => c.group), ['232.1.1.1', '232.1.1.3']);
  assert.deepEqual(f.problems.map((p) => p.line), [2, 3, 4]);
  assert.match(f.problems[0]!.message, /^joins\.sgs:2: expected "source,group", got "10\.0\.0\.1 232\.1\.1\.2"; line skipped$/);
  assert.match(f.problems[1]!.message, /^joins\.sgs:3: group 10\.0\.0\.2 is not a multicast address/);
  assert.match(f.problems[2]!.message, /different IP families/);
});

test('empty file', () => {
  assert.deepEqual(parseControlFile('').channels, []);
});
