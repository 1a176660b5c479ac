import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError } from '../../src/core/cli-args.ts';
import { parseEgressArgs, resolveEgressSettings, egressUsage } from '../../src/egress/config/egress-options.ts';

function resolve(argv: string[], file: Record<string, unknown> | null = null) {
  const p = parseEgressArgs(argv);
  assert.equal(p.command, 'run');
  if (p.command !== 'run') throw new Error('unreachable');
  return resolveEgressSettings(p.args, file, { joinBackend: 'socket' }, '/etc/config/mnat');
}
const base = ['--upstream-interface', 'wan', '--downstream-interface', 'br-lan', '--server', 'mnat.example.net'];

test('flags alone: defaults for the rest', () => {
  const s = resolve(base);
  assert.equal(s.target.origin, 'https://mnat.example.net:8443');
  assert.equal(s.membership, 'mdb');
  assert.equal(s.joinBackend, 'socket');
  assert.equal(s.maxChannels, 64);
  assert.equal(s.statusFile, '/var/run/mnat/egress.json');
  assert.equal(s.instance, 'egress-wan');
  assert.equal(s.push, true);
  assert.equal(s.bridgeSetup, true);
});

test('UCI settings fill in, flags win, errors name the file option', () => {
  const s = resolve(['--log-level', 'debug'], { server: 'https://srv:8443', upstream: 'pppoe-wan', downstream: 'br-lan', maxChannels: 8, logLevel: 'warn', controlFile: '/etc/mnat/channels', membership: 'both' });
  assert.equal(s.upstream, 'pppoe-wan');
  assert.equal(s.maxChannels, 8);
  assert.equal(s.logLevel, 'debug');
  assert.equal(s.membership, 'both');
  assert.equal(s.controlFile, '/etc/mnat/channels');
  assert.throws(() => resolve([], { server: 'srv', upstream: 'wan/x', downstream: 'br-lan' }), /^CliError: \/etc\/config\/mnat: option upstream: "wan\/x" is not a valid interface name/);
});

test('control file implies file membership; file membership needs one', () => {
  assert.equal(resolve([...base, '--control-file', '/tmp/c']).membership, 'file');
  assert.throws(() => resolve([...base, '--membership', 'file']), /needs a control file/);
  assert.throws(() => resolve([...base, '--membership', 'igmp']), /"igmp" is not mdb, file or both/);
});

test('bad combinations are one clear CliError', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--downstream-interface', 'br-lan', '--server', 's'], /--upstream-interface is required/],
    [[...base, '--insecure', '--cacert', '/x'], /cannot be combined/],
    [[...base, '--key', '/k'], /needs a client certificate/],
    [[...base, '--join-backend', 'pim'], /"pim" is not socket or smcroute/],
    [['--upstream-interface', 'wan', '--downstream-interface', 'wan', '--server', 's'], /also the upstream/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => resolve(argv), (e: unknown) => e instanceof CliError && re.test(e.message));
  }
  assert.throws(() => parseEgressArgs(['--bogus']), /unknown option --bogus/);
  assert.throws(() => parseEgressArgs(['restart']), /the subcommands are status and cleanup/);
  assert.throws(() => parseEgressArgs(['cleanup', 'now']), /unexpected argument "now"/);
  assert.equal(parseEgressArgs(['cleanup', '--uci', '/etc/config/mnat']).command, 'cleanup');
});

test('cleanup needs the devices, not a server (it only removes what a killed agent left)', () => {
  const devices = ['--upstream-interface', 'wan', '--downstream-interface', 'br-lan'];
  const p = parseEgressArgs(['cleanup', ...devices]);
  if (p.command !== 'cleanup') throw new Error(`command ${p.command}`);
  const s = resolveEgressSettings(p.args, null, { joinBackend: 'smcroute' });
  assert.equal(s.instance, 'egress-wan');
  assert.equal(s.statusFile, '/var/run/mnat/egress.json');
  assert.throws(() => resolve(devices), /--server is required/);
});

test('help and status commands', () => {
  assert.deepEqual(parseEgressArgs(['--help']), { command: 'help' });
  assert.deepEqual(parseEgressArgs(['status', '--status-file', '/tmp/s.json']), { command: 'status', statusFile: '/tmp/s.json' });
  assert.match(egressUsage(), /--upstream-interface IF/);
});
