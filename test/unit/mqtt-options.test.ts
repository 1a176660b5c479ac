// The --mqtt settings of the agents: egress flag and UCI option (flags win,
// errors name the flag or file option), ingress flag and --remap-delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEgressArgs, resolveEgressSettings } from '../../src/egress/config/egress-options.ts';
import { readEgressUci } from '../../src/egress/config/egress-uci.ts';
import { parseIngressOptions } from '../../src/ingress/ingress-options.ts';

const base = ['--upstream-interface', 'wan', '--downstream-interface', 'br-lan', '--server', 'mnat.example.net'];

function egress(argv: string[], uci?: string) {
  const p = parseEgressArgs([...base, ...argv]);
  if (p.command !== 'run') throw new Error('unreachable');
  const file = uci === undefined ? null : readEgressUci(`config egress 'egress'\n${uci}`, '/etc/config/mnat').settings;
  return resolveEgressSettings(p.args, file, { joinBackend: 'smcroute' }, '/etc/config/mnat');
}

test('egress: --mqtt or option mqtt; the flag wins; errors name the flag or the file option', () => {
  assert.equal(egress([]).mqtt, null);
  assert.deepEqual(egress(['--mqtt', 'mqtts://broker.isp.example:8883', '--cacert', '/ca.pem']).mqtt, {
    tls: true,
    host: 'broker.isp.example',
    port: 8883,
    root: 'mnat',
    url: 'mqtts://broker.isp.example:8883',
  });
  assert.equal(egress([], "\toption mqtt 'mqtt://10.0.0.1/isp'").mqtt?.root, 'isp');
  assert.equal(egress(['--mqtt', 'mqtt://flag'], "\toption mqtt 'mqtt://file'").mqtt?.host, 'flag');
  assert.throws(() => egress(['--mqtt', 'mqtt://h/#']), /^CliError: --mqtt: "mqtt:\/\/h\/#" is not mqtt:\/\/host\[:port\]\[\/root\] or mqtts:\/\/…$/);
  assert.throws(() => egress([], "\toption mqtt 'https://broker'"), /^CliError: \/etc\/config\/mnat: option mqtt: "https:\/\/broker" is not mqtt/);
  assert.throws(() => egress([], "\toption mqtt 'mqtt://a b'"), /\/etc\/config\/mnat:2: option mqtt: 'mqtt:\/\/a b' contains white space/);
});

test('ingress: --mqtt and --remap-delay', () => {
  const argv = ['--upstream-interface', 'up0', '--downstream-interface', 'core0', '--server', 'mnat.example.net'];
  const parse = (extra: string[]) => {
    const r = parseIngressOptions([...argv, ...extra]);
    if (r.help || r.command === 'status') throw new Error('unreachable');
    return r.options;
  };
  assert.equal(parse([]).mqtt, null);
  assert.equal(parse([]).remapDelayS, 2);
  assert.deepEqual(parse(['--mqtt', 'mqtts://[2001:db8::5]:8884/x', '--remap-delay', '0']), { ...parse(['--remap-delay', '0']), mqtt: { tls: true, host: '2001:db8::5', port: 8884, root: 'x', url: 'mqtts://[2001:db8::5]:8884/x' } });
  assert.throws(() => parse(['--mqtt', 'tcp://b']), /^CliError: --mqtt: "tcp:\/\/b" is not mqtt/);
  assert.throws(() => parse(['--remap-delay', '61']), /--remap-delay/);
});
