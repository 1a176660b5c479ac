// Watches the egress's two devices: present or not, which ifindex (a device
// deleted and re-created, e.g. PPPoE coming back, gets a new one and loses
// its qdiscs and memberships), up or down. `ip monitor link` (which flushes
// per event) triggers a check; a slow timer is the safety net.
import { parseIpLinkJson, type LinkInfo } from '../core/egress-bridge.ts';
import type { Host, Logger, TimerHandle } from '../host/host.ts';
import { LineMonitor } from './line-monitor.ts';

export interface DeviceWatchOptions {
  readonly host: Host;
  readonly log: Logger;
  /** Called for every device whose presence, ifindex or up state changed (and once per device at start). */
  readonly onChange: (name: string, link: LinkInfo | null, previous: LinkInfo | null | undefined) => void;
  readonly debounceMs?: number;
  readonly safetyMs?: number;
}

/** The device name of an `ip monitor link` line ("7: wan@if6: <…>", "Deleted 7: wan: …"). */
export function monitorLinkName(line: string): string | null {
  const m = /^(?:Deleted )?\d+: ([^:@\s]+)[@:]/.exec(line);
  return m ? m[1]! : null;
}

export class DeviceWatch {
  private readonly opts: DeviceWatchOptions;
  private names: string[] = [];
  private readonly known = new Map<string, LinkInfo | null>();
  private monitor: LineMonitor | null = null;
  private timer: TimerHandle | null = null;
  private safety: TimerHandle | null = null;
  private checking = false;
  private again = false;
  private stopped = true;

  constructor(opts: DeviceWatchOptions) {
    this.opts = opts;
  }

  /** The devices to watch; may change on reload. */
  setDevices(names: string[]): void {
    this.names = [...new Set(names)];
    for (const n of [...this.known.keys()]) if (!this.names.includes(n)) this.known.delete(n);
    this.trigger(0);
  }

  get(name: string): LinkInfo | null {
    return this.known.get(name) ?? null;
  }

  start(): Promise<void> {
    this.stopped = false;
    this.startMonitor();
    return this.check();
  }

  stop(): void {
    this.stopped = true;
    this.monitor?.stop();
    this.monitor = null;
    for (const t of [this.timer, this.safety]) if (t) this.opts.host.clearTimeout(t);
    this.timer = this.safety = null;
  }

  /** Check soon (debounced). */
  trigger(delayMs = this.opts.debounceMs ?? 50): void {
    if (this.stopped || this.timer) return;
    this.timer = this.opts.host.setTimeout(() => {
      this.timer = null;
      void this.check();
    }, delayMs);
  }

  private startMonitor(): void {
    this.monitor = new LineMonitor(
      this.opts.host,
      this.opts.log,
      'ip',
      ['ip', 'monitor', 'link'],
      (line) => {
        const name = monitorLinkName(line);
        if (name !== null && this.names.includes(name)) this.trigger();
      },
      () => this.trigger(0),
    );
    this.monitor.start();
  }

  private async check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      for (const name of this.names) {
        const r = await this.opts.host.exec(['ip', '-d', '-j', 'link', 'show', 'dev', name], { timeoutMs: 10_000 });
        if (this.stopped) return;
        const link = r.code === 0 ? parseIpLinkJson(r.stdout) : null;
        const had = this.known.has(name);
        const prev = this.known.get(name);
        let changed: boolean;
        if (!had) changed = true;
        else if (prev === undefined || prev === null) changed = link !== null;
        else changed = link === null || link.ifindex !== prev.ifindex || link.up !== prev.up;
        this.known.set(name, link);
        if (changed) this.opts.onChange(name, link, had ? prev : undefined);
      }
    } finally {
      this.checking = false;
      if (!this.stopped) {
        if (this.safety) this.opts.host.clearTimeout(this.safety);
        this.safety = this.opts.host.setTimeout(() => {
          this.safety = null;
          this.trigger(0);
        }, this.opts.safetyMs ?? 30_000);
        if (this.again) {
          this.again = false;
          this.trigger(0);
        }
      }
    }
  }
}
