// Membership input from the downstream bridge's snooping table: re-read
// `bridge -j -d mdb show dev BR` after every `bridge monitor mdb` event
// (debounced, so a burst of reports costs one read) and on a slow safety timer.
//
// `bridge monitor` block-buffers its output when stdout is a pipe (measured
// with iproute2 6.1: nothing arrives until 4 KiB accumulate), so it runs under
// `stdbuf -oL` when that exists; without it the table is polled instead.
import type { HeldChannel } from '../core/egress-membership.ts';
import { MdbParseError, membershipsFromMdb, parseMdbJson, parseMdbMonitorLine, type IgnoredJoin } from '../core/mdb.ts';
import type { Host, Logger, TimerHandle } from '../host/host.ts';
import { LineMonitor } from './line-monitor.ts';

const STDBUF_PATHS = ['/usr/bin/stdbuf', '/bin/stdbuf', '/usr/local/bin/stdbuf'];

export interface MdbSourceOptions {
  readonly host: Host;
  readonly log: Logger;
  readonly bridge: string;
  /** Full membership after every successful read that changed something. */
  readonly onChange: (channels: HeldChannel[], ignored: IgnoredJoin[]) => void;
  /** Called when the table cannot be read (bridge missing) or can again. */
  readonly onReadable?: (readable: boolean, detail: string) => void;
  readonly debounceMs?: number;
  readonly safetyMs?: number;
  /** Poll period when no line-buffered monitor is available. */
  readonly pollMs?: number;
}

export class MdbSource {
  private readonly host: Host;
  private readonly log: Logger;
  private readonly bridge: string;
  private readonly opts: MdbSourceOptions;
  private monitor: LineMonitor | null = null;
  private debounceTimer: TimerHandle | null = null;
  private safetyTimer: TimerHandle | null = null;
  private reading = false;
  private again = false;
  private stopped = true;
  private lastKey: string | null = null;
  private readable: boolean | null = null;
  private ignoredSeen = new Set<string>();
  private lineBuffered = false;
  reads = 0;

  constructor(opts: MdbSourceOptions) {
    this.opts = opts;
    this.host = opts.host;
    this.log = opts.log;
    this.bridge = opts.bridge;
  }

  start(): void {
    this.stopped = false;
    const stdbuf = STDBUF_PATHS.find((p) => this.host.fileExists(p));
    this.lineBuffered = stdbuf !== undefined;
    if (!this.lineBuffered) {
      this.log.warn('stdbuf not found: bridge monitor output is block-buffered on a pipe, so the snooping table is polled', {
        bridge: this.bridge,
        pollMs: this.opts.pollMs ?? 2000,
        fix: 'install coreutils-stdbuf (OpenWrt) or coreutils',
      });
    }
    this.startMonitor(stdbuf);
    this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.monitor?.stop();
    this.monitor = null;
    for (const t of [this.debounceTimer, this.safetyTimer]) if (t) this.host.clearTimeout(t);
    this.debounceTimer = this.safetyTimer = null;
  }

  /** Reads the table soon (debounced); safe to call often. */
  refresh(delayMs = 0): void {
    if (this.stopped) return;
    if (this.debounceTimer) return;
    this.debounceTimer = this.host.setTimeout(() => {
      this.debounceTimer = null;
      void this.read();
    }, delayMs);
  }

  /** Forget the last state so the next read reports in full (after the bridge was re-created). */
  invalidate(): void {
    this.lastKey = null;
    this.refresh();
  }

  private startMonitor(stdbuf: string | undefined): void {
    const argv = stdbuf ? [stdbuf, '-oL', 'bridge', 'monitor', 'mdb'] : ['bridge', 'monitor', 'mdb'];
    this.monitor = new LineMonitor(
      this.host,
      this.log,
      'bridge',
      argv,
      (line) => {
        const ev = parseMdbMonitorLine(line);
        if (ev !== null && ev.bridge === this.bridge) this.refresh(this.opts.debounceMs ?? 2);
      },
      () => this.refresh(), // events may have been missed meanwhile
    );
    this.monitor.start();
  }

  private armSafety(): void {
    if (this.stopped) return;
    if (this.safetyTimer) this.host.clearTimeout(this.safetyTimer);
    const ms = this.lineBuffered ? (this.opts.safetyMs ?? 30_000) : (this.opts.pollMs ?? 2000);
    this.safetyTimer = this.host.setTimeout(() => {
      this.safetyTimer = null;
      this.refresh();
    }, ms);
  }

  private async read(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      const r = await this.host.exec(['bridge', '-j', '-d', 'mdb', 'show', 'dev', this.bridge], { timeoutMs: 10_000 });
      this.reads++;
      if (this.stopped) return;
      if (r.code !== 0) {
        this.setReadable(false, (r.stderr.trim() || `bridge exited with ${r.code}`).split('\n')[0]!);
        return;
      }
      let result;
      try {
        result = membershipsFromMdb(parseMdbJson(r.stdout, this.bridge));
      } catch (err) {
        if (!(err instanceof MdbParseError)) throw err;
        this.setReadable(false, err.message);
        return;
      }
      this.setReadable(true, '');
      const ignored = result.ignored.filter((i) => i.reason === 'asm' || i.reason === 'invalid');
      const seen = new Set<string>();
      for (const i of ignored) {
        const k = `${i.port}|${i.group}`;
        seen.add(k);
        if (!this.ignoredSeen.has(k)) this.log.debug('join ignored', { port: i.port, group: i.group, reason: i.detail });
      }
      this.ignoredSeen = seen;
      const channels = [...result.channels.values()];
      const key = channels.map((c) => `${c.channel.source},${c.channel.group}=${c.holders.join('+')}`).join(' ');
      if (key === this.lastKey) return;
      this.lastKey = key;
      this.opts.onChange(channels, ignored);
    } finally {
      this.reading = false;
      this.armSafety();
      if (this.again && !this.stopped) {
        this.again = false;
        this.refresh();
      }
    }
  }

  private setReadable(readable: boolean, detail: string): void {
    if (this.readable === readable) return;
    this.readable = readable;
    if (!readable) {
      this.log.warn('cannot read the snooping table; keeping the last known joins', { bridge: this.bridge, error: detail });
    } else if (this.reads > 1) {
      this.log.info('snooping table readable again', { bridge: this.bridge });
    }
    this.opts.onReadable?.(readable, detail);
  }
}
