// Bump-in-the-host receivers in the lab: a host on the ISP core, with no CPE
// agent, finds the MNAT service by DNS-SD (a real dnsmasq serving PTR/SRV/TXT,
// the host's /etc/resolv.conf pointing at it) and receives global channels
// through the ingress: with mnat-recv and with the receiver library. Then the
// bad inputs mnat-recv must explain, and a re-mapping while two applications
// receive on the same UDP port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS, ispZone, ISP_DOMAIN, MNAT_SERVER_NAME, MnatLab, SERVER_PORT, waitFor, type GlobalChannel } from '../../lab/mnat-lab.ts';
import type { LabProcess } from '../../lab/lab.ts';

/** Local sources from 10.0.0.128/26, clear of the lab's own core addresses (.1, .11.., .201..). */
const POOL = {
  'group-pool': {
    ranges: [
      { 'group-range': '232.255.0.0/24', 'source-range': '10.0.0.128/26', exclude: [{ 'groupex-range': '232.255.0.0/30' }] },
      { 'group-range': 'ff35:0:0:0:0:0:a:0/112', 'source-range': 'fd00:c0::/64' },
    ],
  },
};
/** The same network renumbered by its operator: other local groups. */
const RENUMBERED = {
  'group-pool': {
    ranges: [
      { 'group-range': '232.254.0.0/24', 'source-range': '10.0.0.128/26', exclude: [{ 'groupex-range': '232.254.0.0/30' }] },
      { 'group-range': 'ff35:0:0:0:0:0:b:0/112', 'source-range': 'fd00:c0::/64' },
    ],
  },
};

const key = (c: GlobalChannel): string => `${c.source},${c.group}`;
type Stats = { unique: number; duplicates: number; missing: number; badPayload: number; foreign: number; streams: Record<string, number>; via: Record<string, number>; maxInterArrivalMs: number; local: string | null };
const stats = async (p: LabProcess): Promise<Stats> => (await p.ask('stats', (e) => e.event === 'stats', 5000)) as unknown as Stats;

/** Server, ingress (no CPE agent), DNS-SD and one host on the core. */
async function coreLab(t: { after(fn: () => Promise<void> | void): void }, refreshPeriodS?: number) {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, pool: POOL, ...(refreshPeriodS ? { refreshPeriodS } : {}) });
  await m.startServer();
  await m.startIngress();
  await m.startDns();
  return { m, h: await m.addCoreHost(1) };
}

test('a host on the ISP core with no CPE agent receives through the ingress: DNS-SD discovery, mnat-recv and the library', async (t) => {
  const { m, h } = await coreLab(t);
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v6, { rate: 200, stream: 3 });

  // mnat-recv: no --server: DNS-SD in the search domain of /etc/resolv.conf.
  const recv = m.recv(h, [CHANNELS.v4.source, CHANNELS.v4.group, '5000', '--count', '50', ...m.appTlsArgs()]);
  assert.equal(await recv.exited, 0, recv.lines.join('\n'));
  assert.ok(recv.lines.includes(`received 50 from ${CHANNELS.v4.source}`), recv.lines.join('\n'));
  assert.ok(recv.lines.some((l) => l === `mnat-recv: server https://${MNAT_SERVER_NAME}:${SERVER_PORT}/restconf (DNS-SD mnat._mnat._tcp.${ISP_DOMAIN})`), recv.lines.join('\n'));
  assert.ok(recv.lines.some((l) => /^mnat-recv: \(23\.212\.185\.4,232\.1\.1\.1\) is carried as \(10\.0\.0\.\d+,232\.255\.0\.\d+\)$/.test(l)), recv.lines.join('\n'));
  // The questions reached the lab's dnsmasq (and nothing else answered them).
  for (const q of [`_mnat._tcp.${ISP_DOMAIN}`, `mnat._mnat._tcp.${ISP_DOMAIN}`]) {
    assert.ok(m.dns!.lines.some((l) => l.includes(`query[`) && l.includes(q)), `dnsmasq saw a query for ${q}`);
  }
  // mnat-recv withdrew its join on exit: the server releases the mapping.
  await waitFor(async () => !(await m.serverMappings()).some((x) => x.global === key(CHANNELS.v4)), 10_000, 'the v4 mapping released after mnat-recv exits');

  // The library (IPv6 channel): the same discovery, then a whole stream.
  const app = m.app(h, ['--source', CHANNELS.v6.source, '--group', CHANNELS.v6.group, '--port', '5000', ...m.appTlsArgs()]);
  const server = await app.waitForJson((e) => e.event === 'server', 20_000);
  assert.equal(server.origin, `https://${MNAT_SERVER_NAME}:${SERVER_PORT}`);
  assert.equal(server.instance, `mnat._mnat._tcp.${ISP_DOMAIN}`);
  const mapped = await app.waitForJson((e) => e.event === 'mapped', 20_000);
  assert.match(String(mapped.local), /^fd00:c0::[0-9a-f:]+,ff35::a:[0-9a-f]+$/);
  await app.waitForJson((e) => e.event === 'first-packet', 20_000);
  await waitFor(async () => (await stats(app)).unique >= 300, 15_000, '300 datagrams at the application');
  const s = await stats(app);
  assert.equal(s.missing, 0, 'no gap');
  assert.equal(s.duplicates, 0);
  assert.equal(s.badPayload, 0);
  assert.equal(s.foreign, 0);
  assert.deepEqual(Object.keys(s.via), [mapped.local]);
  app.write('exit');
  assert.equal(await app.exited, 0);
  await waitFor(async () => !(await m.serverMappings()).some((x) => x.global === key(CHANNELS.v6)), 10_000, 'the v6 mapping released after close()');
});

test('mnat-recv explains bad input in one line: no service, SRV pointing nowhere, a refusing server, no client certificate, a non-SSM group', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, pool: POOL });
  await m.startServer();
  const base = ispZone(m.topo);
  await m.startDns({
    domains: [ISP_DOMAIN, 'nomnat.example', 'broken.example', 'refusing.example'],
    services: {
      ...base.services,
      'broken.example': [{ label: 'mnat', srv: [{ target: 'gone.broken.example', port: SERVER_PORT }], txt: ['path=/restconf'] }],
      'refusing.example': [{ label: 'mnat', srv: [{ target: MNAT_SERVER_NAME, port: 8444 }], txt: ['path=/restconf'] }],
    },
    hosts: base.hosts,
  });
  const h = await m.addCoreHost(1);
  const v4 = [CHANNELS.v4.source, CHANNELS.v4.group, '5000'];
  const run = async (args: string[]): Promise<{ code: number | null; err: string[] }> => {
    const p = m.recv(h, [...args, '--timeout', '10']);
    const code = await p.exited;
    return { code, err: p.lines.filter((l) => l.startsWith('mnat-recv: ')) };
  };
  const [none, nowhere, refused, noCert, notSsm] = await Promise.all([
    run([...v4, '--search', 'nomnat.example', ...m.appTlsArgs()]),
    run([...v4, '--search', 'broken.example', ...m.appTlsArgs()]),
    run([...v4, '--search', 'refusing.example', ...m.appTlsArgs()]),
    run([...v4, '--cacert', m.certs.ca]),
    run([CHANNELS.v4.source, '239.1.1.1', '5000']),
  ]);
  assert.equal(none.code, 1);
  assert.deepEqual(none.err, ['mnat-recv: no MNAT service (_mnat._tcp) found by DNS-SD in nomnat.example; asked PTR _mnat._tcp.nomnat.example: no records']);
  assert.equal(nowhere.code, 1);
  assert.deepEqual(nowhere.err, [
    'mnat-recv: SRV mnat._mnat._tcp.broken.example points to gone.broken.example:8443, which has no address (A/AAAA); asked A/AAAA gone.broken.example: no address',
  ]);
  assert.equal(refused.code, 1);
  assert.equal(refused.err.length, 2, refused.err.join('\n'));
  assert.equal(refused.err[0], `mnat-recv: server https://${MNAT_SERVER_NAME}:8444/restconf (DNS-SD mnat._mnat._tcp.refusing.example)`);
  assert.match(refused.err[1]!, new RegExp(`^mnat-recv: server https://${MNAT_SERVER_NAME}:8444 unreachable: .*ECONNREFUSED`));
  assert.equal(noCert.code, 1);
  assert.match(noCert.err.at(-1)!, new RegExp(`^mnat-recv: server https://${MNAT_SERVER_NAME}:8443 unreachable: .*(certificate|alert|handshake)`, 'i'));
  assert.equal(notSsm.code, 2);
  assert.deepEqual(notSsm.err, ['mnat-recv: group 239.1.1.1 is not a source-specific multicast group (IPv4 232.0.0.0/8, IPv6 ff3x::/32): MNAT carries SSM channels (S,G)']);
});

test('a re-mapping while two applications receive on one UDP port: make-before-break, no gap, no duplicate, no foreign datagram', async (t) => {
  const { m, h } = await coreLab(t, 2);
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v4b, { rate: 200, stream: 2 });
  // Two applications on one host and one port, each on its own channel: each must get only its own.
  const apps = [CHANNELS.v4, CHANNELS.v4b].map((ch) =>
    m.app(h, ['--source', ch.source, '--group', ch.group, '--port', '5000', '--overlap-ms', '60000', ...m.appTlsArgs()]),
  );
  const before = await Promise.all(apps.map((a) => a.waitForJson((e) => e.event === 'mapped', 20_000)));
  await Promise.all(apps.map((a) => a.waitForJson((e) => e.event === 'first-packet', 20_000)));

  // The operator renumbers the MNAT range: the server restarts with the new pool and
  // no state. Its ingress is cut off from it meanwhile (a prohibit route toward the
  // server), so it keeps translating to the old local channels; the applications
  // come back first, join the new ones and keep the old ones (make before break).
  const ingressNs = m.topo.ingress.ns;
  await ingressNs.route(['prohibit', `${m.topo.core.ipv4}/32`]);
  await m.server!.kill('SIGKILL');
  writeFileSync(join(m.dir, 'pool.json'), JSON.stringify(RENUMBERED));
  await m.startServer([], { freshState: true });
  const after = await Promise.all(apps.map((a, i) => a.waitForJson((e) => e.event === 'mapped' && e.local !== before[i]!.local, 30_000)));
  for (const a of after) assert.match(String(a.local), /^10\.0\.0\.\d+,232\.254\.0\.\d+$/);
  // The ingress reaches the server again, gets the new mappings and switches; the
  // applications then close the old local channels.
  await ingressNs.run(['ip', 'route', 'del', 'prohibit', `${m.topo.core.ipv4}/32`]);
  const switched = await Promise.all(apps.map((a) => a.waitForJson((e) => e.event === 'switched', 60_000)));
  for (const [i, s] of switched.entries()) {
    assert.equal(s.from, before[i]!.local);
    assert.equal(s.to, after[i]!.local);
    assert.equal(s.reason, 'drained', 'closed after the new channel delivered, not by the overlap limit');
  }
  const counts = await Promise.all(apps.map(stats));
  await waitFor(async () => (await Promise.all(apps.map(stats))).every((s, i) => s.unique >= counts[i]!.unique + 200), 10_000, '200 more datagrams on the new channels');
  for (const [i, a] of apps.entries()) {
    const s = await stats(a);
    const name = i === 0 ? 'v4' : 'v4b';
    assert.equal(s.missing, 0, `${name}: no datagram lost across the switch (largest gap ${s.maxInterArrivalMs.toFixed(1)} ms)`);
    assert.equal(s.duplicates, 0, `${name}: none delivered twice`);
    assert.equal(s.foreign, 0, `${name}: none of the other channel`);
    assert.equal(s.badPayload, 0);
    assert.deepEqual(Object.keys(s.via).sort(), [before[i]!.local, after[i]!.local].sort(), `${name}: only its old and new local channels`);
    t.diagnostic(`${name}: ${s.unique} datagrams, via ${JSON.stringify(s.via)}, largest inter-arrival ${s.maxInterArrivalMs.toFixed(1)} ms`);
  }
});

test('the egress under qjs finds its server by DNS-SD (--server dns-sd, BusyBox nslookup) and carries a LAN join', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, pool: POOL, egressRuntime: 'qjs' });
  await m.startServer();
  await m.startIngress();
  const resolvConf = await m.startDns();
  const egress = await m.startEgress(1, [], { server: 'dns-sd', resolvConf });
  await egress.waitForLine((l) => l.includes('msg=DNS-SD') && l.includes(`origin=https://${MNAT_SERVER_NAME}:${SERVER_PORT}`) && l.includes(`instance=mnat._mnat._tcp.${ISP_DOMAIN}`), 20_000);
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  const first = await rx.waitForJson((e) => e.event === 'first-packet', 20_000);
  assert.equal(first.source, CHANNELS.v4.source);
  for (const q of [`_mnat._tcp.${ISP_DOMAIN}`, `mnat._mnat._tcp.${ISP_DOMAIN}`]) {
    assert.ok(m.dns!.lines.some((l) => l.includes('query[') && l.includes(q)), `dnsmasq saw the egress ask for ${q}`);
  }
});
