// DNS-SD (RFC 6763) discovery of the MNAT service, shared by the receiver
// library (Node: node:dns) and the egress (QuickJS: BusyBox nslookup). Pure:
// the DNS questions go through a DnsSdLookup the caller supplies.
//
// For each search domain in order: PTR _mnat._tcp.<domain> → service instances;
// per instance SRV (RFC 2782 order: priority, then weighted random) → target
// host and port; TXT → the keys in docs/discovery.md (path = RESTCONF root).
// The first instance with an SRV target that answers is the service; all its
// targets are kept, in order, for failover. Every question asked is kept, so
// a failure can say exactly which names were tried.
//
// Written for the QuickJS bundle's size budget: plain functions, no classes
// beyond the error.

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  /** The target host name, without a trailing dot ("." alone: no service here). */
  readonly name: string;
}

/**
 * The DNS questions discovery asks. Each resolves to [] when the name does not
 * exist or has no records of the type (NXDOMAIN / NODATA), and rejects when
 * the resolver could not answer (timeout, refused, server failure).
 */
export interface DnsSdLookup {
  ptr(name: string): Promise<string[]>;
  srv(name: string): Promise<SrvRecord[]>;
  /** Each TXT record's character-strings, in order. */
  txt(name: string): Promise<string[][]>;
  /** The host's addresses (A and AAAA); without it SRV targets are used unchecked. */
  addresses?(host: string): Promise<string[]>;
}

/** What DNS-SD found. */
export interface MnatService {
  /** The service instance name, e.g. "MNAT._mnat._tcp.isp.example". */
  readonly instance: string;
  /** The first of `targets`. */
  readonly host: string;
  readonly port: number;
  /**
   * Every SRV target of the instance (the servers of a region), in RFC 2782
   * order: the order to try them in when one fails. With lookup.addresses,
   * only targets that have an address.
   */
  readonly targets: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /** RESTCONF root from TXT `path` (default /restconf). */
  readonly apiRoot: string;
  /** The search domain it was found in. */
  readonly domain: string;
}

/** The service's targets as origins ("https://host:port", an IPv6 literal in brackets), in their order. */
export function serviceOrigins(service: MnatService, scheme: 'http' | 'https'): string[] {
  return service.targets.map((t) => `${scheme}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`);
}

export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
  constructor(
    message: string,
    /** One entry per question: "PTR _mnat._tcp.isp.example: no records". */
    readonly asked: readonly string[],
  ) {
    super(message);
  }
}

export const MNAT_SERVICE = '_mnat._tcp';

/** A domain name in canonical form: lower case, no trailing dot ("" for the root). */
export function canonicalDomain(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}

export interface ResolvConf {
  readonly nameservers: string[];
  /** Search domains in order (canonical, no duplicates). */
  readonly search: string[];
}

/**
 * resolv.conf(5). `searchLines: 'last'` (default) is the C library's rule: the
 * last `search` or `domain` line wins. `'all'` appends every such line,
 * which is how OpenWrt's netifd writes /tmp/resolv.conf.d/resolv.conf.auto
 * (one `search` line per domain learnt, e.g. from DHCP option 119).
 */
export function parseResolvConf(text: string, searchLines: 'last' | 'all' = 'last'): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const line of text.split('\n')) {
    const [key, ...values] = line.trim().split(/\s+/);
    if (key === 'nameserver' && values[0]) nameservers.push(values[0]);
    else if (key === 'search' || key === 'domain') {
      const names = (key === 'domain' ? values.slice(0, 1) : values).map(canonicalDomain);
      search = searchLines === 'all' ? search.concat(names) : names;
    }
  }
  return { nameservers, search: search.filter((d, i) => d !== '' && search.indexOf(d) === i) };
}

/**
 * RFC 2782 order: ascending priority; within a priority a weighted random
 * draw without replacement, each record drawn with probability proportional
 * to its weight, as the RFC's text asks. (Its sketch, an integer drawn from
 * [0, sum] inclusive, is biased: weights 1 and 3 would get 40 % / 60 %.)
 * Weight-0 records come after the weighted ones, in random order.
 * `random` is [0,1) (injected by tests).
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const out: SrvRecord[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const p of priorities) {
    const pool = records.filter((r) => r.priority === p);
    while (pool.length > 0) {
      const total = pool.reduce((sum, r) => sum + r.weight, 0);
      let i = 0;
      if (total === 0) i = Math.floor(random() * pool.length);
      else for (let left = random() * total; (left -= pool[i]!.weight) >= 0 && i < pool.length - 1; ) i++;
      out.push(pool.splice(i, 1)[0]!);
    }
  }
  return out;
}

/**
 * A TXT record's key/value pairs (RFC 6763 §6.3-6.5): keys are case
 * insensitive (returned lower case), the first occurrence wins, a key without
 * "=" is a boolean attribute (value true), a string starting with "=" is ignored.
 */
export function parseTxt(strings: readonly string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (const s of strings) {
    const eq = s.indexOf('=');
    const key = (eq < 0 ? s : s.slice(0, eq)).toLowerCase();
    if (key !== '' && !(key in out)) out[key] = eq < 0 ? true : s.slice(eq + 1);
  }
  return out;
}

/** The RESTCONF root a TXT record names (`path`), or the default /restconf. */
export function apiRootFromTxt(txt: Record<string, string | true>): string {
  const path = txt.path;
  return typeof path === 'string' && path.startsWith('/') ? path.replace(/\/+$/, '') || '/' : '/restconf';
}

/**
 * Finds the MNAT service in the search domains, in order. Rejects with a
 * DiscoveryError naming every question asked when nothing usable was found.
 */
export async function discoverMnat(lookup: DnsSdLookup, domains: readonly string[], random?: () => number): Promise<MnatService> {
  const asked: string[] = [];
  // How far the best attempt got, for the one-line headline.
  let nowhere: string | null = null;
  const ask = async <T>(question: string, run: () => Promise<T[]>, none = 'no records'): Promise<T[]> => {
    try {
      const answer = await run();
      if (answer.length === 0) asked.push(`${question}: ${none}`);
      return answer;
    } catch (err) {
      asked.push(`${question}: ${(err as Error).message}`);
      return [];
    }
  };
  for (const domain of domains) {
    const type = `${MNAT_SERVICE}.${domain}`;
    for (const instance of await ask(`PTR ${type}`, () => lookup.ptr(type))) {
      const records = await ask(`SRV ${instance}`, () => lookup.srv(instance));
      if (records.length === 1 && records[0]!.name === '') {
        asked.push(`SRV ${instance}: "." (no service)`);
        continue;
      }
      const targets: Array<{ host: string; port: number }> = [];
      for (const srv of orderSrv(records, random)) {
        if (lookup.addresses && (await ask(`A/AAAA ${srv.name}`, () => lookup.addresses!(srv.name), 'no address')).length === 0) {
          nowhere = `SRV ${instance} points to ${srv.name}:${srv.port}, which has no address (A/AAAA)`;
          continue;
        }
        targets.push({ host: srv.name, port: srv.port });
      }
      const first = targets[0];
      if (!first) continue;
      const txt = parseTxt((await ask(`TXT ${instance}`, () => lookup.txt(instance))).flat());
      return { instance, host: first.host, port: first.port, targets, apiRoot: apiRootFromTxt(txt), domain };
    }
  }
  if (domains.length === 0) {
    throw new DiscoveryError(`no search domain (resolv.conf) to look for ${MNAT_SERVICE} in; give the server`, asked);
  }
  const headline = nowhere ?? `no MNAT service (${MNAT_SERVICE}) found by DNS-SD in ${domains.join(', ')}`;
  throw new DiscoveryError(`${headline}; asked ${asked.join('; ')}`, asked);
}
