// mkdir -p as both hosts do it: one mkdir per component, the first failure ends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeDirectories } from '../../src/host/make-directories.ts';

test('one mkdir per component, absolute and relative, "exists" is fine', () => {
  const calls: string[] = [];
  makeDirectories('/a//b/c/', (d) => (calls.push(d), null));
  assert.deepEqual(calls, ['/a', '/a/b', '/a/b/c']);
  calls.length = 0;
  makeDirectories('x/y', (d) => (calls.push(d), null));
  assert.deepEqual(calls, ['./x', './x/y']);
});

test('a failure ends it at once with the directory and the reason (no retry, whatever the error)', () => {
  const calls: string[] = [];
  // What sysfs answers under /sys/fs/bpf: the parent "exists", the child ENOENT, for ever.
  const sysfs = (d: string): string | null => (calls.push(d), d.startsWith('/sys/fs/bpf/') ? 'ENOENT: no such file or directory' : null);
  assert.throws(() => makeDirectories('/sys/fs/bpf/mnat/default', sysfs), { message: 'cannot create directory /sys/fs/bpf/mnat: ENOENT: no such file or directory' });
  assert.deepEqual(calls, ['/sys', '/sys/fs', '/sys/fs/bpf', '/sys/fs/bpf/mnat']);
});
