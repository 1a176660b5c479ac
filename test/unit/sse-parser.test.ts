import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, formatSseEvent, type SseEvent } from '../../src/protocol/sse.ts';

test('events split anywhere, CRLF split across chunks, comments, multi-line data', () => {
  const stream = ': hello\r\n\r\nid: 7\r\nevent: x\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata:plain\n\n' + formatSseEvent('two\nlines');
  for (let size = 1; size <= stream.length; size += 3) {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size));
    assert.deepEqual(got, [
      { event: 'x', data: '{"a":\n1}', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
      { event: 'message', data: 'two\nlines', id: '7' },
    ], `chunk size ${size}`);
  }
});

test('an endless line is refused', () => {
  const p = new SseParser(() => undefined, 16);
  assert.throws(() => p.push('data: ' + 'x'.repeat(20)), /longer than 16/);
});
