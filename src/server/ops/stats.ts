// One plain snapshot of the server's counters, built by one function, which
// /metrics and the status page render (they never see the application).
import type { ClientTable, LimitName } from '../http/limits.ts';
import { daysUntil } from '../http/tls-files.ts';
import type { ChannelRow } from '../state/state-types.ts';
import type { StoreReads, StoreStats } from '../store/store.ts';

export interface MemoryUsage {
  rss: number;
  heapUsed: number;
}

/** The MQTT fan-out (server/mqtt/publisher.ts), when --mqtt is given. */
export interface MqttStats {
  /** The broker connection is up. */
  connected: boolean;
  /** This front end publishes (the store says so). */
  publisher: boolean;
  /** Channels whose mapping is retained on the broker (the current state). */
  channels: number;
  publishes: number;
  publishFailures: number;
  /** Times the broker connection was lost or could not be made. */
  outages: number;
  /** Times the full state was published (every connect, every take-over). */
  republishes: number;
  /** Retained messages of others overwritten or cleared (stale channels, forged payloads). */
  repaired: number;
  lastError?: string;
}

export interface ServerStats {
  store: StoreStats;
  /** Answered requests by status code, ascending. */
  requestsByStatus: Array<[number, number]>;
  push: { subscribers: number; subscriptions: number; notificationsSent: number; longPollsWaiting: number };
  /** This front end's transport: open connections, clients, body bytes buffered. */
  transport: { connections: number; clients: number; bodyBytesBuffered: number; bodiesInProgress: number; tlsHandshakeFailures: number };
  /** Requests and connections refused, by limit. */
  refusals: Array<[LimitName, number]>;
  uptimeS: number;
  memory: MemoryUsage;
  /** Every channel record; only when asked for (the status page). */
  channels?: ChannelRow[];
  mqtt?: MqttStats;
  /** The server certificate new connections get (TLS only). */
  tlsCertificate?: TlsCertificateStats;
  /** The client certificate etcd gets on new connections (a region with --etcd-cert). */
  etcdClientCertificate?: TlsCertificateStats;
}

export interface TlsCertificateStats {
  subject: string;
  /** ISO time the certificate expires. */
  validTo: string;
  /** Days until then (negative: expired). */
  daysLeft: number;
}

export interface StatsSources {
  store: StoreReads;
  requestsByStatus: ReadonlyMap<number, number>;
  push: { readonly subscriberCount: number; readonly subscriptionCount: number; readonly stats: { notificationsSent: number; longPollsWaiting: number } };
  clients: ClientTable;
  bodiesInProgress: number;
  startedMs: number;
  nowMs: number;
  memory: MemoryUsage;
  mqtt?: () => MqttStats;
  tlsCertificate?: () => { subject: string; validTo: string } | null;
}

export function collectStats(src: StatsSources, withChannels: boolean): ServerStats {
  const stats: ServerStats = {
    store: src.store.stats(),
    requestsByStatus: Array.from(src.requestsByStatus.entries()).sort((a, b) => a[0] - b[0]),
    push: {
      subscribers: src.push.subscriberCount,
      subscriptions: src.push.subscriptionCount,
      notificationsSent: src.push.stats.notificationsSent,
      longPollsWaiting: src.push.stats.longPollsWaiting,
    },
    transport: {
      connections: src.clients.openConnections,
      clients: src.clients.clientCount,
      bodyBytesBuffered: src.clients.bufferedBytes,
      bodiesInProgress: src.bodiesInProgress,
      tlsHandshakeFailures: src.clients.tlsFailures,
    },
    refusals: src.clients.refusals.entries(),
    uptimeS: (src.nowMs - src.startedMs) / 1000,
    memory: src.memory,
  };
  if (withChannels) stats.channels = src.store.channels();
  if (src.mqtt) stats.mqtt = src.mqtt();
  const cert = src.tlsCertificate?.();
  if (cert) stats.tlsCertificate = { ...cert, daysLeft: daysUntil(cert.validTo, src.nowMs) };
  const backend = stats.store.backend;
  if (backend.kind === 'etcd' && backend.clientCertificate) stats.etcdClientCertificate = { ...backend.clientCertificate, daysLeft: daysUntil(backend.clientCertificate.validTo, src.nowMs) };
  return stats;
}
