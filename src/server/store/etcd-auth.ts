// etcd's own authentication (users and roles): mnat-server logs in as
// --etcd-user with the password in --etcd-password-file (a file: on the
// command line ps would show it) and sends the token etcd hands back with
// every request. A client certificate cannot name the user here: etcd's JSON
// gateway reaches the member's gRPC server with the member's own
// certificate, so etcd would see the member, not the front end.
import { readFileSync } from 'node:fs';

export interface EtcdAuth {
  readonly user: string;
  readonly passwordFile: string;
}

/** The password file could not be read or is empty: the message names the flag and the file. */
export class EtcdPasswordFileError extends Error {
  override name = 'EtcdPasswordFileError';
}

/** The password: the file's text without its final line break. */
export function readEtcdPassword(auth: EtcdAuth): string {
  let text: string;
  try {
    text = readFileSync(auth.passwordFile, 'utf8');
  } catch (err) {
    throw new EtcdPasswordFileError(`cannot read --etcd-password-file ${auth.passwordFile}: ${(err as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new EtcdPasswordFileError(`--etcd-password-file ${auth.passwordFile} is empty: it holds the password of --etcd-user ${auth.user}`);
  return password;
}

/** etcd no longer takes the token (expired, or the member restarted), or got none: log in again. */
export function tokenRefused(message: string): boolean {
  return /invalid auth token|user name is empty/.test(message);
}

/** etcd answered that authentication is off: requests go without a token. */
export function authenticationOff(message: string): boolean {
  return /authentication is not enabled/.test(message);
}

/**
 * What to do about an authentication or permission error of etcd ('' for
 * any other error); `keys` is the prefix the client works under.
 */
export function authAdvice(message: string, auth: EtcdAuth | undefined, keys: string): string {
  if (/user name is empty/.test(message) && !auth) return ' (etcd has authentication enabled: give --etcd-user and --etcd-password-file)';
  if (/invalid user ID or password/.test(message)) return ` (check --etcd-user ${auth?.user ?? ''} and the password in --etcd-password-file ${auth?.passwordFile ?? ''})`;
  if (/permission denied/.test(message)) {
    const who = auth ? `etcd user ${auth.user}` : 'etcd without --etcd-user';
    return ` (${who} may not use ${keys}: give its role readwrite on that prefix, e.g. etcdctl role grant-permission ROLE --prefix=true readwrite ${keys})`;
  }
  return '';
}
