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
  const backend = s.backend;
  if (backend.kind === 'journal') {
    line(out, 'mnat_journal_records_total', 'State-change records journaled.', 'counter', [['', backend.records]]);
    line(out, 'mnat_journal_fsyncs_total', 'Journal group commits (fdatasync calls).', 'counter', [['', backend.fsyncs]]);
    line(out, 'mnat_journal_compactions_total', 'Snapshots written.', 'counter', [['', backend.compactions]]);
  }
  line(out, 'process_resident_memory_bytes', 'Resident set size.', 'gauge', [['', stats.memory.rss]]);
  line(out, 'nodejs_heap_used_bytes', 'V8 heap in use.', 'gauge', [['', stats.memory.heapUsed]]);
  line(out, 'process_uptime_seconds', 'Seconds since the server started.', 'gauge', [['', Math.round(stats.uptimeS)]]);
  return out.join('\n') + '\n';
}
