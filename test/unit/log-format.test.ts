import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLineLogger, formatLogLine, parseLogLevel } from '../../src/host/log-format.ts';

test('formatLogLine: logfmt with quoting of values that need it, undefined fields left out', () => {
  const line = formatLogLine('2026-01-01T00:00:00.000Z', 'egress', 'warn', 'join failed', { channel: '192.0.2.1,232.1.1.1', why: 'no route', n: 3, skip: undefined });
  assert.equal(line, 'ts=2026-01-01T00:00:00.000Z level=warn component=egress msg="join failed" channel=192.0.2.1,232.1.1.1 why="no route" n=3');
});

test('parseLogLevel: the four levels, nothing else', () => {
  assert.equal(parseLogLevel('debug'), 'debug');
  assert.equal(parseLogLevel('error'), 'error');
  assert.equal(parseLogLevel('verbose'), null);
});

test('createLineLogger: drops levels below the minimum, writes one terminated line per call', () => {
  const written: string[] = [];
  const log = createLineLogger('ingress', 'info', (text) => written.push(text));
  log.debug('hidden');
  log.info('shown', { a: 1 });
  log.warn('w');
  log.error('e');
  assert.equal(written.length, 3);
  assert.ok(written.every((t) => t.endsWith('\n') && t.indexOf('\n') === t.length - 1));
  assert.match(written[0] as string, /^ts=\S+Z level=info component=ingress msg=shown a=1\n$/);
  assert.match(written[1] as string, / level=warn component=ingress msg=w\n$/);
  assert.match(written[2] as string, / level=error component=ingress msg=e\n$/);
});

test('createLineLogger: debug minimum lets everything through', () => {
  const written: string[] = [];
  const log = createLineLogger('c', 'debug', (text) => written.push(text));
  log.debug('d');
  assert.equal(written.length, 1);
  assert.match(written[0] as string, / level=debug /);
});
