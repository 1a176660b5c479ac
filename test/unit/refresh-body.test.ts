// The refresh body read from its bytes gives what JSON.parse and the codec
// give, or nothing (then the server parses it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainRefreshWatcherId } from '../../src/server/restconf/refresh-body.ts';
import { decodeRefreshWatcherIdInput } from '../../src/protocol/ietf-mnat-codec.ts';

const bodyOf = (id: string): Buffer => Buffer.from(JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': id } }), 'utf8');

function parsed(body: Buffer): string | Error {
  try {
    return decodeRefreshWatcherIdInput(JSON.parse(body.toString('utf8'))).watcherId;
  } catch (err) {
    return err as Error;
  }
}

test('compact bodies: the same id as JSON.parse and the codec, for ids of every printable character but " and \\', () => {
  for (let c = 0x20; c <= 0x7e; c++) {
    const id = `a${String.fromCharCode(c)}z`;
    const fast = plainRefreshWatcherId(bodyOf(id));
    if (c === 0x22 || c === 0x5c) assert.equal(fast, undefined, `id with ${String.fromCharCode(c)} must be parsed`);
    else assert.equal(fast, id);
  }
});

test('random ids and random bytes: whenever the bytes are read, JSON.parse and the codec agree', () => {
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  let read = 0;
  for (let i = 0; i < 5000; i++) {
    const id = Array.from({ length: 1 + (rnd(10) === 0 ? rnd(300) : rnd(40)) }, () => String.fromCharCode(rnd(60) === 0 ? rnd(0x3000) : 0x20 + rnd(0x5f))).join('');
    const body = bodyOf(id);
    if (rnd(3) === 0) body[rnd(body.length)] = rnd(256); // damage a byte
    const fast = plainRefreshWatcherId(body);
    if (fast === undefined) continue;
    read++;
    assert.equal(parsed(body), fast, body.toString('latin1'));
  }
  assert.ok(read > 100, `only ${read} bodies were read from their bytes`);
});

test('other forms are left to JSON.parse', () => {
  for (const text of [
    '{ "ietf-mnat:input": { "watcher-id": "abc" } }',
    '{"ietf-mnat:input":{"ietf-mnat:watcher-id":"abc"}}',
    '{"ietf-mnat:input":{"watcher-id":"abc","x":1}}',
    '{"ietf-mnat:input":{"watcher-id":"a\\u0062c"}}',
    '{"ietf-mnat:input":{"watcher-id":""}}',
    '{"ietf-mnat:input":{"watcher-id":"é"}}',
    '{"ietf-mnat:input":{"watcher-id":"abc"}} ',
    '{"ietf-mnat:input":{"watcher-id":"abc"}',
    '{"ietf-mnat:input":{"watcher-id":abc}}',
  ]) {
    assert.equal(plainRefreshWatcherId(Buffer.from(text, 'utf8')), undefined, text);
  }
  assert.equal(plainRefreshWatcherId(bodyOf('x'.repeat(256))), 'x'.repeat(256));
  assert.equal(plainRefreshWatcherId(bodyOf('x'.repeat(257))), undefined, 'longer than the codec accepts');
});

test('the codec reads refresh inputs, plain or prototype-qualified, and names what is wrong', () => {
  assert.deepEqual(decodeRefreshWatcherIdInput({ 'ietf-mnat:input': { 'watcher-id': 'abc' } }), { watcherId: 'abc' });
  assert.deepEqual(decodeRefreshWatcherIdInput({ 'ietf-mnat:input': { 'ietf-mnat:watcher-id': 'abc' } }), { watcherId: 'abc' });
  assert.throws(() => decodeRefreshWatcherIdInput({ 'ietf-mnat:input': { 'watcher-id': 5 } }), /\/ietf-mnat:input\/watcher-id: watcher-id must be a string/);
  assert.throws(() => decodeRefreshWatcherIdInput({ 'ietf-mnat:input': { 'watcher-id': 'abc', extra: 1 } }), /unknown member "extra"/);
  assert.throws(() => decodeRefreshWatcherIdInput({ 'ietf-mnat:input': {} }), /watcher-id is missing/);
  assert.throws(() => decodeRefreshWatcherIdInput({ input: { 'watcher-id': 'abc' } }), /unknown top-level member "input"; expected "ietf-mnat:input"/);
  assert.throws(() => decodeRefreshWatcherIdInput([{ 'ietf-mnat:input': {} }]), /must be a JSON object with "ietf-mnat:input"/);
});
