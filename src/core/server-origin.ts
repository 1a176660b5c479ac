// Where an agent finds mnat-server, as the egress and the ingress take it on
// the command line (and the egress in UCI): one form for both, so what works
// for one works for the other.

import { CliError } from './cli-args.ts';

/**
 * "https://h[:p]", "http://h[:p]", HOST, HOST:PORT, [V6][:PORT] or a bare IPv6
 * literal → "scheme://host:port" (IPv6 in brackets; default port `port`,
 * else 8443). `where` names the flag or UCI option in errors.
 */
export function serverOrigin(where: string, server: string, port: number | undefined, insecure: boolean): string {
  const url = /^(?:(https?):\/\/)?(\[[\dA-Fa-f:.]+\]|[^/:\s[\]]+)(?::(\d{1,5}))?\/?$/.exec(server);
  // Otherwise only a bare IPv6 literal: "2001:db8::1" (its port comes from --port).
  if (!url && !/^[\dA-Fa-f.]*:[\dA-Fa-f.]*:[\dA-Fa-f:.]*$/.test(server)) {
    throw new CliError(`${where}: "${server}" is not a host name, address, HOST:PORT or http(s)://host:port URL`);
  }
  const scheme = url?.[1];
  if (scheme === 'https' && insecure) throw new CliError(`${where}: ${server} is https but --insecure asks for plaintext; use http://`);
  if (scheme === 'http' && !insecure) throw new CliError(`${where}: ${server} is plaintext http; add --insecure (labs only) or use https://`);
  const p = url?.[3] !== undefined ? Number(url[3]) : (port ?? 8443);
  if (!(p >= 1 && p <= 65535)) throw new CliError(`${where}: port ${p} of ${server} is out of range (1-65535)`);
  return `${scheme ?? (insecure ? 'http' : 'https')}://${url ? url[2] : `[${server}]`}:${p}`;
}
