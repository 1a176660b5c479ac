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
  if (backend.kind === 'journal') {
    line(out, 'mnat_journal_records_total', 'State-change records journaled.', 'counter', [['', backend.records]]);
    line(out, 'mnat_journal_fsyncs_total', 'Journal group commits (fdatasync calls).', 'counter', [['', backend.fsyncs]]);
    line(out, 'mnat_journal_write_failures_total', 'Journal writes or syncs that failed (their changes were refused and undone).', 'counter', [['', backend.writeFailures]]);
    line(out, 'mnat_journal_bytes', 'Size of the live journal.', 'gauge', [['', backend.journalBytes]]);
    line(out, 'mnat_journal_compactions_total', 'Snapshots written.', 'counter', [['', backend.compactions]]);
    line(out, 'mnat_journal_compaction_failures_total', 'Compactions that failed (retried later).', 'counter', [['', backend.compactionFailures]]);
    line(out, 'mnat_snapshot_generation', 'Generation of the current snapshot.', 'gauge', [['', backend.generation]]);
  }
  line(out, 'process_resident_memory_bytes', 'Resident set size.', 'gauge', [['', stats.memory.rss]]);
  line(out, 'nodejs_heap_used_bytes', 'V8 heap in use.', 'gauge', [['', stats.memory.heapUsed]]);
  line(out, 'process_uptime_seconds', 'Seconds since the server started.', 'gauge', [['', Math.round(stats.uptimeS)]]);
  return out.join('\n') + '\n';
}
