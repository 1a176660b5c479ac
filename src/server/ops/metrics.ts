// /metrics in the Prometheus text exposition format (version 0.0.4).
import type { ServerStats } from './stats.ts';

function line(out: string[], name: string, help: string, type: 'gauge' | 'counter', samples: Array<[string, number | bigint]>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) out.push(`${name}${labels} ${typeof value === 'bigint' ? value.toString() : String(value)}`);
}

export function renderMetrics(stats: ServerStats): string {
  const s = stats.store;
  const out: string[] = [];
  line(out, 'mnat_watchers', 'Live watchers by role.', 'gauge', [
    ['{role="egress"}', s.egressWatchers],
    ['{role="ingress"}', s.ingressWatchers],
    ['{role="none"}', Math.max(0, s.watchers - s.egressWatchers - s.ingressWatchers)],
  ]);
  line(out, 'mnat_channels', 'Joined global channels by assignment state.', 'gauge', [
    ['{state="assigned"}', s.channelsAssigned],
    ['{state="unassigned"}', s.channelsUnassigned],
  ]);
  line(out, 'mnat_pool_size', 'Usable local groups in the pool.', 'gauge', [['', s.poolSize]]);
  line(out, 'mnat_pool_in_use', 'Local groups mapped to a channel.', 'gauge', [['', s.poolInUse]]);
  line(out, 'mnat_pool_in_grace', 'Released local groups waiting out the grace period.', 'gauge', [['', s.poolInGrace]]);
  line(out, 'mnat_http_requests_total', 'Answered requests by status code.', 'counter', stats.requestsByStatus.map(([code, n]) => [`{code="${code}"}`, n]));
  line(out, 'mnat_push_subscribers', 'SSE streams of yang-push subscriptions.', 'gauge', [['', stats.push.subscribers]]);
  line(out, 'mnat_push_subscriptions', 'Established yang-push subscriptions (with or without a stream).', 'gauge', [['', stats.push.subscriptions]]);
  line(out, 'mnat_push_notifications_total', 'Notifications sent on push streams.', 'counter', [['', stats.push.notificationsSent]]);
  line(out, 'mnat_long_polls_waiting', 'GETs held for a change (long polling).', 'gauge', [['', stats.push.longPollsWaiting]]);
  const t = stats.transport;
  line(out, 'mnat_connections', 'Open client connections on this front end.', 'gauge', [['', t.connections]]);
  line(out, 'mnat_connection_clients', 'Client addresses (IPv6: prefixes) with an open connection or a body in flight.', 'gauge', [['', t.clients]]);
  line(out, 'mnat_request_body_bytes_buffered', 'Request-body bytes held while bodies are being read.', 'gauge', [['', t.bodyBytesBuffered]]);
  line(out, 'mnat_request_bodies_in_progress', 'Request bodies being read.', 'gauge', [['', t.bodiesInProgress]]);
  line(out, 'mnat_tls_handshake_failures_total', 'TLS handshakes that failed (no or bad client certificate, timeouts, resets).', 'counter', [['', t.tlsHandshakeFailures]]);
  line(out, 'mnat_limit_refusals_total', 'Connections closed and requests refused by a per-client limit or timeout, by limit.', 'counter', stats.refusals.map(([limit, n]) => [`{limit="${limit}"}`, n]));
  line(out, 'mnat_store_read_only', '1 while changes are refused because the state cannot be stored (e.g. a full disk).', 'gauge', [['', s.readOnly ? 1 : 0]]);
  const backend = s.backend;
  const label = (v: string): string => v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
  if (backend.kind === 'etcd') {
    line(out, 'mnat_store_info', 'The state store of this server (value 1).', 'gauge', [[`{kind="etcd",frontend="${label(backend.frontendId)}",region_leader="${label(backend.regionLeader ?? '')}"}`, 1]]);
    line(out, 'mnat_region_frontends', 'Live front ends of the region.', 'gauge', [['', backend.frontends]]);
    line(out, 'mnat_region_available', '1 while etcd takes changes (a quorum answers), else 0.', 'gauge', [['', backend.available ? 1 : 0]]);
    line(out, 'mnat_region_homed_watchers', 'Watchers whose liveness this front end keeps.', 'gauge', [['', backend.homedWatchers]]);
    line(out, 'mnat_region_applied_revision', 'The last log revision applied here.', 'gauge', [['', backend.appliedRevision]]);
    line(out, 'mnat_region_snapshot_revision', 'The log revision of the newest snapshot known here.', 'gauge', [['', backend.snapshotRevision]]);
    line(out, 'mnat_region_entries_applied_total', 'Log entries applied here (from every front end).', 'counter', [['', backend.entriesApplied]]);
    line(out, 'mnat_etcd_writes_total', 'etcd writes made by this front end, by kind.', 'counter', Object.entries(backend.writes).map(([k, n]) => [`{kind="${label(k)}"}`, n]));
    out.push('# HELP mnat_etcd_log_write_seconds Log entries written to etcd: time until etcd answered.', '# TYPE mnat_etcd_log_write_seconds summary');
    out.push(`mnat_etcd_log_write_seconds_sum ${backend.logWrites.seconds.toFixed(3)}`, `mnat_etcd_log_write_seconds_count ${backend.logWrites.count}`);
    if (backend.clientCertificate) line(out, 'mnat_etcd_client_certificate_expiry_timestamp_seconds', 'When the client certificate new connections to etcd present expires (Unix time); alert well before.', 'gauge', [['', Date.parse(backend.clientCertificate.validTo) / 1000]]);
    line(out, 'mnat_etcd_member_up', 'etcd members answering their status (1) or not (0).', 'gauge', backend.members.map((m) => [`{name="${label(m.name)}",leader="${m.leader}"}`, m.reachable ? 1 : 0]));
  } else {
    line(out, 'mnat_store_info', 'The state store of this server (value 1).', 'gauge', [[`{kind="${backend.kind}"}`, 1]]);
  }
  if (backend.kind === 'journal') {
    line(out, 'mnat_journal_records_total', 'State-change records journaled.', 'counter', [['', backend.records]]);
    line(out, 'mnat_journal_fsyncs_total', 'Journal group commits (fdatasync calls).', 'counter', [['', backend.fsyncs]]);
    line(out, 'mnat_journal_write_failures_total', 'Journal writes or syncs that failed (their changes were refused and undone).', 'counter', [['', backend.writeFailures]]);
    line(out, 'mnat_journal_bytes', 'Size of the live journal.', 'gauge', [['', backend.journalBytes]]);
    line(out, 'mnat_journal_compactions_total', 'Snapshots written.', 'counter', [['', backend.compactions]]);
    line(out, 'mnat_journal_compaction_failures_total', 'Compactions that failed (retried later).', 'counter', [['', backend.compactionFailures]]);
    line(out, 'mnat_snapshot_generation', 'Generation of the current snapshot.', 'gauge', [['', backend.generation]]);
  }
  const m = stats.mqtt;
  if (m) {
    line(out, 'mnat_mqtt_connected', 'The MQTT broker connection is up (1) or not (0).', 'gauge', [['', m.connected ? 1 : 0]]);
    line(out, 'mnat_mqtt_publisher', 'This front end publishes the mappings (1) or another does (0).', 'gauge', [['', m.publisher ? 1 : 0]]);
    line(out, 'mnat_mqtt_channels', 'Channels whose mapping is retained on the broker.', 'gauge', [['', m.channels]]);
    line(out, 'mnat_mqtt_publishes_total', 'Mapping messages published.', 'counter', [['', m.publishes]]);
    line(out, 'mnat_mqtt_publish_failures_total', 'Publishes the broker did not acknowledge.', 'counter', [['', m.publishFailures]]);
    line(out, 'mnat_mqtt_outages_total', 'Broker connections lost or refused.', 'counter', [['', m.outages]]);
    line(out, 'mnat_mqtt_republishes_total', 'Times every mapping was published (on each connect or take-over).', 'counter', [['', m.republishes]]);
    line(out, 'mnat_mqtt_repaired_total', 'Retained messages of others on mapping topics cleared or overwritten.', 'counter', [['', m.repaired]]);
  }
  if (stats.tlsCertificate) {
    const notAfterS = Date.parse(stats.tlsCertificate.validTo) / 1000;
    line(out, 'mnat_tls_certificate_expiry_timestamp_seconds', 'When the server certificate new connections get expires (Unix time); alert well before.', 'gauge', [['', notAfterS]]);
  }
  line(out, 'process_resident_memory_bytes', 'Resident set size.', 'gauge', [['', stats.memory.rss]]);
  line(out, 'nodejs_heap_used_bytes', 'V8 heap in use.', 'gauge', [['', stats.memory.heapUsed]]);
  line(out, 'process_uptime_seconds', 'Seconds since the server started.', 'gauge', [['', Math.round(stats.uptimeS)]]);
  return out.join('\n') + '\n';
}
