import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, crc32Hex, crc32Text } from '../../src/server/store/crc32.ts';

test('known CRC-32 values', () => {
  assert.equal(crc32Hex(crc32Text('123456789')), 'cbf43926');
  assert.equal(crc32(new Uint8Array()), 0);
  assert.equal(crc32Hex(crc32Text('The quick brown fox jumps over the lazy dog')), '414fa339');
  // UTF-8 encoding matches Buffer's
  const text = 'größe €𝄞';
  assert.equal(crc32Text(text), crc32(new Uint8Array(Buffer.from(text, 'utf8'))));
  // running checksum
  const all = Buffer.from('hello world');
  assert.equal(crc32(all.subarray(6), crc32(all.subarray(0, 6))), crc32(all));
});
