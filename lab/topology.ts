// The reference topology of the MNAT lab:
//
//   sender ──(eth0|up0)── ingress ──(core0|p-ing)── core bridge br-core ──(p-cpeK|wan)── cpeK
//   cpeK: br-lan with ports lan1..lanM ──(lanJ|eth0)── host K.J
//
// The core bridge snoops IGMPv3/MLDv2 with a querier; its CPE-facing ports have
// mcast_flood off, so a CPE receives a local (S,G) only while it has joined it.
// Each br-lan snoops with a querier too. All addresses are chosen here:
//   sender  eth0  198.51.100.2/24  2001:db8:100::2/64   (ingress up0 .1 / ::1)
//   ingress core0 10.0.0.1/24      fd00:c0::1/64
//   core    br-core 10.0.0.254/24  fd00:c0::fe/64
//   cpeK    wan   10.0.0.(10+K)/24 fd00:c0::(10+K)/64 ; br-lan 192.168.K.1/24 fd00:1:K::1/64
//   hostK.J eth0  192.168.K.(10+J)/24  fd00:1:K::(10+J)/64, default routes via br-lan
// Multicast routes (224.0.0.0/4, ff30::/12 = every SSM scope, in the main table) point at the
// interface a socket should use, so senders need not select one.
import type { Lab, Netns } from './lab.ts';

export interface TopologyOptions {
  cpes?: number;          // default 1; 0 builds sender, ingress and core only
  hostsPerCpe?: number;   // default 1
  /** Core ports toward CPEs flood unregistered multicast? default false (the MNAT premise). */
  coreFlood?: boolean;
  /** Fast leave on the core's CPE ports (deterministic leave). default true. */
  coreFastLeave?: boolean;
}

export interface Iface {
  ns: Netns;
  dev: string;
  ipv4: string;
  ipv6: string;
}

export interface LanHost extends Iface {
  cpe: number;
  index: number;
}

export interface Cpe {
  index: number;
  ns: Netns;
  wan: Iface;
  /** The core bridge's port facing this CPE. */
  corePort: string;
  lan: Iface & { bridge: 'br-lan'; ports: string[] };
  hosts: LanHost[];
}

export interface Topology {
  sender: Iface;
  ingress: { ns: Netns; up: Iface; core: Iface };
  core: { ns: Netns; bridge: 'br-core'; ipv4: string; ipv6: string; ingressPort: 'p-ing'; cpePorts: string[] };
  cpes: Cpe[];
}

export async function buildTopology(lab: Lab, opts: TopologyOptions = {}): Promise<Topology> {
  const nCpe = opts.cpes ?? 1;
  const nHost = opts.hostsPerCpe ?? 1;
  if (nCpe < 0 || nCpe > 200 || nHost < 1 || nHost > 200) throw new Error('buildTopology: cpes must be 0..200 (0: no namespace CPE, e.g. a router VM instead) and hostsPerCpe 1..200');

  const [senderNs, ingressNs, coreNs] = await Promise.all([lab.netns('snd'), lab.netns('ing'), lab.netns('core')]);
  const cpeNs = await Promise.all(Array.from({ length: nCpe }, (_, k) => lab.netns(`cpe${k + 1}`)));
  const hostNs = await Promise.all(
    cpeNs.map((_, k) => Promise.all(Array.from({ length: nHost }, (_, j) => lab.netns(`h${k + 1}x${j + 1}`)))),
  );

  // Links first: bridges need ports with carrier for their link-local address (MLD querier).
  await lab.link(senderNs, 'eth0', ingressNs, 'up0');
  await lab.link(ingressNs, 'core0', coreNs, 'p-ing');
  for (let k = 0; k < nCpe; k++) {
    await lab.link(coreNs, `p-cpe${k + 1}`, cpeNs[k]!, 'wan');
    for (let j = 0; j < nHost; j++) await lab.link(cpeNs[k]!, `lan${j + 1}`, hostNs[k]![j]!, 'eth0');
  }

  const sender: Iface = { ns: senderNs, dev: 'eth0', ipv4: '198.51.100.2', ipv6: '2001:db8:100::2' };
  const ingressUp: Iface = { ns: ingressNs, dev: 'up0', ipv4: '198.51.100.1', ipv6: '2001:db8:100::1' };
  const ingressCore: Iface = { ns: ingressNs, dev: 'core0', ipv4: '10.0.0.1', ipv6: 'fd00:c0::1' };
  await addIface(sender, 24, 64);
  await addIface(ingressUp, 24, 64);
  await addIface(ingressCore, 24, 64);
  await multicastVia(senderNs, 'eth0');
  await multicastVia(ingressNs, 'core0');
  await senderNs.route(['default', 'via', ingressUp.ipv4]);
  await senderNs.route(['default', 'via', ingressUp.ipv6]);
  await ingressNs.sysctl('net.ipv4.ip_forward', 1);
  await ingressNs.sysctl('net.ipv6.conf.all.forwarding', 1);

  const cpePorts = Array.from({ length: nCpe }, (_, k) => `p-cpe${k + 1}`);
  const cpes: Cpe[] = [];
  for (let k = 0; k < nCpe; k++) {
    const K = k + 1;
    const ns = cpeNs[k]!;
    const wan: Iface = { ns, dev: 'wan', ipv4: `10.0.0.${10 + K}`, ipv6: `fd00:c0::${(10 + K).toString(16)}` };
    await addIface(wan, 24, 64);
    await multicastVia(ns, 'wan');
    await ns.route(['default', 'via', ingressCore.ipv4]);
    await ns.route(['default', 'via', ingressCore.ipv6]);
    const lanPorts = Array.from({ length: nHost }, (_, j) => `lan${j + 1}`);
    const hosts: LanHost[] = [];
    for (let j = 0; j < nHost; j++) {
      const J = j + 1;
      const h: LanHost = { ns: hostNs[k]![j]!, dev: 'eth0', ipv4: `192.168.${K}.${10 + J}`, ipv6: `fd00:1:${K.toString(16)}::${(10 + J).toString(16)}`, cpe: K, index: J };
      await addIface(h, 24, 64);
      await h.ns.route(['default', 'via', `192.168.${K}.1`]);
      await h.ns.route(['default', 'via', `fd00:1:${K.toString(16)}::1`]);
      await multicastVia(h.ns, 'eth0');
      hosts.push(h);
    }
    cpes.push({
      index: K,
      ns,
      wan,
      corePort: `p-cpe${K}`,
      lan: { ns, dev: 'br-lan', bridge: 'br-lan', ipv4: `192.168.${K}.1`, ipv6: `fd00:1:${K.toString(16)}::1`, ports: lanPorts },
      hosts,
    });
  }

  // Bridges last (ports have carrier now); their querier warm-up runs in parallel.
  await Promise.all([
    lab.addBridge(coreNs, 'br-core', {
      ports: ['p-ing', ...cpePorts.map((name) => ({ name, mcastFlood: opts.coreFlood ?? false, fastLeave: opts.coreFastLeave ?? true }))],
      addresses: ['10.0.0.254/24', 'fd00:c0::fe/64'],
    }),
    ...cpes.map((c) =>
      lab.addBridge(c.ns, 'br-lan', {
        ports: c.lan.ports,
        addresses: [`${c.lan.ipv4}/24`, `${c.lan.ipv6}/64`],
      }),
    ),
  ]);
  for (const c of cpes) {
    await c.ns.sysctl('net.ipv4.ip_forward', 1);
    await c.ns.sysctl('net.ipv6.conf.all.forwarding', 1);
  }

  return {
    sender,
    ingress: { ns: ingressNs, up: ingressUp, core: ingressCore },
    core: { ns: coreNs, bridge: 'br-core', ipv4: '10.0.0.254', ipv6: 'fd00:c0::fe', ingressPort: 'p-ing', cpePorts },
    cpes,
  };
}

async function addIface(i: Iface, len4: number, len6: number): Promise<void> {
  await i.ns.addr(i.dev, `${i.ipv4}/${len4}`);
  await i.ns.addr(i.dev, `${i.ipv6}/${len6}`);
}

/** Routes multicast out of dev, so sockets without an explicit interface use it. */
async function multicastVia(ns: Netns, dev: string): Promise<void> {
  await ns.route(['224.0.0.0/4', 'dev', dev]);
  await ns.route(['ff30::/12', 'dev', dev]);
}
