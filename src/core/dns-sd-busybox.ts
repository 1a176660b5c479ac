// DNS-SD for the QuickJS egress, which has no sockets: the questions are asked
// with BusyBox's nslookup, which every OpenWrt image carries (the nslookup_lede
// applet, SRV since OpenWrt 21.02; upstream BusyBox's FEATURE_NSLOOKUP_BIG
// prints the same lines). `busybox nslookup -q=TYPE NAME` asks the servers of
// /etc/resolv.conf and prints one line per answer:
//   NAME<TAB>name = TARGET                       (PTR)
//   NAME<TAB>service = PRIO WEIGHT PORT TARGET   (SRV)
//   NAME<TAB>text = "FIRST STRING"               (TXT: only the first string)
// `-q=` (not `-type=`) is the spelling both applets parse.
import type { Host } from '../host/host.ts';
import { canonicalDomain, discoverMnat, parseResolvConf, type DnsSdLookup, type MnatService } from './dns-sd.ts';

const ANSWER = {
  PTR: /\tname = (\S+)/,
  SRV: /\tservice = (\d+) (\d+) (\d+) (\S+)/,
  TXT: /\ttext = "(.*)"/,
};

/** The answer lines of one nslookup run; [] for NXDOMAIN / no answer; throws when no server answered. */
export function parseNslookup(type: keyof typeof ANSWER, code: number | null, stdout: string, stderr: string): string[][] {
  const rows: string[][] = [];
  for (const line of stdout.split('\n')) {
    const m = ANSWER[type].exec(line);
    if (m) rows.push(m.slice(1));
  }
  // NXDOMAIN / "No answer" are answers; REFUSED, SERVFAIL, a timeout or a missing applet are not.
  const failed = /REFUSED|SERVFAIL|timed out|not found/.exec(stdout + stderr);
  if (rows.length === 0 && (code || failed) && !/NXDOMAIN|No answer/.test(stdout)) throw new Error(`busybox nslookup: ${failed?.[0] ?? (stderr.trim() || `exit ${code}`)}`);
  return rows;
}

export function createBusyboxLookup(host: Host): DnsSdLookup {
  const ask = async (type: keyof typeof ANSWER, name: string): Promise<string[][]> => {
    const r = await host.exec(['busybox', 'nslookup', `-q=${type}`, name], { timeoutMs: 15_000 });
    return parseNslookup(type, r.code, r.stdout, r.stderr);
  };
  return {
    ptr: async (name) => (await ask('PTR', name)).map((m) => canonicalDomain(m[0]!)),
    srv: async (name) => (await ask('SRV', name)).map((m) => ({ priority: +m[0]!, weight: +m[1]!, port: +m[2]!, name: canonicalDomain(m[3]!) })),
    txt: async (name) => (await ask('TXT', name)).map((m) => [m[0]!]),
  };
}

/** OpenWrt's netifd writes the WAN's DNS servers and search domains (DHCP option 119) here. */
export const NETIFD_RESOLV_CONF = '/tmp/resolv.conf.d/resolv.conf.auto';

/** The search domains of netifd's file, then /etc/resolv.conf's, and DNS-SD over BusyBox nslookup. */
export function discoverWithBusybox(host: Host): Promise<MnatService> {
  const domains = parseResolvConf(`${host.readFile(NETIFD_RESOLV_CONF) ?? ''}\n${host.readFile('/etc/resolv.conf') ?? ''}`, 'all').search;
  return discoverMnat(createBusyboxLookup(host), domains);
}
