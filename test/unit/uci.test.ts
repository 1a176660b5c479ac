import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anonymousSectionName, findSection, parseUci, sectionsOfType, UciError, uciShow } from '../../src/egress/config/uci.ts';

// OpenWrt's default /etc/config/firewall (abridged, as shipped: tabs, single quotes, lists).
const FIREWALL = `config defaults
	option syn_flood	1
	option input		REJECT
	option output		ACCEPT
	option forward		REJECT
# Uncomment this line to disable ipv6 rules
#	option disable_ipv6	1

config zone
	option name		lan
	list   network		'lan'
	option input		ACCEPT
	option output		ACCEPT
	option forward		ACCEPT

config zone
	option name		wan
	list   network		'wan'
	list   network		'wan6'
	option input		REJECT
	option output		ACCEPT
	option forward		REJECT
	option masq		1
	option mtu_fix		1

config forwarding
	option src		lan
	option dest		wan

# We need to accept udp packets on port 68,
# see https://dev.openwrt.org/ticket/4108
config rule
	option name		Allow-DHCP-Renew
	option src		wan
	option proto		udp
	option dest_port	68
	option target		ACCEPT
	option family		ipv4

config rule
	option name		Allow-ICMPv6-Input
	option src		wan
	option proto	icmp
	list icmp_type		echo-request
	list icmp_type		echo-reply
	list icmp_type		destination-unreachable
	option limit		1000/sec
	option family		ipv6
	option target		ACCEPT
`;

// /etc/config/network as written by the LuCI/uci tools (quoted everything, named sections).
const NETWORK = `
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config globals 'globals'
	option ula_prefix 'fd12:3456:789a::/48'

config device
	option name 'br-lan'
	option type 'bridge'
	list ports 'lan1'
	list ports 'lan2'
	option igmp_snooping '1'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'
	option ip6assign '60'

config interface 'wan'
	option device 'wan'
	option proto 'pppoe'
	option username 'user@isp'
	option password 'pa ss''word'
`;

// The igmpproxy package's default config (unquoted values, a commented option).
const IGMPPROXY = `config igmpproxy
	option quickleave 1
#	option verbose [0-3](none, minimal[default], more, maximum)

config phyint
	option network wan
	option zone wan
	option direction upstream
	list altnet 192.168.1.0/24

config phyint
	option network lan
	option zone lan
	option direction downstream
`;

test('firewall defaults: anonymous sections get the cfgNNHHHH names uci gives them', () => {
  const pkg = parseUci(FIREWALL, '/etc/config/firewall');
  assert.deepEqual(
    pkg.sections.map((s) => s.name),
    ['cfg01e63d', 'cfg02dc81', 'cfg03dc81', 'cfg04ad58', 'cfg0592bd', 'cfg0692bd'],
  );
  assert.ok(pkg.sections.every((s) => s.anonymous));
  const wan = findSection(pkg, '@zone[1]');
  assert.equal(wan?.options.name, 'wan');
  assert.deepEqual(wan?.options.network, ['wan', 'wan6']);
  assert.equal(findSection(pkg, '@zone[-1]'), wan);
  assert.equal(findSection(pkg, 'cfg02dc81')?.options.name, 'lan');
  assert.equal(findSection(pkg, '@zone[2]'), undefined);
  const icmp = findSection(pkg, '@rule[1]');
  assert.deepEqual(icmp?.options.icmp_type, ['echo-request', 'echo-reply', 'destination-unreachable']);
  assert.equal(icmp?.options.limit, '1000/sec');
  assert.equal(pkg.sections[0]?.options.disable_ipv6, undefined, 'a commented option is not set');
  assert.equal(sectionsOfType(pkg, 'rule').length, 2);
  assert.equal(pkg.sections[1]?.line, 9);
  assert.equal(pkg.sections[1]?.optionLines.forward, 14);
});

test('network: named sections, quoting, lists, the shell-style quote escape', () => {
  const pkg = parseUci(NETWORK, '/etc/config/network');
  assert.deepEqual(
    pkg.sections.map((s) => `${s.type}:${s.name}`),
    ['interface:loopback', 'globals:globals', 'device:cfg030f15', 'interface:lan', 'interface:wan'],
  );
  assert.equal(findSection(pkg, 'wan')?.options.password, "pa ssword");
  assert.deepEqual(findSection(pkg, '@device[0]')?.options.ports, ['lan1', 'lan2']);
  assert.equal(findSection(pkg, '@interface[1]')?.name, 'lan');
  assert.deepEqual(uciShow(pkg, 'network').slice(0, 3), [
    'network.loopback=interface',
    "network.loopback.device='lo'",
    "network.loopback.proto='static'",
  ]);
  assert.ok(uciShow(pkg, 'network').includes("network.@device[0].ports='lan1' 'lan2'"));
  assert.ok(uciShow(pkg, 'network', true).includes('network.cfg030f15=device'));
});

test('igmpproxy: unquoted values and comment lines', () => {
  const pkg = parseUci(IGMPPROXY, '/etc/config/igmpproxy');
  assert.equal(pkg.sections.length, 3);
  assert.equal(pkg.sections[0]?.options.quickleave, '1');
  assert.equal(pkg.sections[0]?.options.verbose, undefined);
  assert.deepEqual(
    sectionsOfType(pkg, 'phyint').map((s) => [s.options.network, s.options.direction, s.index]),
    [['wan', 'upstream', 0], ['lan', 'downstream', 1]],
  );
  assert.deepEqual(sectionsOfType(pkg, 'phyint')[0]?.options.altnet, ['192.168.1.0/24']);
});

test('quoting and escapes follow libuci', () => {
  const pkg = parseUci(
    [
      'package mnat',
      'config egress main',
      `\toption a "double \\"quoted\\" \\\\ back \\n no-escape"`,
      `\toption b 'single \\n "kept" literally'`,
      `\toption c mixed'single'"double"plain`,
      `\toption d "# not a comment" # but this is`,
      `\toption e value#comment`,
      `\toption f "line one \\`,
      `continued"`,
      `\toption g long\\`,
      `value`,
      `\toption h ''`,
      `\toption i 'x'; option j y`,
      'o k short; l m 1; l m 2',
      "\toption 'n' 'quoted name'",
      "\toption p 'it'\\''s'",
      '',
      '   # indented comment',
      '\r',
    ].join('\n'),
    'test',
  );
  assert.equal(pkg.name, 'mnat');
  const o = pkg.sections[0]!.options;
  assert.equal(o.a, 'double "quoted" \\ back n no-escape');
  assert.equal(o.b, 'single \\n "kept" literally');
  assert.equal(o.c, 'mixedsingledoubleplain');
  assert.equal(o.d, '# not a comment');
  assert.equal(o.e, 'value');
  assert.equal(o.f, 'line one continued');
  assert.equal(o.g, 'longvalue');
  assert.equal('h' in o, false, "option x '' deletes x, as uci set does");
  assert.equal(o.i, 'x');
  assert.equal(o.j, 'y');
  assert.equal(o.k, 'short');
  assert.deepEqual(o.m, ['1', '2']);
  assert.equal(o.n, 'quoted name');
  assert.equal(o.p, "it's", "uci export's '\\'' quote escape");
  assert.equal(pkg.sections[0]!.optionLines.g, 10);
});

test('re-setting: option replaces, list after option extends it, a named section twice merges', () => {
  const pkg = parseUci(
    ["config egress 'main'", "\toption server 'a'", "\toption server 'b'", "\toption x 'first'", "\tlist x 'second'", "config other", "config egress 'main'", "\toption port '1'"].join('\n'),
  );
  assert.equal(pkg.sections.length, 2);
  const main = findSection(pkg, 'main')!;
  assert.equal(main.options.server, 'b');
  assert.deepEqual(main.options.x, ['first', 'second']);
  assert.equal(main.options.port, '1');
  assert.equal(pkg.sections[1]!.name, anonymousSectionName(2, 'other'));
});

test('CRLF files parse like LF files', () => {
  const pkg = parseUci("config egress 'e'\r\n\toption server 'x'\r\n");
  assert.equal(findSection(pkg, 'e')?.options.server, 'x');
});

function parseError(text: string): UciError {
  try {
    parseUci(text, '/etc/config/mnat');
  } catch (e) {
    assert.ok(e instanceof UciError, `expected UciError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a UciError');
}

test('errors name file:line and say what to do', () => {
  let e = parseError("\n\toption server 'x'");
  assert.equal(e.line, 2);
  assert.match(e.message, /^\/etc\/config\/mnat:2: 'option' before the first 'config' line: start a section first/);

  e = parseError("config egress\n\toption server 'unterminated\n");
  assert.equal(e.line, 2);
  assert.match(e.message, /unterminated '/);

  e = parseError('config egress\n\toption server "unterminated\n');
  assert.match(e.message, /:2: unterminated "/);

  e = parseError("config egress\n\toptoin server 'x'");
  assert.match(e.message, /:2: invalid command 'optoin'/);

  e = parseError("config egress\n\toption server a b");
  assert.match(e.message, /:2: too many arguments to 'option'.*quote values that contain spaces/);

  e = parseError("config egress 'my-name'");
  assert.match(e.message, /:1: invalid section name 'my-name': use only letters, digits and _/);

  e = parseError("config egress\n\toption 'bad.name' 1");
  assert.match(e.message, /:2: invalid option name 'bad.name'/);

  e = parseError('config');
  assert.match(e.message, /:1: 'config' needs a section type/);

  e = parseError('config egress\n\toption');
  assert.match(e.message, /:2: 'option' needs a name and a value/);

  e = parseError('config egress\n\toption a "x\\');
  assert.match(e.message, /unterminated " at the end of the file/);
});

test('an empty file or one with only comments has no sections', () => {
  assert.deepEqual(parseUci('').sections, []);
  assert.deepEqual(parseUci('# nothing\n\n   \n').sections, []);
});
