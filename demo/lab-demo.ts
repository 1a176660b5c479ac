// The live MNAT lab demo (run as root):
//   npm run demo [-- --duration S] [--rate PPS] [--grace S] [--egress qjs|node] [--plain]
// Builds the reference lab (global sender, ingress, ISP core, two CPEs running
// mnat-egress, LAN hosts), starts mnat-server (TLS, client certificates, a
// pool), the agents and three global streams, lets LAN hosts join, and shows
// once a second what an operator wants to see: who joined what, the mapping
// the server chose, packets per second at every hop, what the core carries,
// and that receivers get the original (Sg,Gg). Ctrl-C tears everything down.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs, CliError, formatUsage, type FlagSpec, type ParsedArgs } from '../src/core/cli-args.ts';
import type { LabProcess } from '../lab/lab.ts';
import { Capture } from '../lab/core-capture.ts';
import { CHANNELS, isRoot, linkCounters, MnatLab, type GlobalChannel, type ServerMapping } from '../lab/mnat-lab.ts';
import { readTranslatorRules, type TranslatorRuleCounters } from '../lab/translator-view.ts';

const FLAGS: FlagSpec[] = [
  { name: 'duration', kind: 'number', value: 'S', min: 5, help: 'run this long, then tear down (default: until Ctrl-C)' },
  { name: 'rate', kind: 'number', value: 'PPS', default: 200, min: 1, max: 20000, help: 'packets per second of each global stream' },
  { name: 'grace', kind: 'number', value: 'S', default: 20, min: 0, help: 'the server\'s grace period for released mappings' },
  { name: 'egress', kind: 'string', value: 'qjs|node', default: 'auto', help: 'runtime of mnat-egress on the CPEs (auto: qjs when built)' },
  { name: 'plain', kind: 'boolean', help: 'append frames instead of redrawing the screen (for logs)' },
  { name: 'from-source', kind: 'boolean', help: 'run the Node commands from src/ (development) instead of dist/' },
];

let args: ParsedArgs;
try {
  args = parseArgs(process.argv.slice(2), FLAGS);
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`lab-demo: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
if (args.help) {
  process.stdout.write(formatUsage('npm run demo --', 'The live MNAT lab demo (needs root).', FLAGS));
  process.exit(0);
}
if (!isRoot()) {
  process.stderr.write('lab-demo: the lab needs root (network namespaces, tc, BPF); run it as root\n');
  process.exit(2);
}
const durationS = args.number('duration');
const rate = args.number('rate') ?? 200;
const graceS = args.number('grace') ?? 20;
const egressFlag = args.string('egress') ?? 'auto';
if (!['auto', 'qjs', 'node'].includes(egressFlag)) {
  process.stderr.write(`lab-demo: --egress: "${egressFlag}" is not qjs, node or auto\n`);
  process.exit(2);
}
const plain = args.boolean('plain') || !process.stdout.isTTY;

// ---------------------------------------------------------------- formatting
const color = !plain;
const c = {
  bold: (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s),
  dim: (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s),
  green: (s: string) => (color ? `\x1b[32m${s}\x1b[0m` : s),
  red: (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s),
  yellow: (s: string) => (color ? `\x1b[33m${s}\x1b[0m` : s),
  cyan: (s: string) => (color ? `\x1b[36m${s}\x1b[0m` : s),
};
// eslint-disable-next-line no-control-regex
const visible = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;
const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - visible(s)));
const lpad = (s: string, n: number): string => ' '.repeat(Math.max(0, n - visible(s))) + s;
const sg = (ch: GlobalChannel): string => `(${ch.source}, ${ch.group})`;
const fmtRate = (n: number | undefined): string => (n === undefined ? '-' : n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n)));
const clock = (ms: number): string => {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

// ---------------------------------------------------------------- events pane
const events: string[] = [];
const startedAt = Date.now();
function event(text: string): void {
  events.push(`${c.dim(clock(Date.now() - startedAt))} ${text}`);
  if (events.length > 12) events.shift();
  if (plain) process.stdout.write(`[event] ${clock(Date.now() - startedAt)} ${text}\n`);
}
function msgOf(line: string): string | null {
  const m = /msg=("(?:[^"\\]|\\.)*"|\S+)/.exec(line);
  if (!m) return null;
  const raw = m[1] as string;
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
}
const INTERESTING = /^(translate|stop translating|join|leave|server connected|server unreachable|assigned|released|mapping|joined|left|holding)/i;
function onAgentLine(role: string, line: string): void {
  if (/level=(warn|error)/.test(line)) {
    event(`${c.yellow(role)} ${line.replace(/^ts=\S+ /, '')}`);
    return;
  }
  const msg = msgOf(line);
  if (msg && INTERESTING.test(msg)) event(`${c.cyan(role)} ${msg}`);
}

// ---------------------------------------------------------------- the run
interface Viewer {
  name: string;
  host: { cpe: number; index: number };
  channel: GlobalChannel;
  proc: LabProcess | null;
  stats: { unique: number; missing: number; sources: Record<string, number>; received: number } | null;
  lastUnique: number;
  lastT: number | null;
  pps: number;
  firstPacketMs: number | null;
  joinedAt: number | null;
}

let lab: MnatLab | null = null;
let stopping = false;
const senders: LabProcess[] = [];

async function teardown(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  process.stdout.write(`\n${c.bold('tearing down')}: stopping agents (they leave, detach and clean up), deleting namespaces...\n`);
  if (lab) {
    const l = lab;
    await Promise.all(senders.map((s) => s.kill().catch(() => null)));
    await Promise.all([l.ingress, ...l.egress].filter((p): p is LabProcess => p !== null).map((p) => p.kill('SIGTERM').catch(() => null)));
    await l.server?.kill('SIGTERM').catch(() => null);
    await l.destroy();
  }
  process.stdout.write('done: no namespace, qdisc, BPF pin or file of this run is left.\n');
  process.exit(code);
}
process.on('SIGINT', () => void teardown(0));
process.on('SIGTERM', () => void teardown(0));

async function main(): Promise<void> {
  process.stdout.write(`${c.bold('MNAT live lab')}: building namespaces (sender, ingress, core, 2 CPEs, 4 LAN hosts)...\n`);
  lab = await MnatLab.create(undefined, {
    cpes: 2,
    hostsPerCpe: 2,
    gracePeriodS: graceS,
    refreshPeriodS: 5,
    egressRuntime: egressFlag as 'auto' | 'qjs' | 'node',
    fromDist: !args.boolean('from-source'),
    joinfile: true,
    onLine: onAgentLine,
  });
  const L = lab;
  process.stdout.write(`lab ${L.lab.id}: starting mnat-server (TLS + client certificates) in the core, mnat-ingress, mnat-egress (${L.egressRuntime}) on the CPEs...\n`);
  await L.startAll();
  const capture = new Capture(L.topo.core.ns, L.topo.core.ingressPort);
  await capture.ready();
  event('agents up; streams start');
  const channels: GlobalChannel[] = [CHANNELS.v4, CHANNELS.v4b, CHANNELS.v6];
  channels.forEach((ch, i) => senders.push(L.sender(ch, { rate, stream: i + 1, size: 200 })));

  const viewers: Viewer[] = [
    { name: 'h1.1', host: { cpe: 1, index: 1 }, channel: CHANNELS.v4 },
    { name: 'h2.1', host: { cpe: 2, index: 1 }, channel: CHANNELS.v4 },
    { name: 'h1.2', host: { cpe: 1, index: 2 }, channel: CHANNELS.v6 },
    { name: 'h2.2', host: { cpe: 2, index: 2 }, channel: CHANNELS.v4b },
  ].map((v) => ({ ...v, proc: null, stats: null, lastUnique: 0, lastT: null, pps: 0, firstPacketMs: null, joinedAt: null }));

  const join = (v: Viewer): void => {
    v.proc = L.receiver(L.host(v.host.cpe, v.host.index), v.channel);
    v.joinedAt = Date.now();
    v.firstPacketMs = null;
    v.lastUnique = 0;
    v.lastT = null;
    v.pps = 0;
    v.stats = null;
    event(`${c.green(v.name)} joins ${sg(v.channel)}`);
    const p = v.proc;
    // Latency counts from the join itself (the receiver's "joined" event), not from process start.
    void p.waitForJson((e) => e.event === 'joined', 600_000).then(
      (e) => {
        if (v.proc === p) v.joinedAt = Number(e.t);
      },
      () => undefined,
    );
    void p.waitForJson((e) => e.event === 'first-packet', 600_000).then(
      (e) => {
        if (v.proc !== p) return;
        v.firstPacketMs = Number(e.t) - (v.joinedAt ?? Number(e.t));
        event(`${c.green(v.name)} first packet of ${sg(v.channel)} from ${String(e.source)} after ${v.firstPacketMs} ms`);
      },
      () => undefined,
    );
  };
  const leave = async (v: Viewer): Promise<void> => {
    const p = v.proc;
    if (!p) return;
    v.proc = null;
    event(`${c.yellow(v.name)} leaves ${sg(v.channel)}`);
    p.write('exit');
    await p.exited;
  };
  for (const v of viewers) {
    join(v);
    await new Promise((r) => setTimeout(r, 400));
  }

  // A scripted leave and re-join, so the release and the grace period show up.
  const total = durationS ?? Infinity;
  const leaveAt = Number.isFinite(total) ? Math.max(15, total * 0.55) : 45;
  const rejoinAt = Number.isFinite(total) ? Math.max(20, total * 0.75) : 45 + graceS + 15;
  let left = false;
  let rejoined = false;

  let prev: { at: number; links: Map<string, Map<string, { rx: number; tx: number }>>; rules: Map<string, number>; capture: Map<string, number> } | null = null;
  let mappings: ServerMapping[] = [];
  let metrics = '';
  for (;;) {
    if (stopping) return;
    const now = Date.now();
    const upS = (now - startedAt) / 1000;
    if (durationS !== undefined && upS >= durationS) break;
    if (!left && upS >= leaveAt) {
      left = true;
      await leave(viewers[3] as Viewer);
    }
    if (!rejoined && upS >= rejoinAt) {
      rejoined = true;
      join(viewers[3] as Viewer);
    }

    // Collect everything in parallel: link counters per namespace, the translators, the server, the receivers.
    const nsList = [
      ['sender', L.topo.sender.ns],
      ['ingress', L.topo.ingress.ns],
      ['core', L.topo.core.ns],
      ...L.topo.cpes.map((cpe) => [`cpe${cpe.index}`, cpe.ns] as const),
    ] as const;
    const [linkList, rules, serverMappings, serverMetrics, snooping] = await Promise.all([
      Promise.all(nsList.map(async ([name, ns]) => [name, await linkCounters(ns).catch(() => new Map())] as const)),
      readTranslatorRules(L).catch(() => [] as TranslatorRuleCounters[]),
      L.serverMappings().catch(() => null),
      L.serverGet('/metrics').catch(() => ''),
      // What each CPE's br-lan learnt from its hosts' IGMPv3/MLDv2 reports (the egress's input).
      Promise.all(L.topo.cpes.map((cp) => cp.ns.mdb('br-lan').catch(() => []))),
    ]);
    if (serverMappings) mappings = serverMappings;
    if (serverMetrics) metrics = serverMetrics;
    // Each receiver answers with its counters and its own timestamp: rates are exact per receiver.
    await Promise.all(
      viewers.map(async (v) => {
        const p = v.proc;
        if (!p) return;
        const e = await p.ask('stats', (x) => x.event === 'stats', 2000).catch(() => null);
        if (!e || v.proc !== p) return;
        const tMs = Number(e.t);
        const stats = e as unknown as NonNullable<Viewer['stats']>;
        if (v.lastT !== null && tMs > v.lastT) v.pps = ((stats.unique ?? 0) - v.lastUnique) / ((tMs - v.lastT) / 1000);
        v.lastT = tMs;
        v.lastUnique = stats.unique ?? 0;
        v.stats = stats;
      }),
    );
    const links = new Map<string, Map<string, { rx: number; tx: number }>>(linkList.map(([n, m]) => [n, m as Map<string, { rx: number; tx: number }>]));
    const cap = capture.poll();
    const dt = prev ? (now - prev.at) / 1000 : 1;
    const linkPps = (ns: string, dev: string, dir: 'rx' | 'tx'): number | undefined => {
      const a = prev?.links.get(ns)?.get(dev)?.[dir];
      const b = links.get(ns)?.get(dev)?.[dir];
      return a === undefined || b === undefined ? undefined : (b - a) / dt;
    };
    const ruleKey = (r: TranslatorRuleCounters): string => `${r.where}|${r.from.source},${r.from.group}`;
    const rulePps = (r: TranslatorRuleCounters): number | undefined => {
      const a = prev?.rules.get(ruleKey(r));
      return a === undefined ? undefined : (r.packets - a) / dt;
    };

    // ------------------------------------------------------------ render
    const out: string[] = [];
    const egressKind = L.egressRuntime === 'qjs' ? 'mnat-egress under qjs (QuickJS, as on OpenWrt)' : 'mnat-egress under Node';
    out.push(
      `${c.bold('MNAT live lab')} ${c.dim(`lab ${L.lab.id}`)}  up ${clock(now - startedAt)}${durationS ? ` / ${clock(durationS * 1000)}` : ''}   ${c.dim('Ctrl-C tears everything down')}`,
      `server ${L.serverOrigin} (HTTP/2, TLS, client certificates; grace ${graceS} s)   ingress: mnat-ingress (Node)   CPEs: ${egressKind}`,
      '',
      c.bold('MAPPINGS chosen by the server') + c.dim('   (status page; pps from the kernel translators\' per-mapping counters)'),
      `  ${pad('id', 4)}${pad('global (Sg, Gg)', 34)}${pad('state', 12)}${pad('local (Sl, Gl)', 48)}${pad('CPEs', 6)}${lpad('ingress', 9)}${L.topo.cpes.map((cp) => lpad(`cpe${cp.index}`, 8)).join('')}`,
    );
    if (mappings.length === 0) out.push(c.dim('  (none yet)'));
    for (const m of mappings) {
      const [gs, gg] = m.global.split(',');
      const ing = rules.find((r) => r.where === 'ingress' && r.from.source === gs && r.from.group === gg);
      const eg = L.topo.cpes.map((cp) => {
        const r = rules.find((x) => x.where === `cpe${cp.index}` && x.to.source === gs && x.to.group === gg);
        return lpad(r ? fmtRate(rulePps(r)) : c.dim('-'), 8);
      });
      const state = m.state === 'assigned' ? c.green(m.state) : c.red(m.state);
      out.push(`  ${pad(String(m.id), 4)}${pad(`(${gs}, ${gg})`, 34)}${pad(state, 12)}${pad(m.local === '-' ? '-' : `(${m.local.replace(',', ', ')})`, 48)}${pad(String(m.egressWatchers), 6)}${lpad(ing ? fmtRate(rulePps(ing)) : c.dim('-'), 9)}${eg.join('')}`);
    }
    const metric = (name: string): string => new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? '?';
    out.push(c.dim(`  pool: ${metric('mnat_pool_size')} groups, ${metric('mnat_pool_in_use')} in use, ${metric('mnat_pool_in_grace')} in grace; watchers: ${metric('mnat_watchers\\{role="egress"\\}')} egress, ${metric('mnat_watchers\\{role="ingress"\\}')} ingress; push streams: ${metric('mnat_push_subscribers')}`));

    out.push('', c.bold('LAN RECEIVERS') + c.dim('   (real sockets, source-specific joins; "got" = the addresses the packets carry)'));
    out.push(`  ${pad('host', 6)}${pad('joined (Sg, Gg)', 34)}${lpad('pps', 6)}${lpad('received', 10)}${lpad('missing', 9)}${lpad('1st pkt', 9)}  got`);
    for (const v of viewers) {
      if (!v.proc) {
        out.push(`  ${pad(v.name, 6)}${c.dim(pad('(left)', 34))}`);
        continue;
      }
      const s = v.stats;
      const srcs = Object.keys(s?.sources ?? {});
      const got =
        srcs.length === 0
          ? c.dim('nothing yet')
          : srcs.every((x) => x === v.channel.source)
            ? c.green(`(${srcs[0]}, ${v.channel.group}) = original`)
            : c.red(`sources ${srcs.join(' ')}`);
      out.push(
        `  ${pad(v.name, 6)}${pad(sg(v.channel), 34)}${lpad(fmtRate(v.pps), 6)}${lpad(String(s?.unique ?? 0), 10)}${lpad(String(s?.missing ?? 0), 9)}${lpad(v.firstPacketMs === null ? '-' : `${v.firstPacketMs}ms`, 9)}  ${got}`,
      );
    }

    L.topo.cpes.forEach((cp, i) => {
      const entries = (snooping[i] ?? []).filter((e) => e.source !== null && e.port !== cp.lan.dev);
      const hostOf = (port: string): string => (/^lan(\d+)$/.test(port) ? `h${cp.index}.${port.slice(3)}` : port);
      const text = entries
        .sort((a, b) => (a.port < b.port ? -1 : 1))
        .map((e) => `${hostOf(e.port)}@${e.port} (${e.source}, ${e.group})`)
        .join('   ');
      out.push(`  ${c.dim(`cpe${cp.index} br-lan snooping table:`)} ${text || c.dim('no (S,G) joined')}`);
    });

    out.push('', c.bold('HOPS') + c.dim('   (packets/s from interface counters)'));
    out.push(`  global sender  eth0 tx ${fmtRate(linkPps('sender', 'eth0', 'tx'))}`);
    out.push(`  ingress        up0 rx ${fmtRate(linkPps('ingress', 'up0', 'rx'))}  ->  translator G->L  ->  core0 tx ${fmtRate(linkPps('ingress', 'core0', 'tx'))}`);
    out.push(
      `  ISP core       p-ing rx ${fmtRate(linkPps('core', 'p-ing', 'rx'))}  ->  ${L.topo.core.cpePorts.map((p) => `${p} tx ${fmtRate(linkPps('core', p, 'tx'))}`).join('   ')}`,
    );
    for (const cp of L.topo.cpes) {
      out.push(
        `  cpe${cp.index}           wan rx ${fmtRate(linkPps(`cpe${cp.index}`, 'wan', 'rx'))}  ->  translator L->G  ->  ${cp.lan.ports.map((p) => `${p} tx ${fmtRate(linkPps(`cpe${cp.index}`, p, 'tx'))}`).join('   ')}`,
      );
    }
    const globalGroups = new Set(channels.map((ch) => ch.group));
    let globalSeen = 0;
    const localSeen: string[] = [];
    for (const [k, n] of cap.byChannel) {
      const g = k.split(',')[1] as string;
      if (globalGroups.has(g)) globalSeen += n;
      else localSeen.push(k);
    }
    out.push(
      `  core capture on p-ing: ${cap.total} multicast packets, ${localSeen.length} local channels, global groups seen: ${globalSeen === 0 ? c.green('0 (the core carries only local addresses)') : c.red(String(globalSeen))}`,
    );

    if (L.joinfilePath) {
      let text = '';
      let age = '';
      try {
        text = readFileSync(L.joinfilePath, 'utf8');
        age = `${Math.round((Date.now() - statSync(L.joinfilePath).mtimeMs) / 1000)} s ago`;
      } catch {
        text = '';
      }
      const lines = text.split('\n').filter((l) => l !== '');
      out.push(`  joinfile for an AMT ingest manager (driad-ingest format, atomic, refreshed every 5 s; written ${age || 'never'}): ${lines.length === 0 ? c.dim('empty') : lines.join('  ')}`);
    }

    out.push('', c.bold('EVENTS'));
    for (const e of events.slice(-10)) out.push(`  ${e}`);

    if (plain) process.stdout.write(`\n----- ${clock(now - startedAt)} -----\n${out.join('\n')}\n`);
    else {
      // Fit the terminal: long lines are cut rather than wrapped, so the frame keeps its shape.
      const width = process.stdout.columns || 200;
      const fit = (line: string): string => (visible(line) <= width ? line : line.replace(/\x1b\[[0-9;]*m/g, '').slice(0, width - 1) + '…');
      process.stdout.write(`\x1b[H\x1b[2J${out.map(fit).join('\n')}\n`);
    }

    prev = {
      at: now,
      links,
      rules: new Map(rules.map((r) => [ruleKey(r), r.packets])),
      capture: new Map(cap.byChannel),
    };
    const spent = Date.now() - now;
    await new Promise((r) => setTimeout(r, Math.max(50, 1000 - spent)));
  }

  // Unattended runs end with a verdict line (the CI-friendly part of the demo).
  const ok = viewers.every((v) => !v.proc || ((v.stats?.unique ?? 0) > 0 && Object.keys(v.stats?.sources ?? {}).every((s) => s === v.channel.source)));
  process.stdout.write(`\n${ok ? c.green('PASS') : c.red('FAIL')}: every joined LAN host received its global channel with the original (Sg,Gg)\n`);
  await capture.stop();
  await teardown(ok ? 0 : 1);
}

main().catch(async (err: Error) => {
  process.stderr.write(`lab-demo: ${err.stack ?? err.message}\n`);
  await teardown(1);
});
