// Runs openwrt/etc/init.d/mnat-egress with stand-ins for rc.common, procd,
// ubus, jsonfilter and logger (test/openwrt/stubs) and checks what it asks
// procd to do: the command it starts (netifd names resolved to devices), when
// it does not start, its triggers, and reload = SIGHUP vs restart.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const stubs = join(root, 'test/openwrt/stubs');
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mnat-init-'));
  mkdirSync(join(dir, 'config'));
  mkdirSync(join(dir, 'ubus'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function config(text: string): void {
  writeFileSync(join(dir, 'config/mnat'), text);
}

function iface(name: string, status: object): void {
  writeFileSync(join(dir, `ubus/network.interface.${name}.status.json`), JSON.stringify(status));
}

function running(command: string[] | null): void {
  const list = command ? { 'mnat-egress': { instances: { main: { running: true, pid: 42, command } } } } : {};
  writeFileSync(join(dir, 'ubus/service.list.json'), JSON.stringify(list));
}

/** Runs an action; returns the procd calls it made. */
function run(action: string): string[] {
  const log = join(dir, 'procd.log');
  rmSync(log, { force: true });
  const r = spawnSync('sh', [join(stubs, 'rc.common'), join(root, 'openwrt/etc/init.d/mnat-egress'), action], {
    encoding: 'utf8',
    env: {
      PATH: `${join(stubs, 'bin')}:${process.env.PATH}`,
      MNAT_ROOT: root,
      STUBS: stubs,
      UCI_DIR: join(dir, 'config'),
      UBUS_DIR: join(dir, 'ubus'),
      PROCD_LOG: log,
    },
  });
  assert.equal(r.status, 0, `init script ${action} failed: ${r.stderr}`);
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
}

const ENABLED = `config egress 'egress'
	option enabled '1'
	option server 'mnat.isp.example'
	option upstream 'wan'
	option downstream 'lan'
`;

const WAN_UP = { up: true, l3_device: 'pppoe-wan', device: 'wan' };
const LAN_UP = { up: true, l3_device: 'br-lan', device: 'br-lan' };
const COMMAND = [
  '/usr/bin/qjs', '/usr/share/mnat/mnat-egress.qjs.js', '--uci', '/etc/config/mnat',
  '--upstream-interface', 'pppoe-wan', '--downstream-interface', 'br-lan',
  '--bpf-object', '/lib/bpf/mnat-translator.bpf.o',
];

test('start: netifd networks resolve to their layer-3 devices; procd gets the command, respawn and term timeout', () => {
  config(ENABLED);
  iface('wan', WAN_UP);
  iface('lan', LAN_UP);
  assert.deepEqual(run('start'), [
    'mkdir -p /var/run/mnat',
    'open_instance main',
    `set_param command ${COMMAND.join(' ')}`,
    'set_param respawn 3600 5 5',
    'set_param term_timeout 25',
    'set_param limits nofile=1024 1024',
    'set_param stdout 1',
    'set_param stderr 1',
    'close_instance',
  ]);
});

test('start: device names work as they are; unknown names do not start', () => {
  config(ENABLED.replace("'wan'", "'lo'").replace("'lan'", "'br-lan'"));
  assert.deepEqual(run('start'), ["logger -t mnat-egress downstream 'br-lan' is not up: waiting for it"]);
  iface('lan', LAN_UP);
  config(ENABLED.replace("'wan'", "'lo'"));
  const calls = run('start');
  assert.ok(calls.includes(`set_param command ${COMMAND.join(' ').replace('pppoe-wan', 'lo')}`), calls.join('\n'));
});

test('start: a network that is down (PPPoE not up yet) waits for its interface trigger', () => {
  config(ENABLED);
  iface('wan', { up: false, device: 'wan' });
  iface('lan', LAN_UP);
  assert.deepEqual(run('start'), ["logger -t mnat-egress upstream 'wan' is not up: waiting for it"]);
});

test('start: a side that went down does not stop a running agent (it waits for the device itself)', () => {
  config(ENABLED);
  iface('wan', { up: false, device: 'wan' });
  iface('lan', LAN_UP);
  running(COMMAND);
  const calls = run('start');
  assert.equal(calls[0], "logger -t mnat-egress upstream 'wan' is not up: waiting for it");
  assert.ok(calls.includes(`set_param command ${COMMAND.join(' ')}`), calls.join('\n'));
});

test('start: disabled, or no egress section, starts nothing', () => {
  iface('wan', WAN_UP);
  iface('lan', LAN_UP);
  config(ENABLED.replace("enabled '1'", "enabled '0'"));
  assert.deepEqual(run('start'), []);
  config("config ingress 'x'\n");
  assert.deepEqual(run('start'), ["logger -t mnat-egress no 'config egress' section in /etc/config/mnat: not starting"]);
});

test('start: an anonymous egress section with defaults (wan/lan, enabled when not said)', () => {
  config("config egress\n\toption server 'h'\n");
  iface('wan', WAN_UP);
  iface('lan', LAN_UP);
  assert.ok(run('start').includes(`set_param command ${COMMAND.join(' ')}`));
});

test('triggers: config changes and both interfaces reload the service', () => {
  config(ENABLED.replace("'lan'", "'iptv'"));
  assert.deepEqual(run('triggers'), [
    'reload_trigger mnat',
    'interface_trigger interface.* wan /etc/init.d/mnat-egress reload',
    'interface_trigger interface.* iptv /etc/init.d/mnat-egress reload',
  ]);
});

test('reload: same devices → SIGHUP to the running agent (channels stay)', () => {
  config(ENABLED);
  iface('wan', WAN_UP);
  iface('lan', LAN_UP);
  running(COMMAND);
  assert.deepEqual(run('reload'), ['send_signal mnat-egress main HUP']);
  // The WAN going down (PPPoE reconnect) triggers a reload too: the agent stays.
  iface('wan', { up: false, device: 'wan' });
  assert.deepEqual(run('reload'), ["logger -t mnat-egress upstream 'wan' is not up: waiting for it", 'send_signal mnat-egress main HUP']);
});

test('reload: other devices, not running, or disabled → procd applies the new instance set', () => {
  config(ENABLED);
  iface('wan', { ...WAN_UP, l3_device: 'pppoe-wan2' });
  iface('lan', LAN_UP);
  running(COMMAND);
  const changed = run('reload');
  assert.equal(changed[1], 'open_instance main');
  assert.match(changed[2] ?? '', /--upstream-interface pppoe-wan2 /);

  iface('wan', WAN_UP);
  running(null);
  assert.equal(run('reload')[1], 'open_instance main');

  config(ENABLED.replace("enabled '1'", "enabled '0'"));
  running(COMMAND);
  assert.deepEqual(run('reload'), [], 'no instance: procd stops the running one');
});

test("stop: procd stops the instance, the script waits for the agent's own clean-up, then runs the agent's cleanup mode with the same command", () => {
  config(ENABLED);
  iface('wan', WAN_UP);
  iface('lan', LAN_UP);
  // A stand-in agent: records its argv; pid 2147483 runs nowhere (the agent is gone, e.g. killed).
  const agent = join(dir, 'agent');
  writeFileSync(agent, '#!/bin/sh\necho "agent $*" >>"$PROCD_LOG"\necho "cleaned up" >&2\n', { mode: 0o755 });
  const list = { 'mnat-egress': { instances: { main: { running: false, command: [agent, ...COMMAND.slice(1)] } } } };
  writeFileSync(join(dir, 'ubus/service.list.json'), JSON.stringify(list));
  assert.deepEqual(run('stop'), [
    'kill mnat-egress main',
    `agent /usr/share/mnat/mnat-egress.qjs.js cleanup ${COMMAND.slice(2).join(' ')}`,
    'logger -t mnat-egress cleaned up',
  ]);
  // A running agent: the script waits while it lives (bounded by the term timeout).
  const sleeper = spawnSync('sh', ['-c', 'sleep 1 & echo $!'], { encoding: 'utf8' }).stdout.trim();
  list['mnat-egress'].instances.main = { ...list['mnat-egress'].instances.main, running: true, pid: Number(sleeper) } as typeof list['mnat-egress']['instances']['main'];
  writeFileSync(join(dir, 'ubus/service.list.json'), JSON.stringify(list));
  const t0 = Date.now();
  assert.equal(run('stop').length, 3);
  assert.ok(Date.now() - t0 >= 500, 'waited for the agent to exit');
});
