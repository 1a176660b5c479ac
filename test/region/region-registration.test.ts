// A front end's registration in the region (etcd-members.ts), over a real
// etcd cluster: when its lease is lost it registers again, once. The watch of
// the members may tell of the old registration's deletion after the new one
// is made (a busy front end reads its watch late) or while it is being made
// (a busy etcd): neither is the new registration's. Found in
// bench/region-scale.bench.ts at 10⁶ watchers, where a front end whose lease
// lapsed took each such deletion for its current registration's, revoked
// that one, registered again and so on (852 and 4 000 registrations in a few
// minutes, until it stopped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/host/host.ts';
import { EtcdClient, EtcdUnavailableError, type WatchHandlers } from '../../src/server/store/etcd-client.ts';
import { RegionMembers } from '../../src/server/store/etcd-members.ts';
import { eventually } from '../server/helpers.ts';
import { startCluster } from './region-helpers.ts';

const PREFIX = '/mnat/registration/';
const LOST = 'registration lease lost; registering again';

interface After {
  after(fn: () => unknown): void;
}

/**
 * A 3-member cluster and front end "fa"'s registration over it. The members'
 * watch hands its events on only while not `holding` (as a busy event loop
 * reads them late); `deliver()` hands on what it held.
 */
async function registrationBed(t: After) {
  const cluster = await startCluster(t);
  const client = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX });
  const operator = new EtcdClient({ endpoints: cluster.endpoints });
  t.after(() => {
    client.close();
    operator.close();
  });
  const held: Array<() => void> = [];
  const bed = {
    client,
    operator,
    warned: [] as string[],
    holding: false,
    /** Events held so far (one message may carry several). */
    heldEvents: 0,
    deliver: (): void => {
      bed.holding = false;
      for (const fn of held.splice(0)) fn();
    },
    members: null as unknown as RegionMembers,
    /** The members' private state the tests look at. */
    get state(): { leaseId: string; renewing: boolean } {
      return bed.members as unknown as { leaseId: string; renewing: boolean };
    },
    registeredLease: async (): Promise<string | undefined> => (await operator.get(`${PREFIX}members/fa`))?.lease,
  };
  const watch = client.watch.bind(client);
  client.watch = (key, options, handlers: WatchHandlers) =>
    watch(key, options, {
      ...handlers,
      onEvents: (events, revision) => {
        if (!bed.holding) return handlers.onEvents(events, revision);
        bed.heldEvents += events.length;
        held.push(() => handlers.onEvents(events, revision));
      },
    });
  const log: Logger = { debug() {}, info() {}, warn: (m) => void bed.warned.push(m), error: (m) => void bed.warned.push(m) };
  bed.members = new RegionMembers(client, PREFIX, 'fa', 5, log, Date.now);
  t.after(() => bed.members.close());
  await bed.members.join();
  return bed;
}

test('a lost lease is registered again once, also when the old registration\'s deletion is seen after the new one', async (t) => {
  const bed = await registrationBed(t);
  assert.ok(bed.members.live.has('fa'));
  bed.holding = true;
  await bed.operator.leaseRevoke(bed.state.leaseId); // the lease is gone, as when keep-alives did not reach etcd in time
  await bed.members.keepAlive(); // finds it gone and registers again
  assert.deepEqual(bed.warned, [LOST]);
  await eventually(() => bed.heldEvents >= 2, 5000, 'the deletion and the new registration seen by the watch');
  bed.deliver();

  // The member key stays the one just made, and nothing registers again.
  const current = bed.state.leaseId;
  assert.equal(await bed.registeredLease(), current);
  await bed.members.keepAlive(); // a renewal now finds the lease alive
  assert.equal(bed.state.leaseId, current);
  assert.deepEqual(bed.warned, [LOST], 'registered again once');
  assert.ok(bed.members.live.has('fa'));
});

test('a lost lease is registered again once, also when the old registration\'s deletion is seen while registering again', async (t) => {
  const bed = await registrationBed(t);
  // Registering is slow (a busy etcd): events arrive meanwhile.
  let grants = 0;
  const leaseGrant = bed.client.leaseGrant.bind(bed.client);
  bed.client.leaseGrant = async (ttlS: number) => {
    grants++;
    await new Promise((r) => setTimeout(r, 300));
    return leaseGrant(ttlS);
  };
  bed.holding = true;
  await bed.operator.leaseRevoke(bed.state.leaseId);
  await eventually(() => bed.heldEvents >= 1, 5000, 'the deletion seen by the watch');
  const renewal = bed.members.keepAlive(); // finds the lease gone and registers again, slowly
  bed.deliver(); // the deletion arrives while it registers
  await renewal;
  // Every later deletion the watch reports is of a registration already replaced: nothing more to do.
  await eventually(() => !bed.state.renewing, 5000, 'renewals done');
  await bed.members.keepAlive();
  assert.equal(grants, 1, `one new lease (${grants})`);
  assert.deepEqual(bed.warned, [LOST]);
  assert.equal(await bed.registeredLease(), bed.state.leaseId);
});

test('a registration whose answer was lost is the front end\'s own: it is ended and made again at once, without waiting for its lease', async (t) => {
  const bed = await registrationBed(t);
  // The next registration is made in etcd, but its answer is lost (as when etcd answers after the deadline).
  const txn = bed.client.txn.bind(bed.client);
  let loseNext = true;
  bed.client.txn = async (...args: Parameters<EtcdClient['txn']>) => {
    const res = await txn(...args);
    if (loseNext && res.succeeded) {
      loseNext = false;
      throw new EtcdUnavailableError('etcd unavailable (/v3/kv/txn): no answer within 4000 ms (test)');
    }
    return res;
  };
  await bed.operator.leaseRevoke(bed.state.leaseId);
  void bed.members.keepAlive(); // registers again (or the watch, seeing the deletion, had it do so); that answer is lost
  await eventually(() => !loseNext && !bed.state.renewing, 10_000, 'a registration made whose answer was lost');
  await bed.members.keepAlive(); // finds its registration made by that attempt: ends it and registers again
  await eventually(async () => !bed.state.renewing && (await bed.registeredLease()) === bed.state.leaseId, 10_000, 'registered under its current lease');
  assert.ok(!bed.warned.some((m) => /registered already/.test(m)), bed.warned.join('\n'));
});
