// Watches the egress's two devices: present or not, which ifindex (a device
// deleted and re-created, e.g. PPPoE coming back, gets a new one and loses
// its qdiscs and memberships), up or down. `ip monitor link` (which flushes
// per event) triggers a check; a slow timer is the safety net.
import { parseIpLinkJson, type LinkInfo } from './bridge-plan.ts';
import type { Host, Logger, TimerHandle } from '../host/host.ts';
import { createLineMonitor, type LineMonitor } from './line-monitor.ts';

export interface DeviceWatchOptions {
  readonly host: Host;
  readonly log: Logger;
  /** Called for every device whose presence, ifindex or up state changed (previous undefined: first look). */
  readonly onChange: (name: string, link: LinkInfo | null, previous: LinkInfo | null | undefined) => void;
  readonly debounceMs?: number;
  readonly safetyMs?: number;
}

export interface DeviceWatch {
  /** The devices to watch; may change on reload. */
  setDevices(names: string[]): void;
  get(name: string): LinkInfo | null;
  start(): Promise<void>;
  stop(): void;
}

/** The device name of an `ip monitor link` line ("7: wan@if6: <…>", "Deleted 7: wan: …"). */
export function monitorLinkName(line: string): string | null {
  const m = /^(?:Deleted )?\d+: ([^:@\s]+)[@:]/.exec(line);
  return m ? m[1]! : null;
}

export function createDeviceWatch(opts: DeviceWatchOptions): DeviceWatch {
  const { host, log } = opts;
  let names: string[] = [];
  const known = new Map<string, LinkInfo | null>();
  let monitor: LineMonitor | null = null;
  let timer: TimerHandle | null = null;
  let safety: TimerHandle | null = null;
  let checking = false;
  let again = false;
  let stopped = true;

  const trigger = (delayMs = opts.debounceMs ?? 50): void => {
    if (stopped || timer) return;
    timer = host.setTimeout(() => {
      timer = null;
      void check();
    }, delayMs);
  };

  const check = async (): Promise<void> => {
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      for (const name of names) {
        const r = await host.exec(['ip', '-d', '-j', 'link', 'show', 'dev', name], { timeoutMs: 10_000 });
        if (stopped) return;
        const link = r.code === 0 ? parseIpLinkJson(r.stdout) : null;
        const had = known.has(name);
        const prev = known.get(name) ?? null;
        const changed = !had || (prev === null ? link !== null : link === null || link.ifindex !== prev.ifindex || link.up !== prev.up);
        known.set(name, link);
        if (changed) opts.onChange(name, link, had ? prev : undefined);
      }
    } finally {
      checking = false;
      if (!stopped) {
        if (safety) host.clearTimeout(safety);
        safety = host.setTimeout(() => {
          safety = null;
          trigger(0);
        }, opts.safetyMs ?? 30_000);
        if (again) {
          again = false;
          trigger(0);
        }
      }
    }
  };

  return {
    setDevices(next) {
      names = [...new Set(next)];
      for (const n of [...known.keys()]) if (!names.includes(n)) known.delete(n);
      trigger(0);
    },
    get: (name) => known.get(name) ?? null,
    start() {
      stopped = false;
      monitor = createLineMonitor(host, log, 'ip', ['ip', 'monitor', 'link'], (line) => {
        const name = monitorLinkName(line);
        if (name !== null && names.includes(name)) trigger();
      }, () => trigger(0));
      monitor.start();
      return check();
    },
    stop() {
      stopped = true;
      monitor?.stop();
      monitor = null;
      for (const t of [timer, safety]) if (t) host.clearTimeout(t);
      timer = safety = null;
    },
  };
}
