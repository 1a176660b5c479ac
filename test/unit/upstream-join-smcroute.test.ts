// The smcroute backend's bookkeeping and error mapping, with a recording Host
// whose exec answers like smcroutectl 2.5 does (messages captured on this machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSmcrouteJoiner } from '../../src/dataplane/upstream-join-smcroute.ts';
import type { ExecResult, Host } from '../../src/host/host.ts';

function fakeHost(answer: (argv: readonly string[]) => ExecResult): { host: Host; calls: string[][] } {
  const calls: string[][] = [];
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const host = {
    runtime: 'node',
    log: quiet,
    exec: async (argv: readonly string[]) => {
      calls.push([...argv]);
      return answer(argv);
    },
  } as unknown as Host;
  return { host, calls };
}
const ok: ExecResult = { code: 0, stdout: '', stderr: '' };

test('join/leave run smcroutectl with the socket, canonical addresses, and are idempotent', async () => {
  const { host, calls } = fakeHost(() => ok);
  const j = createSmcrouteJoiner(host, { socketPath: '/run/x.sock' });
  await j.join({ source: '2001:DB8::0:1', group: 'FF3E::1' }, 'wan');
  await j.join({ source: '2001:db8::1', group: 'ff3e::1' }, 'wan');
  assert.deepEqual(calls, [['smcroutectl', '-u', '/run/x.sock', 'join', 'wan', '2001:db8::1', 'ff3e::1']]);
  assert.deepEqual(j.joined(), [{ channel: { source: '2001:db8::1', group: 'ff3e::1' }, device: 'wan' }]);
  await j.leave({ source: '2001:db8::1', group: 'ff3e::1' }, 'wan');
  await j.leave({ source: '2001:db8::1', group: 'ff3e::1' }, 'wan');
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1]?.slice(3), ['leave', 'wan', '2001:db8::1', 'ff3e::1']);
  assert.deepEqual(j.joined(), []);
});

test('"Already joined" is adopted; "No group … to leave" counts as left', async () => {
  const { host } = fakeHost((argv) =>
    argv.includes('join')
      ? { code: 1, stdout: '', stderr: 'smcroutectl: Already joined (10.1.0.9,232.1.1.1) on wan0\n' }
      : { code: 1, stdout: '', stderr: 'smcroutectl: No group (10.1.0.9,232.1.1.1) on wan0 to leave\n' },
  );
  const j = createSmcrouteJoiner(host);
  await j.join({ source: '10.1.0.9', group: '232.1.1.1' }, 'wan0');
  assert.equal(j.joined().length, 1);
  await j.close();
  assert.deepEqual(j.joined(), []);
});

test('errors name the channel, the device and what to do', async () => {
  const down = fakeHost(() => ({ code: 1, stdout: '', stderr: 'smcroutectl: Cannot find IPC socket /run/x.sock\nsmcroutectl: Failed connecting to daemon: No such file or directory\n' }));
  const j = createSmcrouteJoiner(down.host, { socketPath: '/run/x.sock' });
  await assert.rejects(j.join({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan'), /upstream join \(10\.0\.0\.1,232\.1\.1\.1\) on wan: smcrouted is not running at \/run\/x\.sock/);
  assert.deepEqual(j.joined(), []);
  const missing = fakeHost(() => ({ code: 127, stdout: '', stderr: 'smcroutectl: spawn smcroutectl ENOENT' }));
  await assert.rejects(createSmcrouteJoiner(missing.host).join({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan'), /not installed/);
  const noIf = fakeHost((argv) => (argv.includes('reload') ? ok : { code: 1, stdout: '', stderr: 'smcroutectl: unknown interface wan9' }));
  await assert.rejects(createSmcrouteJoiner(noIf.host).join({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan9'), /cannot use device wan9, even after a reload/);
  assert.deepEqual(noIf.calls.map((c) => c[1]), ['join', 'reload', 'join']);
  await assert.rejects(createSmcrouteJoiner(noIf.host).join({ source: '232.1.1.1', group: '10.0.0.1' }, 'wan'), /not a multicast address/);
});

test('a failed leave keeps the membership for a retry; close reports it', async () => {
  let up = true;
  const { host } = fakeHost(() => (up ? ok : { code: 1, stdout: '', stderr: 'smcroutectl: Failed connecting to daemon: Connection refused' }));
  const j = createSmcrouteJoiner(host);
  await j.join({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan');
  up = false;
  await assert.rejects(j.leave({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan'), /not running/);
  assert.equal(j.joined().length, 1);
  await assert.rejects(j.close(), /not running/);
  up = true;
  await j.close();
  assert.deepEqual(j.joined(), []);
});

test('a device re-created under smcrouted: reload, re-join the view, retry; a leave on a gone device counts as done', async () => {
  const stale = new Set(['wan']); // smcrouted still has the old ifindex of wan
  const { host, calls } = fakeHost((argv) => {
    if (argv[1] === 'reload') {
      stale.clear();
      return ok;
    }
    if (stale.has(argv[2]!)) return { code: 1, stdout: '', stderr: 'smcroutectl: Failed joining group (10.0.0.1,232.1.1.2/32) on sd 9 ... 19: No such device' };
    if (argv[2] === 'gone0') return { code: 1, stdout: '', stderr: 'smcroutectl: unknown interface gone0' };
    return ok;
  });
  const j = createSmcrouteJoiner(host);
  stale.clear();
  await j.join({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan');
  await j.join({ source: '10.0.0.1', group: '232.1.1.9' }, 'gone0').catch(() => undefined);
  stale.add('wan');
  await j.join({ source: '10.0.0.1', group: '232.1.1.2' }, 'wan');
  assert.deepEqual(calls.slice(-4).map((c) => c.slice(1).join(' ')), [
    'join wan 10.0.0.1 232.1.1.2',
    'reload',
    'join wan 10.0.0.1 232.1.1.1',
    'join wan 10.0.0.1 232.1.1.2',
  ]);
  assert.deepEqual(j.joined().map((x) => x.channel.group), ['232.1.1.1', '232.1.1.2']);
  stale.add('wan');
  await j.leave({ source: '10.0.0.1', group: '232.1.1.1' }, 'wan');
  assert.deepEqual(j.joined().map((x) => x.channel.group), ['232.1.1.2']);
});

/**
 * smcroutectl as a Host: `join|leave|reload ARGS`, and `-b` with the commands on
 * stdin (it runs them all, prints an error per failed one, exits non-zero when
 * one failed). Source 10.0.0.66 is refused; a device in `stale` is unknown to
 * smcrouted until a reload.
 */
function smcroutectlHost(stale: Set<string>) {
  const state = { running: 0, most: 0, calls: [] as string[] };
  const one = (words: readonly string[]): string | null => {
    if (words[0] === 'reload') {
      stale.clear();
      return null;
    }
    if (words[2] === '10.0.0.66') return 'smcroutectl: Failed joining group: Permission denied';
    if (stale.has(words[1]!)) return 'smcroutectl: Failed joining group ... 19: No such device';
    return null;
  };
  const host = {
    runtime: 'node',
    log: { debug() {}, info() {}, warn() {}, error() {} },
    exec: async (argv: readonly string[], options?: { input?: string }) => {
      const batch = argv[1] === '-b';
      state.calls.push(batch ? `-b ${String(options?.input).trim().split('\n').length} joins` : argv.slice(1).join(' '));
      state.running++;
      state.most = Math.max(state.most, state.running);
      await new Promise((r) => setTimeout(r, 5));
      state.running--;
      const errors = (batch ? String(options?.input).trim().split('\n').map((l) => l.split(' ')) : [argv.slice(1)]).map(one).filter((e) => e !== null);
      return errors.length === 0 ? ok : { code: 1, stdout: '', stderr: errors.join('\n') };
    },
  } as unknown as Host;
  return { host, state };
}

test('joinMany: all joins of a batch in one `smcroutectl -b` exec', async () => {
  const { host, state } = smcroutectlHost(new Set());
  const j = createSmcrouteJoiner(host);
  const items = Array.from({ length: 20 }, (_, i) => ({ channel: { source: '10.0.0.1', group: `232.1.1.${i + 1}` }, device: 'eth1' }));
  assert.deepEqual(await j.joinMany!(items), items.map(() => null));
  assert.deepEqual(state.calls, ['-b 20 joins']);
  assert.equal(j.joined().length, 20);
  // Joined ones are not asked for again.
  assert.deepEqual(await j.joinMany!([...items.slice(0, 2), { channel: { source: '10.0.0.1', group: '232.1.1.99' }, device: 'eth1' }]), [null, null, null]);
  assert.deepEqual(state.calls, ['-b 20 joins', 'join eth1 10.0.0.1 232.1.1.99']);
});

test('joinMany: when the batch fails, one exec per join (at most 16 at once); per item its error; a stale device reloads once', async () => {
  const stale = new Set<string>();
  const { host, state } = smcroutectlHost(stale);
  const calls = state.calls;
  const j = createSmcrouteJoiner(host);
  const items = Array.from({ length: 20 }, (_, i) => ({ channel: { source: i === 7 ? '10.0.0.66' : '10.0.0.1', group: `232.1.1.${i + 1}` }, device: 'eth1' }));
  const errors = await j.joinMany!(items);
  assert.equal(calls[0], '-b 20 joins');
  assert.equal(calls.length, 21, 'the batch, then one exec per join');
  const most = state.most;
  assert.ok(most > 1 && most <= 16, `${most} at once`);
  assert.deepEqual(errors.map((e, i) => (e === null ? null : i)), items.map((_, i) => (i === 7 ? 7 : null)));
  assert.match(String(errors[7]?.message), /upstream join \(10\.0\.0\.66,232\.1\.1\.8\) on eth1: .*Permission denied/);
  assert.equal(j.joined().length, 19);
  // A device smcrouted holds stale: those items go one by one and the first reloads (and re-joins the view).
  stale.add('wan');
  calls.length = 0;
  const more = [1, 2].map((i) => ({ channel: { source: '10.0.0.1', group: `232.2.0.${i}` }, device: 'wan' }));
  assert.deepEqual(await j.joinMany!(more), [null, null]);
  assert.equal(calls.filter((c) => c === 'reload').length, 1);
  assert.equal(j.joined().length, 21);
});

// `smcroutectl -p -t show groups` as smcroute 2.5.6 prints it (captured): (S,G) and (*,G) joins, IIF last.
const GROUPS = [
  '(10.0.0.1, 239.77.0.5)                      wan',
  '(10.0.0.1, 239.77.0.6)                      lan2',
  '(fd00:c0::1, ff35::77:7)                    wan',
  '(*, 239.1.1.1)                              wan',
  '(10.0.0.1, 239.77.0.9)                      wan',
  '',
].join('\n');

test('adopt: takes over only the joins smcrouted holds for the given channels on the device; close() leaves them in one batch', async () => {
  const { host, calls } = fakeHost((argv) => (argv.includes('show') ? { code: 0, stdout: GROUPS, stderr: '' } : ok));
  const j = createSmcrouteJoiner(host, { socketPath: '/run/x.sock' });
  const stale = [
    { source: '10.0.0.1', group: '239.77.0.5' }, // held on wan: ours
    { source: '10.0.0.1', group: '239.77.0.6' }, // held on another device: not this one
    { source: 'FD00:C0::1', group: 'ff35::77:7' }, // the same address, spelt otherwise
    { source: '10.0.0.1', group: '239.77.0.8' }, // not held (left before the crash)
  ];
  assert.equal(await j.adopt!(stale, 'wan'), 2);
  assert.deepEqual(calls, [['smcroutectl', '-u', '/run/x.sock', '-p', '-t', 'show', 'groups']]);
  // 239.77.0.9 and the (*,G) are someone else's: smcrouted may serve other programs.
  assert.deepEqual(j.joined().map((x) => `${x.channel.source},${x.channel.group} ${x.device}`), ['10.0.0.1,239.77.0.5 wan', 'fd00:c0::1,ff35::77:7 wan']);
  assert.equal(await j.adopt!(stale, 'wan'), 0, 'adopting again adds nothing');
  await j.close();
  assert.deepEqual(calls.at(-1), ['smcroutectl', '-u', '/run/x.sock', '-b']);
  assert.deepEqual(j.joined(), []);
});

test('adopt: nothing to take over, or no listing (an older smcroutectl, no daemon): none, no error', async () => {
  const none = fakeHost(() => ok);
  assert.equal(await createSmcrouteJoiner(none.host).adopt!([], 'wan'), 0);
  assert.equal(none.calls.length, 0, 'no exec for nothing');
  const old = fakeHost(() => ({ code: 1, stdout: '', stderr: 'smcroutectl: invalid option -- p' }));
  assert.equal(await createSmcrouteJoiner(old.host).adopt!([{ source: '10.0.0.1', group: '239.77.0.5' }], 'wan'), 0);
});

test('close: one `smcroutectl -b` for all leaves; when the batch fails, one by one (each failure told apart)', async () => {
  const inputs: string[] = [];
  const calls: string[][] = [];
  const host = {
    runtime: 'node',
    log: { debug() {}, info() {}, warn() {}, error() {} },
    exec: async (argv: readonly string[], o?: { input?: string }) => {
      calls.push([...argv]);
      if (o?.input) inputs.push(o.input);
      return argv.includes('-b') && o?.input?.startsWith('leave') ? { code: 1, stdout: '', stderr: 'smcroutectl: No group (10.0.0.1,239.77.0.5) on wan to leave' } : ok;
    },
  } as unknown as Host;
  const j = createSmcrouteJoiner(host);
  await j.joinMany!([{ channel: { source: '10.0.0.1', group: '239.77.0.5' }, device: 'wan' }, { channel: { source: '10.0.0.1', group: '239.77.0.6' }, device: 'wan' }]);
  calls.length = 0;
  await j.close();
  assert.equal(inputs.at(-1), 'leave wan 10.0.0.1 239.77.0.5\nleave wan 10.0.0.1 239.77.0.6\n');
  assert.deepEqual(calls.map((c) => c[1]), ['-b', 'leave', 'leave']);
  assert.deepEqual(j.joined(), []);
});
