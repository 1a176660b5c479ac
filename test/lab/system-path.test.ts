// The whole system with real packets, real HTTP/2 + TLS (client certificates)
// and the egress under qjs when built: sender -> ingress (G->L) -> ISP core ->
// CPE egress (L->G) -> LAN host, IPv4 and IPv6.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Capture } from '../../lab/core-capture.ts';
import { nodeArgv } from '../../lab/lab.ts';
import { CHANNELS, MnatLab, receiverStats, waitFor, type GlobalChannel } from '../../lab/mnat-lab.ts';
import { readTranslatorRules } from '../../lab/translator-view.ts';

const key = (c: GlobalChannel): string => `${c.source},${c.group}`;

test('full path v4+v6: two CPEs share one mapping, another source gets another, receivers get the original (Sg,Gg), the core carries only local addresses', async (t) => {
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: 2 });
  await m.startAll();
  const core = m.topo.core;
  const captures = [new Capture(core.ns, core.ingressPort), ...core.cpePorts.map((p) => new Capture(core.ns, p))];
  await Promise.all(captures.map((c) => c.ready()));

  const channels = [CHANNELS.v4, CHANNELS.v4b, CHANNELS.v6];
  channels.forEach((ch, i) => m.sender(ch, { rate: 200, stream: i + 1, size: 120 }));
  const viewers = [
    { host: m.host(1, 1), ch: CHANNELS.v4 },
    { host: m.host(2, 1), ch: CHANNELS.v4 },
    { host: m.host(1, 2), ch: CHANNELS.v6 },
    { host: m.host(2, 2), ch: CHANNELS.v4b },
  ].map((v) => ({ ...v, rx: m.receiver(v.host, v.ch) }));

  for (const v of viewers) {
    const first = await v.rx.waitForJson((e) => e.event === 'first-packet', 20_000);
    assert.equal(first.source, v.ch.source, `h${v.host.cpe}.${v.host.index} got the global source`);
    assert.equal(first.group, v.ch.group);
  }

  // The server: three assigned mappings, distinct local channels; both CPEs on the v4 one.
  const mappings = await waitFor(async () => {
    const ms = await m.serverMappings();
    return ms.filter((x) => x.state === 'assigned').length === 3 && ms.find((x) => x.global === key(CHANNELS.v4))?.egressWatchers === 2 ? ms : null;
  }, 10_000, 'three assigned mappings');
  const local = new Map(mappings.map((x) => [x.global, x.local]));
  assert.equal(new Set(local.values()).size, 3, 'each global channel has its own local channel');
  for (const ch of channels) assert.notEqual(local.get(key(ch)), key(ch), 'translated, not carried as is');

  // The kernel: the ingress translates (Sg,Gg)->(Sl,Gl) as the server said; each CPE back.
  const rules = await readTranslatorRules(m);
  for (const ch of channels) {
    const ing = rules.find((r) => r.where === 'ingress' && key(r.from) === key(ch));
    assert.ok(ing, `ingress rule for ${key(ch)}`);
    assert.equal(key(ing.to), local.get(key(ch)));
  }
  const egressV4 = rules.filter((r) => r.where.startsWith('cpe') && key(r.to) === key(CHANNELS.v4));
  assert.deepEqual(egressV4.map((r) => r.where).sort(), ['cpe1', 'cpe2'], 'both CPEs translate the shared mapping');
  assert.equal(key(egressV4[0]!.from), local.get(key(CHANNELS.v4)));

  // Streams are whole: after the first packet nothing is lost, duplicated or corrupted.
  for (const v of viewers) {
    await waitFor(async () => (await receiverStats(v.rx)).unique >= 400, 15_000, '400 packets at each receiver');
    const s = await receiverStats(v.rx);
    assert.equal(s.missing, 0, `h${v.host.cpe}.${v.host.index}: no gap`);
    assert.equal(s.duplicates, 0);
    assert.equal(s.badPayload, 0, 'payload intact after two translations');
    assert.deepEqual(Object.keys(s.sources), [v.ch.source], 'only the original source');
  }

  // The core: local channels only, on the ingress port and on both CPE ports.
  const globalGroups = new Set<string>(channels.map((c) => c.group));
  const localKeys = new Set(local.values());
  for (const [i, c] of captures.entries()) {
    const counts = c.poll();
    const seen = [...counts.byChannel.keys()];
    assert.ok(counts.total > 100, `capture ${i} saw traffic`);
    assert.deepEqual(seen.filter((k) => globalGroups.has(k.split(',')[1]!)), [], 'no global group in the core');
    for (const k of seen) assert.ok(localKeys.has(k), `${k} is a mapped local channel`);
  }
  // CPE 2 has no v6 receiver: its core port must not carry the v6 local channel.
  const v6Local = local.get(key(CHANNELS.v6))!;
  assert.equal(captures[2]!.poll().byChannel.get(v6Local) ?? 0, 0, 'the core sends a local channel only to CPEs that joined it');
  assert.ok((captures[1]!.poll().byChannel.get(v6Local) ?? 0) > 0);
  // The operator's view on the ingress: `mnat-ingress status` lists the three carried channels with counters.
  const statusText = execFileSync(nodeArgv('src/ingress/main.ts')[0]!, [...nodeArgv('src/ingress/main.ts').slice(1), 'status', '--status-file', join(m.dir, 'ingress.status.json')], { encoding: 'utf8' });
  assert.match(statusText, /connected \(push\)/);
  for (const ch of channels) assert.match(statusText, new RegExp(`${key(ch).replace(/[.]/g, '\\.')} +${local.get(key(ch))!.replace(/[.]/g, '\\.')} +carried`));
  await Promise.all(captures.map((c) => c.stop()));
});
