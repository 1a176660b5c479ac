// A live capture on one interface (tcpdump in a lab namespace) that counts UDP
// multicast packets per (source, group), so the demo and the tests can show
// what the ISP core really carries: local (Sl,Gl) only, never a global group.
import type { LabProcess, Netns } from './lab.ts';

export interface CaptureCounts {
  /** "source,group" -> packets */
  readonly byChannel: Map<string, number>;
  total: number;
}

// tcpdump -nn -q lines: "IP 10.0.0.5.40000 > 232.255.0.7.5000: UDP, length 64"
//                       "IP6 fd00:c0::5.40000 > ff35::a:7.5000: UDP, length 64"
const LINE = /\bIP6? (\S+)\.\d+ > (\S+)\.\d+: UDP/;

export function parseCaptureLine(line: string): { source: string; group: string } | null {
  const m = LINE.exec(line);
  if (!m) return null;
  return { source: m[1] as string, group: m[2] as string };
}

export class Capture {
  readonly counts: CaptureCounts = { byChannel: new Map(), total: 0 };
  private readonly proc: LabProcess;
  private consumed = 0;

  constructor(ns: Netns, dev: string) {
    // -l line-buffered, -q brief, -nn numeric; multicast UDP only (both families).
    this.proc = ns.spawn(['tcpdump', '-i', dev, '-l', '-nn', '-q', '-p', 'udp and (ip multicast or ip6 multicast)'], {
      label: `tcpdump ${dev}`,
    });
  }

  /** Resolves once tcpdump has opened the interface. */
  async ready(): Promise<void> {
    await this.proc.waitForLine(/listening on/, 10_000);
  }

  /** Folds new capture lines into the counts and returns them. */
  poll(): CaptureCounts {
    const lines = this.proc.lines;
    for (; this.consumed < lines.length; this.consumed++) {
      const c = parseCaptureLine(lines[this.consumed] as string);
      if (!c) continue;
      const key = `${c.source},${c.group}`;
      this.counts.byChannel.set(key, (this.counts.byChannel.get(key) ?? 0) + 1);
      this.counts.total++;
    }
    // Keep memory flat over a long demo: the lines are counted, drop them.
    if (this.consumed > 10_000) {
      lines.splice(0, this.consumed);
      this.consumed = 0;
    }
    return this.counts;
  }

  async stop(): Promise<void> {
    await this.proc.kill('SIGINT');
  }
}
