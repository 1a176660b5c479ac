// mnat-egress --server dns-sd (UCI option server 'dns-sd'): the settings keep a
// "dns-sd" origin that run.ts replaces by the DNS-SD result before starting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEgressArgs, resolveEgressSettings } from '../../src/egress/config/egress-options.ts';
import { readEgressUci } from '../../src/egress/config/egress-uci.ts';

function resolve(argv: string[], file: Parameters<typeof resolveEgressSettings>[1] = null) {
  const p = parseEgressArgs(argv);
  if (p.command !== 'run') throw new Error('expected run');
  return resolveEgressSettings(p.args, file, { joinBackend: 'smcroute' }, '/etc/config/mnat');
}

test('--server dns-sd and UCI option server dns-sd ask for discovery (https, or plaintext with insecure)', () => {
  const ifs = ['--upstream-interface', 'wan', '--downstream-interface', 'br-lan'];
  assert.equal(resolve([...ifs, '--server', 'dns-sd']).target.origin, 'dns-sd');
  assert.equal(resolve([...ifs, '--server', 'dns-sd', '--insecure']).target.origin, 'http:dns-sd');
  const uci = readEgressUci("config egress 'egress'\n\toption server 'dns-sd'\n\toption upstream 'wan'\n\toption downstream 'br-lan'\n", '/etc/config/mnat');
  assert.deepEqual(uci.warnings, []);
  assert.equal(resolve([], uci.settings).target.origin, 'dns-sd');
  // A real host name is still a host name.
  assert.equal(resolve([...ifs, '--server', 'dns-sd.isp.example']).target.origin, 'https://dns-sd.isp.example:8443');
});
