// The CPE as a real (virtual) router: the image of build/router-vm.sh booted
// under QEMU (TCG), its WAN tap a port of the lab's ISP core bridge, its LAN tap
// a LAN host's NIC. In it the package is installed, configured and run the
// router's way, and the global stream reaches the LAN host translated by the
// VM's own kernel (Debian's 6.1, near OpenWrt's 6.6/6.12).
//
// With MNAT_OPENWRT_SRC the image has OpenWrt's userspace: procd is PID 1 with
// ubusd, the package goes in with opkg (and as an .apk with apk-tools v3),
// is configured with uci and run by procd through its init script. Without it
// (CI) BusyBox init is PID 1 and supervises the agent, the .ipk is unpacked
// with tar and the config file is written directly: the summary line says which.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApk, buildIpk } from '../../build/package-ipk.mjs';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { CHANNELS, MnatLab, haveCommand, isRoot, receiverStats, SERVER_PORT, type ReceiverStats } from '../../lab/mnat-lab.ts';
import { buildRouterVmImage, RouterVm, type RouterVmImage } from '../../lab/router-vm.ts';
import type { LabProcess, Netns } from '../../lab/lab.ts';
import type { LanHost } from '../../lab/topology.ts';
import { decodeRuleEntry, parseMapDump, sumCounters } from '../../src/dataplane/bpf-map-codec.ts';
import { REPO_ROOT } from '../../lab/lab.ts';

const skip = !isRoot()
  ? 'the router VM lab needs root'
  : !haveCommand('qemu-system-x86_64')
    ? 'qemu-system-x86_64 is missing: run build/setup-debian.sh'
    : false;

const PIN_DIR = '/sys/fs/bpf/mnat/egress-wan';
/** build/router-vm.sh builds OpenWrt's userspace in when MNAT_OPENWRT_SRC names its sources. */
const full = Boolean(process.env.MNAT_OPENWRT_SRC);
const CH = CHANNELS.v4;

describe('router VM', { skip }, () => {
  let image: RouterVmImage;
  let m: MnatLab;
  let vm: RouterVm;
  let lanHost: LanHost;
  let rx: LabProcess | null = null;
  let scratch = '';
  let firstPacketMs = 0;
  /** The local channel of the first agent (left in smcrouted when that agent is killed). */
  let firstLocal = '';
  const started = Date.now();

  before(async () => {
    image = buildRouterVmImage();
    assert.equal(image.manifest.init, full ? 'procd' : 'busybox', 'the image build picked the expected init');
    m = await MnatLab.create(undefined, { cpes: 0, hostsPerCpe: 1, extraClients: ['vm'] });
    // Inside the lab's run directory: removed with the lab, or by the next run after a crash.
    scratch = mkdtempSync(join(m.dir, 'vm-'));
    const hostNs = await m.lab.netns('vmlan');
    vm = await RouterVm.start(m.lab, image, {
      wan: { ns: m.topo.core.ns, bridge: 'br-core', port: 'p-vm' },
      lan: { ns: hostNs, dev: 'eth0' },
    });
    lanHost = await lanHostOn(hostNs);
    await Promise.all([m.startServer(), routerNetwork(vm)]);
    await m.startIngress();
    m.sender(CH, { rate: 100 });
  });

  after(async () => {
    if (vm && image) {
      console.log(
        `router-vm: kernel ${image.manifest.kernel.release}, init ${full ? 'procd (OpenWrt procd, ubusd, uci, jsonfilter real)' : 'busybox (no OpenWrt userspace: procd, ubus, uci not built)'}, ` +
          `packages ${full ? 'opkg (opkg-lede) + apk (apk-tools v3)' : 'none (.ipk data unpacked with tar)'}, qjs ${image.manifest.qjs.version} ${image.manifest.qjs.libc}`,
      );
      console.log(`router-vm: boot ${vm.bootMs} ms (guest uptime ${vm.readyUptimeS} s), boot to first packet at the LAN host ${firstPacketMs} ms, suite ${Date.now() - started} ms`);
    }
    await m?.destroy();
  });

  test('boots Debian 12 kernel 6.1 with the musl qjs and the expected init', async () => {
    assert.equal((await vm.run('uname -r')).trim(), image.manifest.kernel.release);
    assert.match(image.manifest.kernel.release, /^6\.1\./);
    assert.match(await vm.run('qjs -h 2>&1 | head -n1; true'), new RegExp(`QuickJS version ${image.manifest.qjs.version}`));
    assert.equal((await vm.exec('grep -q /lib/ld-musl-x86_64.so.1 /usr/bin/qjs')).code, 0, 'qjs is linked against musl');
    const pid1 = (await vm.run('cat /proc/1/comm')).trim();
    if (full) {
      assert.equal(pid1, 'procd');
      assert.match(await vm.run('ubus list'), /^service$/m, 'ubusd answers and procd registered its service object');
    } else {
      assert.equal(pid1, 'init');
      assert.equal((await vm.run('readlink /proc/1/exe')).trim(), '/bin/busybox');
    }
    assert.match(await vm.run('readlink /bin/sh'), /busybox/);
  });

  test(`installs the package with the router's package manager`, async () => {
    const bundle = join(scratch, 'mnat-egress.qjs.js');
    await bundleQuickjs(join(REPO_ROOT, 'src/egress/main-qjs.ts'), bundle);
    const ipk = buildIpk({ root: REPO_ROOT, outDir: scratch, bundle });
    await vm.put(`/tmp/${ipk.path.split('/').pop()}`, readFileSync(ipk.path));
    if (full) {
      await vm.run(`opkg install /tmp/mnat-egress_${ipk.version}_all.ipk`, 120_000);
      assert.match(await vm.run('opkg list-installed'), new RegExp(`^mnat-egress - ${ipk.version.replace(/\./g, '\\.')}$`, 'm'));
      // default_postinst ran the uci-defaults and enabled the service.
      assert.equal((await vm.exec('ls /etc/uci-defaults/80_mnat')).code, 1, 'uci-defaults script ran and was removed');
      assert.match(await vm.run('ls /etc/rc.d'), /S95mnat-egress/);
    } else {
      await vm.run(`tar -xzOf /tmp/mnat-egress_${ipk.version}_all.ipk ./data.tar.gz | tar -xz -C /`);
    }
    for (const f of ['/usr/share/mnat/mnat-egress.qjs.js', '/lib/bpf/mnat-translator.bpf.o', '/etc/init.d/mnat-egress', '/etc/config/mnat']) {
      assert.equal((await vm.exec(`[ -s ${f} ]`)).code, 0, `${f} installed`);
    }
  });

  test('the translator object passes the 6.1 verifier', async () => {
    const out = await vm.run(
      'bpftool prog load /lib/bpf/mnat-translator.bpf.o /sys/fs/bpf/verifier-check type classifier && ' +
        'bpftool -j prog show pinned /sys/fs/bpf/verifier-check; rc=$?; rm -f /sys/fs/bpf/verifier-check; exit $rc',
    );
    // bpftool prog load fails unless the kernel's verifier accepts the program.
    const prog = JSON.parse(out) as { type: string; name: string; bytes_xlated?: number };
    assert.equal(prog.type, 'sched_cls');
    assert.equal(prog.name, 'mnat_translate');
    assert.ok((prog.bytes_xlated ?? 0) > 0, out);
  });

  test(full ? 'configured with uci, started by procd' : 'configured by its file, started by BusyBox init', async () => {
    const certs = m.certs.clients['vm'] as { cert: string; key: string };
    await vm.put('/etc/mnat/ca.pem', readFileSync(m.certs.ca));
    await vm.put('/etc/mnat/client.pem', readFileSync(certs.cert));
    await vm.put('/etc/mnat/client.key', readFileSync(certs.key), 0o600);
    const options: Record<string, string> = {
      enabled: '1', server: m.topo.core.ipv4, port: String(SERVER_PORT),
      cacert: '/etc/mnat/ca.pem', cert: '/etc/mnat/client.pem', key: '/etc/mnat/client.key',
      upstream: 'wan', downstream: 'br-lan',
    };
    if (full) {
      const sets = Object.entries(options).map(([k, v]) => `uci set mnat.egress.${k}='${v}'`).join(' && ');
      // The package's postinst started the service disabled (procd holds it with its
      // triggers, no instance). After the config, start it; then reload_config records
      // the config's checksums, so the next change is one procd hears about.
      await vm.run(`${sets} && uci commit mnat && /etc/init.d/mnat-egress start && reload_config`);
      await waitInVm(vm, `ubus call service list '{"name":"mnat-egress"}' | grep -q '"running": true'`, 30, 'procd running mnat-egress');
      const argv = await vm.run(`ubus call service list '{"name":"mnat-egress"}' | jsonfilter -e '@["mnat-egress"].instances.main.command[*]'`);
      assert.deepEqual(argv.trim().split('\n'), [
        '/usr/bin/qjs', '/usr/share/mnat/mnat-egress.qjs.js', '--uci', '/etc/config/mnat',
        '--upstream-interface', 'wan', '--downstream-interface', 'br-lan', '--bpf-object', '/lib/bpf/mnat-translator.bpf.o',
      ]);
    } else {
      const lines = Object.entries(options).map(([k, v]) => `\toption ${k} '${v}'`).join('\n');
      await vm.run(`cat >/etc/config/mnat <<'EOF'\nconfig egress 'egress'\n${lines}\n\toption max_channels '64'\nEOF`);
      // The argv the init script builds (device names as given, no netifd to resolve).
      await vm.run(
        `echo '::respawn:/usr/bin/qjs /usr/share/mnat/mnat-egress.qjs.js --uci /etc/config/mnat --upstream-interface wan ` +
          `--downstream-interface br-lan --bpf-object /lib/bpf/mnat-translator.bpf.o >>/tmp/agent.log 2>&1' >>/etc/inittab && kill -HUP 1`,
      );
    }
    await waitInVm(vm, 'pidof qjs', 20, 'the agent process');
    // The LAN host joins once the agent has made br-lan IGMPv3 (it starts as the v2 bridge
    // netifd would leave): a report the bridge took in v2 mode carries no source, and the
    // (S,G) then waits for the host's next report.
    await waitInVm(vm, agentLogHas(full, 'server connected'), 120, 'the agent connected to its server');
  });

  test('a LAN host joins and receives the global stream, translated by the VM kernel', async () => {
    rx = m.receiver(lanHost, CH);
    // The whole chain (snooping, report, server, push, translator, WAN join) runs in an
    // emulated CPU: seconds on an idle host, over a minute on a loaded one.
    const first = await rx.waitForJson((e) => e.event === 'first-packet', 240_000).catch(async (err: Error) => {
      const log = await vm.exec(`${full ? 'logread' : 'cat /tmp/agent.log'} | tail -n 25; bridge mdb show; smcroutectl -p show groups`, 60_000);
      throw new Error(`${err.message}\nin the router VM:\n${log.output}`);
    });
    firstPacketMs = Date.now() - vm.startedAt;
    assert.equal(first.source, CH.source);
    const rules = parseMapDump(await vm.run(`bpftool -j map dump pinned ${PIN_DIR}/mnat_rules`), 'mnat_rules').map(decodeRuleEntry);
    assert.equal(rules.length, 1, 'one rule in the VM translator');
    assert.deepEqual({ source: rules[0]!.value.to.source, group: rules[0]!.value.to.group }, CH);
    const counters = parseMapDump(await vm.run(`bpftool -j map dump pinned ${PIN_DIR}/mnat_counters`), 'mnat_counters');
    const packets = counters.reduce((n, e) => n + sumCounters(e.values).packets, 0);
    assert.ok(packets > 0, 'the VM kernel translated packets');
    firstLocal = `${rules[0]!.from.source}, ${rules[0]!.from.group}`;
  });

  test(full ? 'uci set + commit + reload_config: the agent re-reads its config, the channel keeps flowing' : 'config change + SIGHUP (what reload does): the agent re-reads it, the channel keeps flowing', async () => {
    const pid = (await vm.run('pidof qjs')).trim();
    const before = await flowing(rx!);
    // uci commit alone tells nobody; reload_config (what LuCI's and rpcd's apply run) sends
    // procd the config.change event that the init script's reload trigger waits for.
    if (full) await vm.run(`uci set mnat.egress.max_channels='32' && uci commit mnat && reload_config`);
    else await vm.run(`sed -i "s/option max_channels '64'/option max_channels '32'/" /etc/config/mnat && kill -HUP ${pid}`);
    // procd runs the trigger 1 s after the event; the init script and the agent then take their time under TCG.
    await waitInVm(vm, agentLogHas(full, 'max channels 64 -> 32'), 90, 'the agent logging its reload');
    const after = await flowing(rx!);
    assert.equal((await vm.run('pidof qjs')).trim(), pid, 'same agent process (SIGHUP, no restart)');
    assert.equal(after.missing, before.missing, 'no datagram lost across the reload');
  });

  test(`kill -9 of the agent: ${full ? 'procd' : 'BusyBox init'} respawns it and the stream comes back`, async () => {
    const pid = (await vm.run('pidof qjs')).trim();
    await vm.run(`kill -9 ${pid}`);
    // procd restarts after its respawn timeout (5 s); BusyBox init at once.
    await waitInVm(vm, `p=$(pidof qjs) && [ "$p" != ${pid} ]`, 30, 'a new agent process');
    // The new agent finds its predecessor's translator pinned and the WAN join held by
    // smcrouted; it takes both over once the server has told it the mapping again.
    await waitInVm(vm, agentLogHas(full, 'msg="translate ', 2), 60, 'the respawned agent translating the channel');
    await flowing(rx!);
    const rules = parseMapDump(await vm.run(`bpftool -j map dump pinned ${PIN_DIR}/mnat_rules`), 'mnat_rules');
    assert.equal(rules.length, 1, 'the respawned agent keeps one rule');
  });

  test(full ? '/etc/init.d/mnat-egress stop leaves no qdisc, filter or pin' : 'SIGTERM (what stop sends) leaves no qdisc, filter or pin', async () => {
    const rule = parseMapDump(await vm.run(`bpftool -j map dump pinned ${PIN_DIR}/mnat_rules`), 'mnat_rules').map(decodeRuleEntry)[0];
    const lastLocal = `${rule?.from.source}, ${rule?.from.group}`;
    if (full) await vm.run('/etc/init.d/mnat-egress stop');
    else {
      // Take the agent out of init's hands; BusyBox init may itself SIGTERM an entry that
      // went away (FEATURE_KILL_REMOVED). Send one SIGTERM only if it did not: a second
      // one makes the agent exit at once, without its clean-up.
      await vm.run(`p=$(pidof qjs); sed -i '/mnat-egress.qjs.js/d' /etc/inittab && kill -HUP 1
i=0; while [ $i -lt 30 ] && kill -0 $p 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
grep -q 'stopping' /tmp/agent.log || kill -TERM $p 2>/dev/null; true`);
    }
    await waitInVm(vm, '! pidof qjs', 20, 'the agent to exit');
    assert.doesNotMatch(await vm.run('tc qdisc show dev wan'), /clsact/);
    assert.equal((await vm.run('tc filter show dev wan ingress')).trim(), '');
    const pins = (await vm.run('ls -A /sys/fs/bpf/mnat 2>/dev/null; true')).trim();
    assert.equal(pins, '', `pins left: ${await vm.run(`ls -lR /sys/fs/bpf/mnat; ${full ? 'logread' : 'cat /tmp/agent.log'} | tail -n 8; true`)}`);
    const joins = await vm.run('smcroutectl -p show groups 2>&1; true');
    assert.ok(!joins.includes(`(${lastLocal}`), `the agent's WAN join (${lastLocal}) was left: ${joins}`);
  });

  test('OpenWrt 25.12: the .apk built with apk-tools v3 installs with apk, starts, and apk del cleans up', { skip: full ? false : 'needs MNAT_OPENWRT_SRC (apk-tools v3 is built from it)' }, async () => {
    await vm.run('opkg remove mnat-egress', 60_000);
    assert.doesNotMatch(await vm.run('opkg list-installed'), /mnat-egress/);
    assert.equal((await vm.exec('[ -e /etc/rc.d/S95mnat-egress ]')).code, 1, 'default_prerm disabled the service');
    const bundle = join(scratch, 'mnat-egress.qjs.js');
    const apkBin = join(image.dir, '..', 'openwrt/usr/bin/apk');
    const built = buildApk({ root: REPO_ROOT, outDir: scratch, bundle, apk: apkBin, env: { ...process.env, LD_LIBRARY_PATH: join(image.dir, '..', 'openwrt/usr/lib') } });
    await vm.put(`/tmp/mnat-egress-${built.version}.apk`, readFileSync(built.path));
    // --force-non-repository: apk refuses a local package on a root it sees is in RAM (the
    // VM's initramfs); a router's flash overlay does not need it.
    await vm.run(`apk add --allow-untrusted --force-non-repository /tmp/mnat-egress-${built.version}.apk`, 120_000);
    assert.match(await vm.run('apk info -v 2>/dev/null; apk list --installed 2>/dev/null; true'), new RegExp(`mnat-egress-${built.version.replace(/\./g, '\\.')}`));
    assert.match(await vm.run('ls /etc/rc.d'), /S95mnat-egress/, 'post-install enabled the service');
    // The config kept from before (a conffile) has the agent enabled: post-install started it.
    await waitInVm(vm, 'pidof qjs', 30, 'the agent started by the .apk post-install');
    await flowing(rx!);
    await vm.run('apk del mnat-egress', 120_000);
    await waitInVm(vm, '! pidof qjs', 30, 'the agent to stop on apk del');
    assert.doesNotMatch(await vm.run('tc qdisc show dev wan'), /clsact/);
    assert.equal((await vm.run('ls -A /sys/fs/bpf/mnat 2>/dev/null; true')).trim(), '');
    assert.equal((await vm.exec('[ -e /usr/share/mnat/mnat-egress.qjs.js ]')).code, 1, 'files removed');
  });

  test('no WAN join outlives the agents (known issue: a kill -9 leaves the dead agent\'s smcroute joins)', { todo: 'the egress does not leave joins its killed predecessor made through smcrouted' }, async () => {
    const joins = await vm.run('smcroutectl -p show groups 2>&1; true');
    assert.ok(!joins.includes(`(${firstLocal})`), `stale join (${firstLocal}) still held by smcrouted:\n${joins}`);
  });
});

/** The LAN host behind the VM: the tap is its eth0. */
async function lanHostOn(ns: Netns): Promise<LanHost> {
  const h: LanHost = { ns, dev: 'eth0', ipv4: '192.168.1.11', ipv6: 'fd00:1:1::b', cpe: 1, index: 1 };
  await ns.addr('eth0', `${h.ipv4}/24`);
  await ns.addr('eth0', `${h.ipv6}/64`);
  await ns.route(['default', 'via', '192.168.1.1']);
  await ns.route(['224.0.0.0/4', 'dev', 'eth0']);
  await ns.route(['ff30::/12', 'dev', 'eth0']);
  return h;
}

/** What netifd would set up on a router: WAN addresses and routes, the LAN bridge. */
async function routerNetwork(vm: RouterVm): Promise<void> {
  await vm.run(`
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip link set wan up
ip addr add 10.0.0.11/24 dev wan
ip -6 addr add fd00:c0::b/64 dev wan nodad
ip route add default via 10.0.0.1
ip link add br-lan type bridge
ip link set lan1 master br-lan
ip link set lan1 up
ip addr add 192.168.1.1/24 dev br-lan
ip -6 addr add fd00:1:1::1/64 dev br-lan nodad
ip link set br-lan up`);
}

/** A guest-side check retried until it holds, for at most `seconds` of guest time (one control round trip). */
async function waitInVm(vm: RouterVm, check: string, seconds: number, what: string): Promise<string> {
  // Bounded by the guest's clock, not a try count: under TCG one try of a pipeline can take a second.
  const script = `end=$(($(cut -d. -f1 /proc/uptime) + ${seconds}))
while :; do
  if ${check}; then exit 0; fi
  [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || exit 1
  sleep 0.2
done`;
  const r = await vm.exec(script, (seconds + 60) * 1000);
  if (r.code !== 0) {
    const state = await vm.exec('ubus call service list 2>/dev/null | head -c 2000; logread 2>/dev/null | tail -n 15; tail -n 15 /tmp/agent.log 2>/dev/null', 60_000).catch(() => ({ output: '' }));
    throw new Error(`router VM: timed out after ${seconds} s waiting for ${what}\n${r.output}\n${state.output}`);
  }
  return r.output;
}

/** A check that the agent's log (syslog under procd; its inittab line's file under BusyBox init) has `text` at least `count` times. */
function agentLogHas(full: boolean, text: string, count = 1): string {
  const source = full ? 'logread' : 'cat /tmp/agent.log';
  return `[ "$(${source} 2>/dev/null | grep -c '${text}')" -ge ${count} ]`;
}

/** Waits until the receiver's count grows by 50 datagrams (half a second of the stream); returns the stats. */
async function flowing(rx: LabProcess): Promise<ReceiverStats> {
  const start = await receiverStats(rx);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = await receiverStats(rx);
    if (now.unique >= start.unique + 50) return now;
    if (Date.now() > deadline) throw new Error(`the stream is not flowing: ${start.unique} -> ${now.unique} datagrams in 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
