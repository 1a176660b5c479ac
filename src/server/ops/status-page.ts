// The read-only operator page: pool, populations and every mapping. Watcher
// ids are secrets, so only counts appear here, never ids.
import type { LocalMapping } from '../../protocol/model.ts';
import type { ServerStats } from './stats.ts';

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function local(l: LocalMapping | null): string {
  if (!l) return '—';
  return 'asmGroup' in l ? `(*, ${l.asmGroup})` : `(${l.source}, ${l.group})`;
}

const MAX_ROWS = 5000;

function mqttLine(stats: ServerStats): string {
  const m = stats.mqtt;
  if (!m) return '';
  const role = m.publisher ? '' : ' (another front end publishes)';
  return `\nMQTT: ${m.connected ? 'connected' : 'not connected'}${role}, ${m.channels} mappings retained, ${m.outages} outages.`;
}

/** The page for a snapshot taken with its channels. */
export function renderStatusPage(stats: ServerStats): string {
  const s = stats.store;
  const channels = stats.channels ?? [];
  const rows = channels
    .slice(0, MAX_ROWS)
    .map(
      (c) =>
        `<tr><td>${c.id}</td><td>(${esc(c.global.source)}, ${esc(c.global.group)})</td><td class="${c.state}">${c.state}</td><td>${esc(local(c.local))}</td><td>${c.egressWatchers}</td></tr>`,
    )
    .join('\n');
  const more = channels.length > MAX_ROWS ? `<p>${channels.length - MAX_ROWS} more channels not shown.</p>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>mnat-server status</title>
<meta http-equiv="refresh" content="10">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.unassigned{color:#b00}.assigned{color:#070}</style></head>
<body><h1>mnat-server</h1>
<p>Uptime ${Math.round(stats.uptimeS)} s. Watchers: ${s.watchers} (egress ${s.egressWatchers}, ingress ${s.ingressWatchers}).
Channels: ${s.channelsAssigned} assigned, ${s.channelsUnassigned} waiting for pool space.
Pool: ${s.poolSize.toString()} groups, ${s.poolInUse} in use, ${s.poolInGrace} in grace.
Push streams: ${stats.push.subscribers}; long polls waiting: ${stats.push.longPollsWaiting}.${mqttLine(stats)}</p>
<h2>Mappings</h2>
<table><tr><th>id</th><th>global (Sg, Gg)</th><th>state</th><th>local (Sl, Gl)</th><th>egress watchers</th></tr>
${rows}
</table>${more}
<p><a href="/metrics">/metrics</a></p>
</body></html>
`;
}
