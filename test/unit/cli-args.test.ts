import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError, formatUsage, parseArgs, type FlagSpec } from '../../src/core/cli-args.ts';

const specs: FlagSpec[] = [
  { name: 'listen', kind: 'string', default: '[::]:8443', help: 'where' },
  { name: 'refresh-period', kind: 'number', default: 10, min: 1, help: 'period' },
  { name: 'insecure', kind: 'boolean', help: 'plaintext' },
  { name: 'monitor', kind: 'list', value: 'PREFIX', help: 'monitors' },
];

test('values, defaults, = form, repeatable lists, booleans', () => {
  const a = parseArgs(['--listen', '127.0.0.1:1', '--refresh-period=5', '--insecure', '--monitor', '10.0.0.0/8', '--monitor=::/0', 'pos'], specs);
  assert.equal(a.string('listen'), '127.0.0.1:1');
  assert.equal(a.number('refresh-period'), 5);
  assert.equal(a.boolean('insecure'), true);
  assert.deepEqual(a.list('monitor'), ['10.0.0.0/8', '::/0']);
  assert.deepEqual(a.positionals, ['pos']);
  assert.equal(a.help, false);
  const d = parseArgs([], specs);
  assert.equal(d.string('listen'), '[::]:8443');
  assert.equal(d.number('refresh-period'), 10);
  assert.equal(d.boolean('insecure'), false);
  assert.equal(d.has('listen'), false);
  assert.equal(parseArgs(['--no-insecure'], specs).boolean('insecure'), false);
  assert.equal(parseArgs(['--help'], specs).help, true);
});

test('errors name the flag', () => {
  assert.throws(() => parseArgs(['--bogus'], specs), (e: Error) => e instanceof CliError && /--bogus/.test(e.message));
  assert.throws(() => parseArgs(['--listen'], specs), /--listen needs a value/);
  assert.throws(() => parseArgs(['--listen', '--insecure'], specs), /--listen needs a value/);
  assert.throws(() => parseArgs(['--refresh-period', 'x'], specs), /--refresh-period: "x" is not a number/);
  assert.throws(() => parseArgs(['--refresh-period', '1.5'], specs), /whole number/);
  assert.throws(() => parseArgs(['--refresh-period', '0'], specs), /below the minimum 1/);
  assert.throws(() => parseArgs(['--refresh-period', '2', '--refresh-period', '3'], specs), /more than once/);
  assert.throws(() => parseArgs(['--insecure=maybe'], specs), /not a boolean/);
  assert.throws(() => parseArgs(['-x'], specs), /unknown option -x/);
});

test('usage lists every flag with defaults', () => {
  const text = formatUsage('cmd', 'does things', specs);
  for (const s of specs) assert.match(text, new RegExp(`--${s.name}`));
  assert.match(text, /default 10/);
  assert.match(text, /--help/);
});
