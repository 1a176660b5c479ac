// Who may use what. With --client-ca a watcher is bound to the certificate
// that created it; anyone else gets exactly the answer an unknown id gets, so
// ids cannot even be probed. Every path checks through here, the fast paths
// included.
import { peerIdentity, type AnyRequest, type PeerIdentity } from '../http/listener.ts';
import { errors } from '../http/restconf-error.ts';
import type { StoreReads } from '../store/store.ts';

/** The verified client certificate of a request, or null; 403 for one the CA did not sign. */
export function identify(req: AnyRequest): PeerIdentity | null {
  const ident = peerIdentity(req);
  if (ident === 'untrusted') throw errors.accessDenied('client certificate is not signed by the configured client CA');
  return ident;
}

export interface AdminPolicy {
  /** mTLS configured (--client-ca): the status page needs an admin certificate. */
  mtls: boolean;
  /** Subject CNs of client certificates allowed to see the status page under mTLS. */
  adminCns: readonly string[];
}

export class WatcherAccess {
  constructor(
    private readonly store: StoreReads,
    private readonly policy: AdminPolicy,
  ) {}

  /** The watcher exists and is bound to this owner's certificate or to none. */
  mayUse(id: string, owner: string | undefined): boolean {
    if (!this.store.hasWatcher(id)) return false;
    const bound = this.store.ownerOf(id);
    return bound === undefined || bound === owner;
  }

  /** As mayUse, else the unknown-watcher error (404 on data resources, 400 in operation input). */
  check(id: string, owner: string | undefined, path: string, status = 404): void {
    if (!this.mayUse(id, owner)) throw errors.unknownWatcher(path, status);
  }

  /** The caller's own watchers; without a client certificate nothing identifies them, so none. */
  ownedIds(owner: string | undefined): string[] {
    return owner === undefined ? [] : this.store.watchersOwnedBy(owner);
  }

  /** The status page: open without mTLS (it shows no ids), else for admin certificates only. */
  checkStatusPage(identity: PeerIdentity | null): void {
    const { mtls, adminCns } = this.policy;
    if (mtls && !(identity && identity.subjectCn !== undefined && adminCns.includes(identity.subjectCn))) {
      throw errors.accessDenied(`the status page needs a client certificate with an admin subject CN (${adminCns.join(', ')})`);
    }
  }
}
