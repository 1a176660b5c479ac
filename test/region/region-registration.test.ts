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

test('a lost lease is registered again once, also when the old registration\'s deletion is seen after the new one', async (t) => {
  const cluster = await startCluster(t);
  const client = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX });
  const operator = new EtcdClient({ endpoints: cluster.endpoints });
  t.after(() => {
    client.close();
    operator.close();
  });
  // The members' watch hands its events on only once told to, as a busy event loop would late.
  const held: Array<() => void> = [];
  let holding = false;
  const watch = client.watch.bind(client);
  client.watch = (key, options, handlers: WatchHandlers) =>
    watch(key, options, {
      ...handlers,
      onEvents: (events, revision) => (holding ? held.push(() => handlers.onEvents(events, revision)) : handlers.onEvents(events, revision)),
    });
  const lost: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => void lost.push(m), error: (m) => void lost.push(m) };
  const members = new RegionMembers(client, PREFIX, 'fa', 5, log, Date.now);
  t.after(() => members.close());
  await members.join();
  assert.ok(members.live.has('fa'));

  holding = true;
  const leaseId = (members as unknown as { leaseId: string }).leaseId;
  await operator.leaseRevoke(leaseId); // the lease is gone, as when keep-alives did not reach etcd in time
  await members.keepAlive(); // finds it gone and registers again
  assert.deepEqual(lost, ['registration lease lost; registering again']);
  await eventually(() => held.length >= 2, 5000, 'the deletion and the new registration seen by the watch');
  holding = false;
  for (const deliver of held.splice(0)) deliver();

  // The member key stays the one just made, and nothing registers again.
  const current = (members as unknown as { leaseId: string }).leaseId;
  const key = await operator.get(`${PREFIX}members/fa`);
  assert.ok(key, 'registered');
  assert.equal(key.lease, current);
  await members.keepAlive(); // a renewal now finds the lease alive
  assert.equal((members as unknown as { leaseId: string }).leaseId, current);
  assert.deepEqual(lost, ['registration lease lost; registering again'], 'registered again once');
  assert.ok(members.live.has('fa'));
});

test('a lost lease is registered again once, also when the old registration\'s deletion is seen while registering again', async (t) => {
  const cluster = await startCluster(t);
  const client = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX });
  const operator = new EtcdClient({ endpoints: cluster.endpoints });
  t.after(() => {
    client.close();
    operator.close();
  });
  const held: Array<() => void> = [];
  let holding = false;
  const watch = client.watch.bind(client);
  client.watch = (key, options, handlers: WatchHandlers) =>
    watch(key, options, {
      ...handlers,
      onEvents: (events, revision) => (holding ? held.push(() => handlers.onEvents(events, revision)) : handlers.onEvents(events, revision)),
    });
  // Registering is slow (a busy etcd): events arrive meanwhile.
  let grants = 0;
  let slow = false;
  const leaseGrant = client.leaseGrant.bind(client);
  client.leaseGrant = async (ttlS: number) => {
    grants++;
    if (slow) await new Promise((r) => setTimeout(r, 300));
    return leaseGrant(ttlS);
  };
  const lost: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => void lost.push(m), error: (m) => void lost.push(m) };
  const members = new RegionMembers(client, PREFIX, 'fa', 5, log, Date.now);
  t.after(() => members.close());
  await members.join();

  holding = true;
  slow = true;
  grants = 0;
  await operator.leaseRevoke((members as unknown as { leaseId: string }).leaseId);
  await eventually(() => held.length >= 1, 5000, 'the deletion seen by the watch');
  const renewal = members.keepAlive(); // finds the lease gone and registers again, slowly
  holding = false;
  for (const deliver of held.splice(0)) deliver(); // the deletion arrives while it registers
  await renewal;
  // Every later deletion the watch reports is of a registration already replaced: nothing more to do.
  await eventually(() => !(members as unknown as { renewing: boolean }).renewing, 5000, 'renewals done');
  await members.keepAlive();
  assert.equal(grants, 1, `one new lease (${grants})`);
  assert.deepEqual(lost, ['registration lease lost; registering again']);
  const key = await operator.get(`${PREFIX}members/fa`);
  assert.equal(key?.lease, (members as unknown as { leaseId: string }).leaseId);
});

test('a registration whose answer was lost is the front end\'s own: it is ended and made again at once, without waiting for its lease', async (t) => {
  const cluster = await startCluster(t);
  const client = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX });
  const operator = new EtcdClient({ endpoints: cluster.endpoints });
  t.after(() => {
    client.close();
    operator.close();
  });
  const warned: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m) => void warned.push(m), error: (m) => void warned.push(m) };
  const members = new RegionMembers(client, PREFIX, 'fa', 5, log, Date.now);
  t.after(() => members.close());
  await members.join();

  // The next registration is made in etcd, but its answer is lost (as when etcd answers after the deadline).
  const txn = client.txn.bind(client);
  let loseNext = true;
  client.txn = async (...args: Parameters<EtcdClient['txn']>) => {
    const res = await txn(...args);
    if (loseNext && res.succeeded) {
      loseNext = false;
      throw new EtcdUnavailableError('etcd unavailable (/v3/kv/txn): no answer within 4000 ms (test)');
    }
    return res;
  };
  await operator.leaseRevoke((members as unknown as { leaseId: string }).leaseId);
  const state = members as unknown as { leaseId: string; renewing: boolean };
  void members.keepAlive(); // registers again (or the watch, seeing the deletion, had it do so); that answer is lost
  await eventually(() => !loseNext && !state.renewing, 10_000, 'a registration made whose answer was lost');
  await members.keepAlive(); // finds its registration made by that attempt: ends it and registers again
  await eventually(async () => !state.renewing && (await operator.get(`${PREFIX}members/fa`))?.lease === state.leaseId, 10_000, 'registered under its current lease');
  assert.ok(!warned.some((m) => /registered already/.test(m)), warned.join('\n'));
});
