// Watches the egress's two devices: present or not, which ifindex (a device
// deleted and re-created, e.g. PPPoE coming back, gets a new one and loses
// its qdiscs and memberships), up or down. `ip monitor link` (which flushes
// per event) triggers a check; a slow timer is the safety net. Devices are
// read with the one link reader (dataplane/link-info.ts), which falls back to
// sysfs on a router with only BusyBox's ip.
import { findLink, type LinkInfo } from '../dataplane/link-info.ts';
import type { Host, Logger } from '../host/host.ts';
import { createSerialPass } from '../agent/serial-pass.ts';
import { createLineMonitor, type LineMonitor } from './line-monitor.ts';

/** A device whose presence, ifindex or up state changed (previous undefined: the first look). */
export type DeviceChange = (name: string, link: LinkInfo | null, previous: LinkInfo | null | undefined) => void;

/** `ip monitor link` events close together make one check. */
const DEBOUNCE_MS = 50;
/** The safety net's period: a check even without events. */
const SAFETY_MS = 30_000;

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

export function createDeviceWatch(host: Host, log: Logger, onChange: DeviceChange): DeviceWatch {
  let names: string[] = [];
  const known = new Map<string, LinkInfo | null>();
  let monitor: LineMonitor | null = null;
  let stopped = true;
  let unreadable = false;

  const check = async (): Promise<void> => {
    for (const name of names) {
      let link: LinkInfo | null;
      try {
        link = await findLink(host, name, true);
      } catch (err) {
        // ip failed (not "no such device"): the last known state stands until a read works.
        if (!unreadable) log.warn('cannot read a device; keeping its last known state', { device: name, error: (err as Error).message });
        unreadable = true;
        continue;
      }
      unreadable = false;
      if (stopped) return;
      const had = known.has(name);
      const prev = known.get(name) ?? null;
      const changed = !had || (prev === null ? link !== null : link === null || link.ifindex !== prev.ifindex || link.up !== prev.up);
      known.set(name, link);
      if (changed) onChange(name, link, had ? prev : undefined);
    }
  };
  const checks = createSerialPass(host, check, { safetyMs: () => SAFETY_MS });
  const request = (delayMs?: number): void => {
    if (!stopped) checks.request(delayMs);
  };

  return {
    setDevices(next) {
      names = [...new Set(next)];
      for (const n of [...known.keys()]) if (!names.includes(n)) known.delete(n);
      request();
    },
    get: (name) => known.get(name) ?? null,
    start() {
      stopped = false;
      monitor = createLineMonitor(host, log, 'ip', ['ip', 'monitor', 'link'], (line) => {
        const name = monitorLinkName(line);
        if (name !== null && names.includes(name)) request(DEBOUNCE_MS);
      }, () => request());
      monitor.start();
      request();
      return checks.idle();
    },
    stop() {
      stopped = true;
      monitor?.stop();
      monitor = null;
      checks.stop();
    },
  };
}
