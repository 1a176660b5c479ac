import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EgressConfigError, readEgressUci } from '../../src/egress/config/egress-uci.ts';
import { CliError } from '../../src/core/cli-args.ts';
import { parseEgressArgs, resolveEgressSettings } from '../../src/egress/config/egress-options.ts';

const root = new URL('../..', import.meta.url).pathname;
const shipped = readFileSync(`${root}openwrt/etc/config/mnat`, 'utf8');

function configError(text: string): EgressConfigError {
  try {
    readEgressUci(text, '/etc/config/mnat');
  } catch (e) {
    assert.ok(e instanceof EgressConfigError, `expected EgressConfigError, got ${String(e)}`);
    assert.ok(e instanceof CliError, 'a config error is a CliError (exit 2)');
    return e;
  }
  assert.fail('expected an EgressConfigError');
}

test('the shipped /etc/config/mnat parses: disabled, wan/lan, defaults spelled out', () => {
  const c = readEgressUci(shipped, '/etc/config/mnat');
  assert.equal(c.enabled, false);
  assert.equal(c.section, 'egress');
  assert.deepEqual(c.warnings, []);
  assert.deepEqual(c.settings, {
    enabled: false,
    server: 'mnat.isp.example',
    port: 8443,
    upstream: 'wan',
    downstream: 'lan',
    membership: 'mdb',
    joinBackend: 'smcroute',
    maxChannels: 64,
    logLevel: 'info',
  });
});

test('every option maps to its setting; UCI words map to the flag words', () => {
  const c = readEgressUci(
    `config egress
	option enabled 'yes'
	option server 'https://[2001:db8::1]:9443'
	option cacert '/etc/mnat/ca.pem'
	option cert '/etc/mnat/client.pem'
	option key '/etc/mnat/client.key'
	option insecure 'off'
	option upstream 'pppoe-wan'
	option downstream 'br-lan'
	option membership 'control-file'
	option control_file '/etc/mnat/channels'
	option join_backend 'socket'
	option max_channels '0'
	option log_level 'warning'
	option status_file '/tmp/mnat.json'
	option api_root '/mnat-ds'
`,
    'x',
  );
  assert.equal(c.enabled, true);
  assert.match(c.section, /^cfg01[0-9a-f]{4}$/);
  assert.deepEqual(c.settings, {
    enabled: true,
    server: 'https://[2001:db8::1]:9443',
    cacert: '/etc/mnat/ca.pem',
    cert: '/etc/mnat/client.pem',
    key: '/etc/mnat/client.key',
    insecure: false,
    upstream: 'pppoe-wan',
    downstream: 'br-lan',
    membership: 'file',
    controlFile: '/etc/mnat/channels',
    joinBackend: 'socket',
    maxChannels: 0,
    logLevel: 'warn',
    statusFile: '/tmp/mnat.json',
    apiRoot: '/mnat-ds',
  });
  assert.equal(readEgressUci("config egress\n\toption membership 'bridge'", 'x').settings.membership, 'mdb');
  assert.equal(readEgressUci("config egress\n\toption membership 'both'", 'x').settings.membership, 'both');
});

test('other sections of the file are ignored; enabled defaults to on', () => {
  const c = readEgressUci("config ingress 'x'\n\toption foo 'bar'\n\nconfig egress 'e'\n\toption server 'h'\n", 'x');
  assert.equal(c.enabled, true);
  assert.equal(c.settings.enabled, undefined);
  assert.equal(c.line, 4);
});

test('unknown options are warnings with file:line and a suggestion', () => {
  const c = readEgressUci("config egress 'e'\n\toption upsteam 'wan'\n\toption colour 'red'\n", '/etc/config/mnat');
  assert.deepEqual(c.warnings, [
    "/etc/config/mnat:2: unknown option 'upsteam' in config egress, ignored (did you mean upstream?)",
    "/etc/config/mnat:3: unknown option 'colour' in config egress, ignored",
  ]);
});

test('bad values: one line naming file:line, the option and what to write', () => {
  assert.equal(
    configError("config egress\n\toption max_channels 'lots'").message,
    "/etc/config/mnat:2: option max_channels: 'lots' is not a whole number from 0 to 4096",
  );
  assert.match(configError("config egress\n\toption max_channels '5000'").message, /:2: option max_channels: '5000' is not/);
  assert.match(configError("config egress\n\toption port '0'").message, /option port: '0' is not a whole number from 1 to 65535/);
  assert.match(configError("config egress\n\toption enabled 'maybe'").message, /:2: option enabled: 'maybe' is not a boolean; use '1' or '0'/);
  assert.match(configError("config egress\n\toption membership 'igmp'").message, /option membership: 'igmp' is not bridge, control-file or both/);
  assert.match(configError("config egress\n\toption join_backend 'mrouted'").message, /option join_backend: 'mrouted' is not smcroute or socket/);
  assert.match(configError("config egress\n\toption log_level 'loud'").message, /option log_level: 'loud' is not debug, info, warn or error/);
  assert.match(configError("config egress\n\toption cacert 'ca.pem'").message, /:2: option cacert: 'ca.pem' is not an absolute path; write the full path, e.g. \/etc\/mnat\/cacert.pem/);
  assert.match(configError("config egress\n\tlist server 'a'\n\tlist server 'b'").message, /:3: option server: is a list; write it as one 'option server …' line/);
  assert.match(configError("config egress\n\toption api_root 'restconf'").message, /option api_root: 'restconf' must start with \//);
  assert.match(configError("config egress\n\toption upstream 'w a n'").message, /option upstream: 'w a n' contains white space/);
});

test('missing or duplicate egress sections, and UCI syntax errors, are config errors too', () => {
  assert.match(configError("config ingress 'x'").message, /^\/etc\/config\/mnat:1: no 'config egress' section: add one/);
  assert.match(configError("config egress 'a'\nconfig egress 'b'").message, /^\/etc\/config\/mnat:2: a second 'config egress' section \(the first is at line 1\)/);
  assert.equal(configError("config egress\n\toption server 'x").message, "/etc/config/mnat:2: unterminated ' (close the single quote on the same line)");
});

test('flags win over the file; the file fills in the rest (egress-options)', () => {
  const c = readEgressUci(
    "config egress 'egress'\n\toption server 'mnat.isp.example'\n\toption port '9443'\n\toption upstream 'wan'\n\toption downstream 'lan'\n\toption cacert '/etc/mnat/ca.pem'\n\toption max_channels '8'\n",
    '/etc/config/mnat',
  );
  const parsed = parseEgressArgs(['--uci', '/etc/config/mnat', '--upstream-interface', 'pppoe-wan', '--downstream-interface', 'br-lan']);
  assert.equal(parsed.command, 'run');
  if (parsed.command !== 'run') return;
  const s = resolveEgressSettings(parsed.args, c.settings, { joinBackend: 'smcroute' }, '/etc/config/mnat');
  assert.equal(s.upstream, 'pppoe-wan');
  assert.equal(s.downstream, 'br-lan');
  assert.equal(s.target.origin, 'https://mnat.isp.example:9443');
  assert.equal(s.target.caFile, '/etc/mnat/ca.pem');
  assert.equal(s.maxChannels, 8);
  assert.equal(s.joinBackend, 'smcroute');
});
