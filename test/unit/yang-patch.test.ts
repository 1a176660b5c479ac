import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyKeyedListEdits, diffKeyedList, encodeKey, YangPatchError } from '../../src/protocol/yang-patch.ts';

const path = '/ietf-mnat:assigned-channels/watcher=w%2F1/mapped-sg';
const q = 'ietf-mnat:mapped-sg';

test('diff then apply reproduces the new list', () => {
  const before = [{ id: 1, state: 'a' }, { id: 2, state: 'a' }, { id: 3, state: 'x' }];
  const after = [{ id: 1, state: 'a' }, { id: 3, state: 'y' }, { id: 4, state: 'n' }];
  const edits = diffKeyedList(path, q, before, after);
  assert.deepEqual(edits.map((e) => [e.operation, e.target]), [
    ['replace', `${path}=3`],
    ['create', `${path}=4`],
    ['delete', `${path}=2`],
  ]);
  const applied = applyKeyedListEdits(path, q, before, edits);
  assert.deepEqual(applied.sort((a, b) => Number(a.id) - Number(b.id)), after);
  assert.deepEqual(diffKeyedList(path, q, after, after), []);
});

test('bad edits are refused', () => {
  assert.throws(() => applyKeyedListEdits(path, q, [], [{ 'edit-id': 'e', operation: 'create', target: '/other=1', value: { [q]: [{ id: 1 }] } }]), YangPatchError);
  assert.throws(() => applyKeyedListEdits(path, q, [], [{ 'edit-id': 'e', operation: 'create', target: `${path}=2`, value: { [q]: [{ id: 1 }] } }]), /does not match/);
  assert.throws(() => applyKeyedListEdits(path, q, [], [{ 'edit-id': 'e', operation: 'move', target: `${path}=2` }]), /unsupported/);
});

test('keys are percent-encoded per RFC 8040', () => {
  assert.equal(encodeKey('a/b c,d'), 'a%2Fb%20c%2Cd');
  assert.equal(encodeKey('AbC-_.~'), 'AbC-_.~');
});

test('key percent-encoding takes a character outside the BMP as one (its four UTF-8 bytes)', () => {
  assert.equal(encodeKey('w😀é'), 'w%F0%9F%98%80%C3%A9');
  assert.equal(decodeURIComponent(encodeKey('w😀é/x')), 'w😀é/x');
});
