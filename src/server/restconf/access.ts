// Who may use what. With --client-ca a watcher is bound to the certificate
// that created it; anyone else gets exactly the answer an unknown id gets, so
// ids cannot even be probed. Every path checks through here, the fast paths
// included.
import { LIMIT_FLAGS, type Refusals } from '../http/limits.ts';
import { peerIdentity, type AnyRequest, type PeerIdentity } from '../http/request.ts';
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
    /** Most watchers a container GET lists (0: no limit); larger answers are refused. */
    private readonly maxContainerWatchers = 0,
    private readonly refusals?: Refusals,
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

  /**
   * The caller's own watchers, for a container GET; without a client
   * certificate nothing identifies them, so none. More than
   * maxContainerWatchers is refused (413 too-big): a certificate holding
   * that many should GET its watchers one by one.
   */
  ownedIds(owner: string | undefined): string[] {
    const ids = owner === undefined ? [] : this.store.watchersOwnedBy(owner);
    const max = this.maxContainerWatchers;
    if (max > 0 && ids.length > max) {
      this.refusals?.count('container-size');
      throw errors.responseTooBig(
        `this container would list ${ids.length} watchers of your certificate, more than this server puts in one answer (${max}, set by ${LIMIT_FLAGS['container-size']}); GET …/assigned-channels/watcher=ID (or the other containers' watcher=ID entries) for each watcher instead`,
      );
    }
    return ids;
  }

  /** The status page: open without mTLS (it shows no ids), else for admin certificates only. */
  checkStatusPage(identity: PeerIdentity | null): void {
    const { mtls, adminCns } = this.policy;
    if (mtls && !(identity && identity.subjectCn !== undefined && adminCns.includes(identity.subjectCn))) {
      throw errors.accessDenied(`the status page needs a client certificate with an admin subject CN (${adminCns.join(', ')})`);
    }
  }
}
