// The read-only operator page: pool, populations and every mapping. Watcher
// ids are secrets, so only counts appear here, never ids.
import { EXPIRY_WARNING_DAYS } from '../http/tls-files.ts';
import type { LocalMapping } from '../../protocol/model.ts';
import type { ServerStats, TlsCertificateStats } from './stats.ts';

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

/** One line on where the state lives (a region: front ends, leader, etcd members). */
function storeLine(stats: ServerStats): string {
  const b = stats.store.backend;
  if (b.kind === 'memory') return 'Store: memory only (lost on restart).';
  if (b.kind === 'journal') return `Store: embedded journal (${b.records} records, ${b.compactions} snapshots).`;
  const members = b.members.map((m) => `${esc(m.name)}${m.leader ? ' (leader)' : ''}${m.reachable ? '' : ' <span class="unassigned">unreachable</span>'}`).join(', ');
  return (
    `Store: etcd region. This front end: <b>${esc(b.frontendId)}</b>; ${b.frontends} front ends, region leader ${esc(b.regionLeader ?? 'none')}. ` +
    `etcd members: ${members || 'unknown'}. ${b.available ? 'Taking changes' : '<span class="unassigned">etcd unavailable: changes refused, reads from the local copy</span>'}; ` +
    `log revision ${b.appliedRevision}, snapshot at ${b.snapshotRevision}; ${b.homedWatchers} watchers homed here.`
  );
}

/** An alarm line for a certificate that expires within EXPIRY_WARNING_DAYS (or has). */
function expiryAlarm(cert: TlsCertificateStats | undefined, what: string): string {
  if (!cert || cert.daysLeft >= EXPIRY_WARNING_DAYS) return '';
  return `<p class="alarm">${what} ${cert.daysLeft < 0 ? 'EXPIRED' : 'expires'} ${esc(cert.validTo)}: renew it and send SIGHUP.</p>\n`;
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
  const ro = s.readOnly;
  const banner = ro
    ? `<p class="alarm">READ-ONLY since ${esc(new Date(ro.sinceMs).toISOString())}: ${esc(ro.reason)}. Changes are refused (503) until the state directory takes writes again; reads and refreshes are served.</p>\n`
    : '';
  const cert = stats.tlsCertificate;
  const etcdCert = stats.etcdClientCertificate;
  const certBanner = expiryAlarm(cert, 'The TLS certificate') + expiryAlarm(etcdCert, 'The etcd client certificate (--etcd-cert)');
  const refused = stats.refusals.filter(([, n]) => n > 0).map(([limit, n]) => `${esc(limit)} ${n}`).join(', ') || 'none';
  const t = stats.transport;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>mnat-server status</title>
<meta http-equiv="refresh" content="10">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.unassigned{color:#b00}.assigned{color:#070}.alarm{background:#fdd;border:1px solid #b00;padding:4px 8px}</style></head>
<body><h1>mnat-server</h1>
${banner}${certBanner}<p>${storeLine(stats)}</p>
<p>Uptime ${Math.round(stats.uptimeS)} s. ${s.backend.kind === 'etcd' ? 'Region-wide w' : 'W'}atchers: ${s.watchers} (egress ${s.egressWatchers}, ingress ${s.ingressWatchers}).
Channels: ${s.channelsAssigned} assigned, ${s.channelsUnassigned} waiting for pool space.
Pool: ${s.poolSize.toString()} groups, ${s.poolInUse} in use, ${s.poolInGrace} in grace.
Push streams: ${stats.push.subscribers}; long polls waiting: ${stats.push.longPollsWaiting}.
Connections: ${t.connections} from ${t.clients} clients; request bodies in flight: ${t.bodiesInProgress} (${t.bodyBytesBuffered} bytes).
Refused by limits: ${refused}.${mqttLine(stats)}${cert ? `\nTLS certificate: ${esc(cert.subject)}, valid until ${esc(cert.validTo)}.` : ''}${etcdCert ? `\netcd client certificate: ${esc(etcdCert.subject)}, valid until ${esc(etcdCert.validTo)}.` : ''}</p>
<h2>Mappings</h2>
<table><tr><th>id</th><th>global (Sg, Gg)</th><th>state</th><th>local (Sl, Gl)</th><th>egress watchers</th></tr>
${rows}
</table>${more}
<p><a href="/metrics">/metrics</a></p>
</body></html>
`;
}
