// The region's front ends as etcd sees them: this front end's registration
// under a lease (kept alive, and made again after a partition long enough to
// lose it), the live front ends from one watch of members/, the region leader
// (the live front end registered first: lowest create revision), and etcd's
// own members and Raft leader for /metrics and the status page.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../host/host.ts';
import type { EtcdClient, Watch } from './etcd-client.ts';
import { registerMember } from './etcd-region.ts';
import type { RegionBackendStats } from './store.ts';

export class RegionMembers {
  /** Live front ends: id → create revision of its registration. */
  readonly live = new Map<string, number>();
  /** etcd's members, polled. */
  cluster: RegionBackendStats['members'] = [];
  /** Registration writes (lease grant + put), for /metrics. */
  writes = 0;
  /** Called after the live set changed (the leader may have changed). */
  onChange: (() => void) | null = null;
  private leaseId: string | null = null;
  /** The etcd revision of this front end's current registration: deletions before it were of older ones. */
  private registeredAt = 0;
  private watch: Watch | null = null;
  private closed = false;
  private renewing = false;
  /** This process's registrations: one found that it made in an attempt whose answer was lost is its own. */
  private readonly instance = randomUUID();
  /** The newest deletion of this front end's registration its watch reported (a revision). */
  private deletedAt = 0;

  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
    private readonly frontendId: string,
    private readonly leaseTtlS: number,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Registers this front end and starts following the others. */
  async join(): Promise<void> {
    await this.register();
    await this.follow();
  }

  leader(): string | null {
    let best: string | null = null;
    let bestRev = Infinity;
    for (const [id, rev] of this.live) {
      if (rev < bestRev) {
        best = id;
        bestRev = rev;
      }
    }
    return best;
  }

  /** How often the lease is renewed: three times per lease. */
  get keepAliveEveryMs(): number {
    return Math.max(500, (this.leaseTtlS * 1000) / 3);
  }

  isLeader(): boolean {
    return this.leader() === this.frontendId;
  }

  /** The registration made last was deleted (by an operator, or its lease ended while etcd was away). */
  private get deleted(): boolean {
    return this.deletedAt > this.registeredAt;
  }

  /**
   * Renews the lease; registers again when the lease or the registration is
   * gone. Deletions the watch reports of registrations made before the
   * current one are no reason: the watch may tell of them only after the new
   * one was made, and taking them for the current one's revoked it, made
   * another, and so on for ever.
   */
  async keepAlive(): Promise<void> {
    // One at a time: renewals that piled up while etcd was away would each register again (a lease each).
    if (this.closed || !this.leaseId || this.renewing) return;
    this.renewing = true;
    try {
      const ttl = this.deleted ? 0 : await this.client.leaseKeepAlive(this.leaseId);
      if (ttl > 0) return;
      this.log.warn('registration lease lost; registering again', { frontend: this.frontendId });
      // A lease whose key was deleted may live on: not leaked. It has no key, so no deletion to report.
      await this.client.leaseRevoke(this.leaseId).catch(() => undefined);
      await this.register();
    } catch (err) {
      this.log.debug('lease keep-alive failed', { error: (err as Error).message });
    } finally {
      this.renewing = false;
      // Deleted while this renewal ran, and not just the registration it replaced.
      if (this.deleted && !this.closed) void this.keepAlive();
    }
  }

  /** etcd's members and Raft leader. */
  async pollCluster(): Promise<void> {
    if (this.closed) return;
    try {
      const members = (await this.client.memberList()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const statuses = await Promise.all(
        members.map(async (m) => {
          const url = m.clientUrls[0];
          if (!url) return null;
          return this.client.status(url.replace(/^[a-z]+:\/\//, '')).catch(() => null);
        }),
      );
      const leaderId = statuses.find((s) => s !== null && s.leader !== '0')?.leader ?? null;
      this.cluster = members.map((m, i) => ({ name: m.name, clientUrls: m.clientUrls, leader: m.id === leaderId, reachable: statuses[i] !== null }));
    } catch {
      this.cluster = this.cluster.map((m) => ({ ...m, reachable: false, leader: false }));
    }
  }

  /** Leaves: the lease is revoked, so the others see this front end gone at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
    if (this.leaseId) await this.client.leaseRevoke(this.leaseId).catch(() => undefined);
  }

  private async register(): Promise<void> {
    const registered = await registerMember(this.client, this.prefix, this.frontendId, this.leaseTtlS, { startedAt: this.now(), instance: this.instance }, (key) =>
      this.log.warn('this front end id is registered already: by a run of it that was killed, whose lease ends soon, or by another front end with this --frontend-id; waiting for the lease', { frontend: this.frontendId, key, waitS: this.leaseTtlS + 2 }),
    );
    this.leaseId = registered.leaseId;
    this.registeredAt = registered.revision;
    this.writes += 2;
  }

  /** Lists the front ends again and follows them from etcd's revision now (etcd's history went back). */
  relist(): Promise<void> {
    return this.closed ? Promise.resolve() : this.follow();
  }

  private async follow(): Promise<void> {
    const dir = `${this.prefix}members/`;
    const listed = await this.client.range(dir, { prefix: true });
    this.live.clear();
    for (const kv of listed.kvs) this.live.set(kv.key.slice(dir.length), kv.createRevision);
    this.onChange?.();
    this.watch?.close();
    this.watch = this.client.watch(dir, { prefix: true, startRevision: listed.revision + 1 }, {
      onEvents: (events) => {
        for (const e of events) {
          const id = e.kv.key.slice(dir.length);
          if (e.type === 'put') {
            if (!this.live.has(id)) this.log.info('front end joined', { frontend: id });
            this.live.set(id, e.kv.createRevision);
          } else if (id === this.frontendId && e.kv.modRevision <= this.registeredAt) {
            // A registration this front end replaced already: the current one stays.
          } else {
            this.live.delete(id);
            this.log.info('front end left', { frontend: id });
            if (id === this.frontendId) {
              // Its current registration is gone: register again.
              this.deletedAt = Math.max(this.deletedAt, e.kv.modRevision);
              void this.keepAlive();
            }
          }
        }
        this.onChange?.();
      },
      onCompacted: () => void this.follow().catch(() => undefined),
    });
  }
}
