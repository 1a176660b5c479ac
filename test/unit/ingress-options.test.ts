import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ingressUsage, parseIngressOptions, type IngressOptions } from '../../src/ingress/ingress-options.ts';

function ok(argv: string[]): IngressOptions {
  const r = parseIngressOptions(argv);
  assert.equal(r.help, false);
  if (r.help || r.command === 'status') throw new Error('unreachable');
  return r.options;
}
const base = ['--upstream-interface', 'up0', '--downstream-interface', 'down0', '--server', 'mnat.example.net'];

test('defaults: both families monitored, joins on, TLS to port 8443, joinfile refresh 30 s', () => {
  const o = ok(base);
  assert.deepEqual(o.monitors, ['0.0.0.0/0', '::/0']);
  assert.equal(o.join, true);
  assert.equal(o.target.origin, 'https://mnat.example.net:8443');
  assert.equal(o.joinfile, null);
  assert.equal(o.joinfileRefreshS, 30);
  assert.equal(o.instance, 'ingress-up0');
  assert.equal(o.apiRoot, '/restconf');
  assert.equal(o.logLevel, 'info');
  assert.equal(o.push, true);
});

test('repeatable outputs and monitors, --no-join, joinfile, TLS files, IPv6 server', () => {
  const o = ok([
    '--upstream-interface=up0', '--downstream-interface', 'd0', '--downstream-interface', 'd1',
    '--server', '2001:db8::1', '--port', '9443', '--cacert', '/etc/mnat/ca.pem', '--cert', 'c.pem', '--key', 'k.pem',
    '--monitor', '23.212.185.0/24', '--monitor', '2001:DB8::/32', '--monitor', '23.212.185.0/24',
    '--no-join', '--joinfile', '/var/run/mnat/ingress-joined.sgs', '--joinfile-refresh', '5', '--log-level', 'debug',
  ]);
  assert.deepEqual(o.downstreamInterfaces, ['d0', 'd1']);
  assert.deepEqual(o.monitors, ['23.212.185.0/24', '2001:db8::/32']);
  assert.equal(o.join, false);
  assert.equal(o.joinfile, '/var/run/mnat/ingress-joined.sgs');
  assert.equal(o.joinfileRefreshS, 5);
  assert.deepEqual(o.target, { origin: 'https://[2001:db8::1]:9443', caFile: '/etc/mnat/ca.pem', certFile: 'c.pem', keyFile: 'k.pem' });
});

test('--join-backend smcroute with its IPC socket', () => {
  const o = ok([...base, '--join-backend', 'smcroute', '--smcroute-socket', '/run/mnat/smcroute.sock']);
  assert.equal(o.joinBackend, 'smcroute');
  assert.equal(o.smcrouteSocket, '/run/mnat/smcroute.sock');
});

test('--insecure is plaintext h2c', () => {
  assert.equal(ok([...base, '--insecure', '--port', '8080']).target.origin, 'http://mnat.example.net:8080');
});

test('--server takes the egress\'s forms too: HOST:PORT, URLs, a list of front ends', () => {
  const server = (s: string, ...more: string[]): string => ok(['--upstream-interface', 'u0', '--downstream-interface', 'd0', '--server', s, ...more]).target.origin;
  assert.equal(server('fe1:9443,https://[2001:db8::2]:9443'), 'https://fe1:9443,https://[2001:db8::2]:9443');
  assert.equal(server('http://10.0.0.1:8080', '--insecure'), 'http://10.0.0.1:8080');
  assert.throws(() => server('http://10.0.0.1:8080'), /--server: http:\/\/10.0.0.1:8080 is plaintext http; add --insecure/);
});

test('the status command reads the status file (default or --status-file)', () => {
  assert.deepEqual(parseIngressOptions(['status']), { help: false, command: 'status', statusFile: '/var/run/mnat/ingress.json' });
  assert.deepEqual(parseIngressOptions(['status', '--status-file', '/tmp/i.json']), { help: false, command: 'status', statusFile: '/tmp/i.json' });
  assert.equal(ok(base).statusFile, '/var/run/mnat/ingress.json');
});

test('--help', () => {
  assert.deepEqual(parseIngressOptions(['--help']), { help: true });
  assert.match(ingressUsage(), /--monitor PREFIX .*repeatable/);
  assert.match(ingressUsage(), /--joinfile-refresh S .*default 30/);
});

test('bad flags: one clear message naming the problem', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--downstream-interface', 'd0', '--server', 's'], /--upstream-interface is required/],
    [['--upstream-interface', 'u0', '--server', 's'], /--downstream-interface is required/],
    [['--upstream-interface', 'u0', '--downstream-interface', 'd0'], /--server is required/],
    [[...base, '--bogus'], /unknown option --bogus/],
    [[...base, '--port', '70000'], /--port: 70000 is above the maximum 65535/],
    [[...base, '--monitor', '10.1.2.3/8'], /monitor "10\.1\.2\.3\/8".*host bits set/],
    [[...base, '--monitor', 'nonsense'], /monitor "nonsense"/],
    [[...base, '--insecure', '--cacert', 'ca.pem'], /--insecure is plaintext/],
    [[...base, '--key', 'k.pem'], /--key needs --cert/],
    [[...base, '--log-level', 'loud'], /--log-level: "loud"/],
    [[...base, '--joinfile-refresh', '0'], /--joinfile-refresh: 0 is below the minimum 1/],
    [[...base, '--downstream-interface', 'up0'], /also the upstream interface/],
    [[...base, '--downstream-interface', 'down0'], /listed twice/],
    [['--upstream-interface', 'a/b', '--downstream-interface', 'd0', '--server', 's'], /not a valid interface name/],
    [[...base, '--join-backend', 'pim'], /--join-backend: "pim"/],
    [[...base, 'extra'], /unexpected argument "extra" \(the only command is "status"/],
    [[...base, '--smcroute-socket', '/run/s.sock'], /--smcroute-socket needs --join-backend smcroute/],
  ];
  for (const [argv, pattern] of cases) {
    assert.throws(() => parseIngressOptions(argv), (err: Error) => err.name === 'CliError' && pattern.test(err.message), argv.join(' '));
  }
});
