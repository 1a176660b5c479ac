import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJoinfile, renderJoinfile, sortChannels } from '../../src/ingress/joinfile.ts';

test('renders full state, one source,group per line, sorted numerically, trailing newline', () => {
  const text = renderJoinfile([
    { source: '2001:db8::5', group: 'ff3e::1' },
    { source: '23.212.185.4', group: '232.1.1.1' },
    { source: '9.9.9.9', group: '232.1.1.2' },
    { source: '23.212.185.4', group: '232.1.1.1' }, // duplicate
    { source: '23.212.185.4', group: '232.0.0.10' },
  ]);
  assert.equal(
    text,
    '9.9.9.9,232.1.1.2\n23.212.185.4,232.0.0.10\n23.212.185.4,232.1.1.1\n2001:db8::5,ff3e::1\n',
  );
});

test('an empty state renders as an empty file', () => {
  assert.equal(renderJoinfile([]), '');
});

test('rendering canonicalises addresses so equal states give equal bytes', () => {
  assert.equal(
    renderJoinfile([{ source: '2001:DB8:0:0::5', group: 'FF3E:0::1' }]),
    renderJoinfile([{ source: '2001:db8::5', group: 'ff3e::1' }]),
  );
});

test('rendering rejects an invalid channel instead of writing a line the reader skips', () => {
  assert.throws(() => renderJoinfile([{ source: '10.0.0.1', group: '10.0.0.2' }]), /not a multicast/);
  assert.throws(() => renderJoinfile([{ source: '10.0.0.1', group: 'ff3e::1' }]), /different IP families/);
});

test('parse reads what render writes', () => {
  const channels = sortChannels([
    { source: '23.212.185.4', group: '232.1.1.1' },
    { source: '2001:db8::5', group: 'ff3e::1' },
  ]);
  const parsed = parseJoinfile(renderJoinfile(channels));
  assert.deepEqual(parsed.channels, channels);
  assert.deepEqual(parsed.problems, []);
});

test('parse skips blank lines and comments, trims fields, reports bad lines with numbers', () => {
  const parsed = parseJoinfile(
    '# written by hand\n\n 23.212.185.4 , 232.1.1.1 \r\n10.0.0.1\n10.0.0.1,10.0.0.2\n1.2.3.4,232.1.1.1,x\n',
  );
  assert.deepEqual(parsed.channels, [{ source: '23.212.185.4', group: '232.1.1.1' }]);
  assert.deepEqual(
    parsed.problems.map((p) => p.line),
    [4, 5, 6],
  );
  assert.match(parsed.problems[1]?.message ?? '', /not a multicast/);
});
