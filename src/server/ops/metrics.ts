// /metrics in the Prometheus text exposition format (version 0.0.4).
import type { MnatApp } from '../app.ts';

function line(out: string[], name: string, help: string, type: 'gauge' | 'counter', samples: Array<[string, number | bigint]>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) out.push(`${name}${labels} ${typeof value === 'bigint' ? value.toString() : String(value)}`);
}

export function renderMetrics(app: MnatApp): string {
  const s = app.state.stats();
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
  const byStatus = Array.from(app.requestsByStatus.entries()).sort((a, b) => a[0] - b[0]);
  line(out, 'mnat_http_requests_total', 'Answered requests by status code.', 'counter', byStatus.map(([code, n]) => [`{code="${code}"}`, n]));
  line(out, 'mnat_push_subscribers', 'SSE streams of yang-push subscriptions.', 'gauge', [['', app.push.subscriberCount]]);
  line(out, 'mnat_push_subscriptions', 'Established yang-push subscriptions (with or without a stream).', 'gauge', [['', app.push.subscriptionCount]]);
  line(out, 'mnat_push_notifications_total', 'Notifications sent on push streams.', 'counter', [['', app.push.stats.notificationsSent]]);
  line(out, 'mnat_long_polls_waiting', 'GETs held for a change (long polling).', 'gauge', [['', app.push.stats.longPollsWaiting]]);
  const j = app.journalStats();
  if (j) {
    line(out, 'mnat_journal_records_total', 'State-change records journaled.', 'counter', [['', j.records]]);
    line(out, 'mnat_journal_fsyncs_total', 'Journal group commits (fdatasync calls).', 'counter', [['', j.fsyncs]]);
    line(out, 'mnat_journal_compactions_total', 'Snapshots written.', 'counter', [['', j.compactions]]);
  }
  const mem = process.memoryUsage();
  line(out, 'process_resident_memory_bytes', 'Resident set size.', 'gauge', [['', mem.rss]]);
  line(out, 'nodejs_heap_used_bytes', 'V8 heap in use.', 'gauge', [['', mem.heapUsed]]);
  line(out, 'process_uptime_seconds', 'Seconds since the server started.', 'gauge', [['', Math.round(app.uptimeS())]]);
  return out.join('\n') + '\n';
}
