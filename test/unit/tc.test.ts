// tc and bpftool output handling with canned outputs (captured from iproute2 6.1 /
// bpftool 7.1 on kernel 6.18): filters by program id, and errors that name what is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addBpfFilter, addClsact, tcState } from '../../src/dataplane/tc.ts';
import { runBatch } from '../../src/dataplane/bpftool.ts';
import type { ExecResult, Host } from '../../src/host/host.ts';

function fakeHost(answer: (argv: readonly string[], input?: string) => ExecResult): Host & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    exec: async (argv: readonly string[], o?: { input?: string }) => {
      calls.push([...argv]);
      return answer(argv, o?.input);
    },
  } as unknown as Host & { calls: string[][] };
}
const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string, code = 2): ExecResult => ({ code, stdout: '', stderr });
const kindOf = (kind: string) => (e: Error & { kind?: string }) => e.kind === kind;

const FILTERS =
  '[{"protocol":"all","pref":49151,"kind":"bpf","chain":0},{"protocol":"all","pref":49151,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"prog:[*fsobj]","direct-action":true,"not_in_hw":true,"prog":{"id":111,"name":"mnat_translate","tag":"6b156fc1c34a6e1b","jited":1}}},' +
  '{"protocol":"all","pref":49152,"kind":"bpf","chain":0},{"protocol":"all","pref":49152,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"other","direct-action":true,"prog":{"id":7,"name":"x","tag":"00","jited":1}}}]';

const CLSACT = '[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}},{"kind":"clsact","handle":"ffff:","parent":"ffff:fff1","options":{}}]';

test('tc state: qdiscs and both directions in one exec (one JSON document per line); filters with program id and name, chain heads skipped', async () => {
  const host = fakeHost((argv, input) => {
    assert.deepEqual(argv, ['tc', '-j', '-batch', '-']);
    assert.equal(input, 'qdisc show dev wan\nfilter show dev wan ingress\nfilter show dev wan egress\n');
    return ok(`${CLSACT}\n${FILTERS}\n[]\n`);
  });
  assert.deepEqual(await tcState(host, 'wan'), {
    qdisc: 'clsact',
    ingressFilters: [{ pref: 49151, progId: 111, progName: 'mnat_translate' }, { pref: 49152, progId: 7, progName: 'x' }],
    egressFilters: [],
  });
  assert.equal(host.calls.length, 1);
});

test('tc state: the old ingress qdisc, none, a device that is gone', async () => {
  assert.equal((await tcState(fakeHost(() => ok('[{"kind":"ingress","handle":"ffff:"}]\n[]\n[]\n')), 'x'))?.qdisc, 'ingress');
  assert.deepEqual(await tcState(fakeHost(() => ok('[{"kind":"noqueue","handle":"0:"}]\n[]\n[]\n')), 'x'), { qdisc: null, ingressFilters: [], egressFilters: [] });
  assert.equal(await tcState(fakeHost(() => fail('Cannot find device "x"\nCommand failed -:1', 1)), 'x'), null);
  // The qdisc went between the batch's commands.
  assert.deepEqual(await tcState(fakeHost(() => ({ code: 1, stdout: `${CLSACT}\n`, stderr: 'Error: Cannot find specified qdisc on specified device.\nCommand failed -:2' })), 'x'), { qdisc: 'clsact', ingressFilters: [], egressFilters: [] });
  await assert.rejects(tcState(fakeHost(() => fail('Error: something else', 1)), 'x'), kindOf('command-failed'));
});

test('a kernel without clsact or cls_bpf gets an error naming the options and packages', async () => {
  await assert.rejects(
    addClsact(fakeHost(() => fail('Error: Specified qdisc kind is unknown.')), 'wan'),
    (e: Error & { kind?: string }) => e.kind === 'no-clsact' && /CONFIG_NET_SCH_INGRESS/.test(e.message) && /kmod-sched-core/.test(e.message),
  );
  await assert.rejects(
    addBpfFilter(fakeHost(() => fail('Unknown filter "bpf", hence option "direct-action" is unparsable')), 'wan', '/p'),
    (e: Error & { kind?: string }) => e.kind === 'no-clsact' && /CONFIG_NET_CLS_BPF/.test(e.message),
  );
  await assert.rejects(addBpfFilter(fakeHost(() => fail('Cannot find device "wan"')), 'wan', '/p'), kindOf('device-gone'));
});

test('a missing tool is named with how to install it', async () => {
  await assert.rejects(addClsact(fakeHost(() => fail('tc: spawn tc ENOENT', 127)), 'wan'), (e: Error & { kind?: string }) => e.kind === 'missing-tool' && /tc-bpf/.test(e.message));
  await assert.rejects(runBatch(fakeHost(() => fail('', 127)), [['map', 'dump', 'pinned', '/x']]), (e: Error) => /bpftool-minimal/.test(e.message));
});

test('bpftool batch: all commands in one exec on stdin; the first failure is reported by index', async () => {
  const host = fakeHost((argv, input) => {
    assert.deepEqual(argv, ['bpftool', '-j', 'batch', 'file', '-']);
    assert.equal(input, 'map update pinned /p key hex 00 value hex 01\nmap delete pinned /p key hex 02\n');
    return {
      code: 249,
      stdout: '[{"command":["map","update","pinned","/p"],"output":null},{"command":["map","delete","pinned","/p"],"output":{"error":"update failed: Argument list too long"}}]',
      stderr: '',
    };
  });
  assert.deepEqual(await runBatch(host, [['map', 'update', 'pinned', '/p', 'key', 'hex', '00', 'value', 'hex', '01'], ['map', 'delete', 'pinned', '/p', 'key', 'hex', '02']]), {
    index: 1,
    error: 'update failed: Argument list too long',
  });
  assert.equal(await runBatch(fakeHost(() => ok('[{"command":[],"output":null}]')), [['map', 'dump', 'pinned', '/p']]), null);
  await assert.rejects(runBatch(fakeHost(() => ok()), [['map', 'update', 'pinned', '/a b']]), /whitespace/);
});
