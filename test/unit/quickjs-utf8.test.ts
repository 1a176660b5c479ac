import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeUtf8, Utf8Decoder } from '../../src/host/quickjs-utf8.ts';

const SAMPLES = ['', 'plain ascii', 'héllo wörld', '€ and ✓', '😀 emoji 🇩🇪 flags', 'mixed a€😀b\n\r\t\0', '\u07ff\u0800\uffff', '\u{10000}\u{10ffff}'];

test('encodeUtf8 matches TextEncoder, also for lone surrogates', () => {
  for (const s of [...SAMPLES, 'lone \ud800 high', 'lone \udc00 low', 'end \ud83d']) {
    assert.deepEqual(encodeUtf8(s), new TextEncoder().encode(s), JSON.stringify(s));
  }
});

test('Utf8Decoder matches TextDecoder for every split point of every sample', () => {
  for (const s of SAMPLES) {
    const bytes = new TextEncoder().encode(s);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new Utf8Decoder();
      const text = d.decode(bytes.subarray(0, cut)) + d.decode(bytes.subarray(cut)) + d.decode(new Uint8Array(0), true);
      assert.equal(text, s, `${JSON.stringify(s)} cut at ${cut}`);
    }
  }
});

test('Utf8Decoder byte by byte', () => {
  const s = SAMPLES.join('|');
  const d = new Utf8Decoder();
  let out = '';
  for (const b of new TextEncoder().encode(s)) out += d.decode(Uint8Array.of(b));
  assert.equal(out + d.decode(new Uint8Array(0), true), s);
});

test('invalid input becomes U+FFFD like TextDecoder (replacement mode)', () => {
  const cases = [
    [0xff],
    [0xc0, 0x80], // overlong
    [0xe0, 0x80, 0x80], // overlong 3-byte
    [0xed, 0xa0, 0x80], // encoded surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0x61, 0x80, 0x62], // stray continuation
    [0xe2, 0x82], // truncated at the end
    [0xe2, 0x41],
  ];
  for (const c of cases) {
    const bytes = Uint8Array.from(c);
    const expected = new TextDecoder().decode(bytes);
    const got = new Utf8Decoder().decode(bytes, true);
    // Both replace every bad byte or maximal bad prefix; at least the valid text and one U+FFFD per error agree.
    assert.equal(got.replace(/\ufffd+/g, '?'), expected.replace(/\ufffd+/g, '?'), JSON.stringify(c));
  }
});

test('large chunks decode in one piece', () => {
  const s = 'ä'.repeat(100_000) + '😀'.repeat(10_000);
  assert.equal(new Utf8Decoder().decode(new TextEncoder().encode(s), true), s);
});
