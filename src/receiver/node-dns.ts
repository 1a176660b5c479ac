// DNS-SD on Node: the DnsSdLookup seam over node:dns, and the search domains
// from resolv.conf (the C library's rules: the last `search`/`domain` line,
// else the domain part of the host name). node:dns's Resolver uses the
// nameservers of /etc/resolv.conf unless servers are given; it does not apply
// search domains itself, which is why discovery walks them.
import { promises as dns } from 'node:dns';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { canonicalDomain, discoverMnat, parseResolvConf, type DnsSdLookup, type MnatService } from '../core/dns-sd.ts';

export interface DnsOptions {
  /** Nameservers ("10.0.0.53", "[fd00::53]:5353"); default: those of resolv.conf. */
  servers?: string[];
  /** Search domains to try, in order; default: resolv.conf's (see searchDomains). */
  search?: string[];
  /** Default /etc/resolv.conf. */
  resolvConf?: string;
  /** Per-query timeout (default 2000 ms) and tries (default 2). */
  timeoutMs?: number;
  tries?: number;
  /** [0,1) for the SRV weighted draw (tests). */
  random?: () => number;
}

const NO_DATA = new Set(['ENOTFOUND', 'ENODATA', 'NOTFOUND', 'NODATA']);

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The search list: given, else resolv.conf's, else the host name's domain (glibc's fallback). */
export function searchDomains(options: DnsOptions = {}): string[] {
  if (options.search) return options.search.map(canonicalDomain).filter((d) => d !== '');
  const conf = parseResolvConf(readText(options.resolvConf ?? '/etc/resolv.conf') ?? '');
  if (conf.search.length > 0) return conf.search;
  const name = hostname();
  const dot = name.indexOf('.');
  return dot > 0 ? [canonicalDomain(name.slice(dot + 1))] : [];
}

export function createNodeDnsLookup(options: DnsOptions = {}): DnsSdLookup {
  const resolver = new dns.Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  const servers = options.servers ?? (options.resolvConf ? parseResolvConf(readText(options.resolvConf) ?? '').nameservers : []);
  if (servers.length > 0) resolver.setServers(servers);
  // NXDOMAIN and NODATA are answers ("none"); anything else is a failure to say.
  const none = (err: NodeJS.ErrnoException): never[] => {
    if (err.code && NO_DATA.has(err.code)) return [];
    throw new Error(`${err.code ?? 'error'}${servers.length > 0 ? ` from ${servers.join(', ')}` : ''}`);
  };
  return {
    ptr: (name) => resolver.resolvePtr(name).then((list) => list.map(canonicalDomain), none),
    srv: (name) =>
      resolver.resolveSrv(name).then((list) => list.map((r) => ({ priority: r.priority, weight: r.weight, port: r.port, name: canonicalDomain(r.name) })), none),
    txt: (name) => resolver.resolveTxt(name).catch(none),
    // The address check uses what the connection will use: the system resolver
    // (getaddrinfo: /etc/hosts, then DNS), or the given servers.
    addresses: async (host) => {
      if (servers.length === 0) return (await dns.lookup(host, { all: true }).catch(none)).map((a) => a.address);
      const [v4, v6] = await Promise.all([resolver.resolve4(host).catch(none), resolver.resolve6(host).catch(none)]);
      return [...v4, ...v6];
    },
  };
}

/** DNS-SD for the MNAT service with node:dns, over the search domains. */
export function discoverMnatService(options: DnsOptions = {}): Promise<MnatService> {
  return discoverMnat(createNodeDnsLookup(options), searchDomains(options), options.random);
}
