// DNS for the lab: a real dnsmasq (Debian's dnsmasq-base: the binary only, no
// system service) serving the DNS-SD records of the MNAT service (RFC 6763:
// PTR _mnat._tcp.<domain> → instance, SRV → host:port, TXT → path) inside a
// lab namespace, and a way to run a command with its own /etc/resolv.conf.
//
// dnsmasq never touches the host's DNS: it runs inside the lab namespace
// (listening only on the addresses given there), reads no configuration file,
// no /etc/hosts and no resolv.conf, forwards nowhere, writes no pid or lease
// file, stays in the foreground and is killed with the lab (also on failure).
import { writeFileSync } from 'node:fs';
import type { LabProcess, Netns } from './lab.ts';

export interface DnsSdInstance {
  /** The instance label, e.g. "mnat" → mnat._mnat._tcp.<domain>. */
  readonly label: string;
  readonly srv: ReadonlyArray<{ readonly target: string; readonly port: number; readonly priority?: number; readonly weight?: number }>;
  /** TXT strings in order (BusyBox nslookup shows only the first: put `path=` first). */
  readonly txt?: readonly string[];
}

export interface DnsSdZone {
  /** Domains this server answers for (names in them it does not know are NXDOMAIN). */
  readonly domains: readonly string[];
  /** DNS-SD instances per domain. */
  readonly services: Readonly<Record<string, readonly DnsSdInstance[]>>;
  /** Address records: name → addresses. */
  readonly hosts: Readonly<Record<string, readonly string[]>>;
}

/** dnsmasq's command line for a zone, listening on `listen` only. */
export function dnsmasqArgv(listen: readonly string[], zone: DnsSdZone): string[] {
  const argv = [
    'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll',
    '--pid-file=', '--bind-interfaces', '--log-facility=-', '--log-queries', '--port=53',
    ...listen.map((a) => `--listen-address=${a}`),
    ...zone.domains.map((d) => `--local=/${d}/`),
  ];
  for (const [domain, instances] of Object.entries(zone.services)) {
    for (const inst of instances) {
      const name = `${inst.label}._mnat._tcp.${domain}`;
      argv.push(`--ptr-record=_mnat._tcp.${domain},${name}`);
      for (const s of inst.srv) argv.push(`--srv-host=${name},${s.target},${s.port},${s.priority ?? 0},${s.weight ?? 0}`);
      if (inst.txt) argv.push(`--txt-record=${name},${inst.txt.map((t) => JSON.stringify(t)).join(',')}`);
    }
  }
  for (const [name, addrs] of Object.entries(zone.hosts)) argv.push(`--host-record=${name},${addrs.join(',')}`);
  return argv;
}

/** Starts dnsmasq in ns; resolves once it serves. */
export async function startDnsmasq(ns: Netns, listen: readonly string[], zone: DnsSdZone): Promise<LabProcess> {
  const p = ns.spawn(dnsmasqArgv(listen, zone), { label: `dnsmasq ${ns.name}` });
  await p.waitForLine(/started, version/, 10_000);
  return p;
}

/** Writes a resolv.conf (search domains, nameservers) and returns its path. */
export function writeResolvConf(path: string, search: readonly string[], nameservers: readonly string[]): string {
  writeFileSync(path, `# MNAT lab\n${search.length ? `search ${search.join(' ')}\n` : ''}${nameservers.map((n) => `nameserver ${n}\n`).join('')}`);
  return path;
}

/**
 * argv that runs argv with `resolvConf` as its /etc/resolv.conf: a private
 * mount namespace (util-linux unshare; propagation private, so the host never
 * sees the mount) with the file bound over /etc/resolv.conf, as
 * `ip netns exec` does with /etc/netns/NAME/resolv.conf. Everything in it, the
 * C library, node:dns and BusyBox nslookup alike, reads the lab's file.
 */
export function withResolvConf(resolvConf: string, argv: readonly string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, ...argv];
}
