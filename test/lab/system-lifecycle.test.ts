// Mapping life cycle through the whole system, with a pool of exactly one local
// group: a second channel waits 'unassigned'; the last leave releases the first
// mapping (the ingress stops joining and translating); the group stays unused
// for the grace period; then the waiting channel gets it and flows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capture } from '../../lab/core-capture.ts';
import { CHANNELS, MnatLab, receiverStats, waitFor, type GlobalChannel } from '../../lab/mnat-lab.ts';
import { readTranslatorRules } from '../../lab/translator-view.ts';

const key = (c: GlobalChannel): string => `${c.source},${c.group}`;
const GROUP = '232.255.0.1';
const GRACE_S = 6;

test('pool of one: unassigned, release on the last leave, grace, then the waiting channel flows', async (t) => {
  const m = await MnatLab.create(t, {
    cpes: 2,
    hostsPerCpe: 1,
    gracePeriodS: GRACE_S,
    pool: { 'group-pool': { ranges: [{ 'group-range': `${GROUP}/32`, 'source-range': '10.0.0.0/24' }] } },
  });
  await m.startAll();
  const capture = new Capture(m.topo.core.ns, m.topo.core.ingressPort);
  await capture.ready();
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v4b, { rate: 200, stream: 2 });

  const rxA = m.receiver(m.host(1, 1), CHANNELS.v4);
  const firstA = await rxA.waitForJson((e) => e.event === 'first-packet', 20_000);
  assert.equal(firstA.source, CHANNELS.v4.source);

  // The second channel finds the pool empty: unassigned, nothing programmed, nothing received.
  const rxB = m.receiver(m.host(2, 1), CHANNELS.v4b);
  await rxB.waitForJson((e) => e.event === 'joined');
  await waitFor(async () => (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4b))?.state === 'unassigned', 10_000, 'v4b unassigned');
  const mappingA = (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4));
  assert.equal(mappingA?.state, 'assigned');
  assert.equal(mappingA?.local.split(',')[1], GROUP);
  let rules = await readTranslatorRules(m);
  assert.equal(rules.filter((r) => key(r.from) === key(CHANNELS.v4b)).length, 0, 'no rule for an unassigned channel');
  assert.equal((await receiverStats(rxB)).unique, 0);

  const mcfilterBefore = await m.topo.ingress.ns.run(['cat', '/proc/net/mcfilter']);
  assert.match(mcfilterBefore, /up0\s+0xe8010101\s+0x17d4b904/i, 'the ingress joined (23.212.185.4,232.1.1.1) upstream on up0');

  // Last leave: the egress leaves, the server releases, the ingress stops joining and translating.
  const ingressLines = m.ingress!.lines.length;
  rxA.write('exit');
  await rxA.exited;
  const leftAt = Date.now();
  await m.ingress!.waitForLine((l) => l.includes(`leave (${key(CHANNELS.v4)}) on up0`), 10_000, ingressLines);
  await m.ingress!.waitForLine((l) => l.includes(`stop translating (${key(CHANNELS.v4)})`), 10_000, ingressLines);
  const stoppedAt = Date.now();
  rules = await readTranslatorRules(m);
  assert.equal(rules.filter((r) => r.where === 'ingress').length, 0, 'the ingress translates nothing');
  const mcfilter = await m.topo.ingress.ns.run(['cat', '/proc/net/mcfilter']);
  assert.ok(!/0xe8010101/i.test(mcfilter), 'no upstream (S,G) membership for 232.1.1.1 left on the ingress');
  t.diagnostic(`leave -> ingress stopped: ${stoppedAt - leftAt} ms`);

  // Grace: the group carries nothing and is not given to the waiting channel.
  await new Promise((r) => setTimeout(r, 500)); // let the capture drain packets sent before the removal
  const groupPackets = (): number => [...capture.poll().byChannel].filter(([k]) => k.endsWith(`,${GROUP}`)).reduce((n, [, v]) => n + v, 0);
  const quiet = groupPackets();
  let assignedAt = 0;
  let lastQuiet = quiet;
  await waitFor(async () => {
    const b = (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4b));
    if (b?.state === 'assigned') {
      assignedAt = Date.now();
      return true;
    }
    lastQuiet = groupPackets();
    return false;
  }, (GRACE_S + 15) * 1000, 'v4b assigned after the grace period');
  assert.equal(lastQuiet, quiet, `${GROUP} carried nothing while in grace`);
  const waited = assignedAt - leftAt;
  t.diagnostic(`release -> reassigned: ${waited} ms (grace ${GRACE_S} s)`);
  assert.ok(waited >= (GRACE_S - 1) * 1000, `the group was reused after ${waited} ms, before the grace period`);

  // The waiting channel now flows on the same local group, with its original addresses at the host.
  const firstB = await rxB.waitForJson((e) => e.event === 'first-packet', 15_000);
  assert.equal(firstB.source, CHANNELS.v4b.source);
  const mappingB = (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4b));
  assert.equal(mappingB?.local.split(',')[1], GROUP);
  await capture.stop();
});
