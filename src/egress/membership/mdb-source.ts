// Membership input from the downstream bridge's snooping table: re-read
// `bridge -j -d mdb show dev BR` after every `bridge monitor mdb` event
// (after a short debounce; events during a read fold into one more read, see
// agent/serial-pass.ts) and on a slow safety timer.
//
// `bridge monitor` block-buffers its output when stdout is a pipe (measured
// with iproute2 6.1: nothing arrives until 4 KiB accumulate), so it runs under
// `stdbuf -oL` when that exists; without it the table is polled instead.
import type { HeldChannel } from './membership-table.ts';
import { MdbParseError, membershipsFromMdb, parseMdbJson, parseMdbMonitorLine, type IgnoredJoin } from './mdb.ts';
import type { Host, Logger } from '../../host/host.ts';
import { createLineMonitor, type LineMonitor } from '../line-monitor.ts';
import { createSerialPass } from '../../agent/serial-pass.ts';
import { channelKey } from '../../core/channel.ts';

const STDBUF_PATHS = ['/usr/bin/stdbuf', '/bin/stdbuf', '/usr/local/bin/stdbuf'];

/** The full membership, after every read that changed something. */
export type MdbChange = (channels: HeldChannel[], ignored: IgnoredJoin[]) => void;

/** Monitor events this close together make one read. */
const DEBOUNCE_MS = 2;
/** The poll period when no line-buffered monitor is available. */
const POLL_MS = 2000;
/**
 * One more read this long after start: `bridge monitor` says nothing when it
 * listens, so a report between the first read and that moment would otherwise
 * wait for the safety read (30 s). A monitor slower to start than this still
 * has the safety read.
 */
const MONITOR_SETTLE_MS = 3000;

export interface MdbSource {
  start(): void;
  stop(): void;
  /** Reads the table soon (coalesced); safe to call often. */
  refresh(delayMs?: number): void;
  /** Forget the last state so the next read reports in full (the bridge was re-created). */
  invalidate(): void;
}

/** `safetyMs`: the period of a read without events (default 30 s). */
export function createMdbSource(host: Host, log: Logger, bridge: string, onChange: MdbChange, safetyMs = 30_000): MdbSource {
  let monitor: LineMonitor | null = null;
  let stopped = true;
  let lastKey: string | null = null;
  let readable: boolean | null = null;
  let ignoredSeen = new Set<string>();
  let lineBuffered = false;
  let settling = false;

  const setReadable = (ok: boolean, detail: string): void => {
    if (readable === ok) return;
    const before = readable;
    readable = ok;
    if (!ok) log.warn('cannot read the snooping table; keeping the last known joins', { bridge, error: detail });
    else if (before !== null) log.info('snooping table readable again', { bridge });
  };

  const read = async (): Promise<void> => {
    // The host settles a timed-out exec even if bridge never ends (Host contract).
    const r = await host.exec(['bridge', '-j', '-d', 'mdb', 'show', 'dev', bridge], { timeoutMs: 10_000 });
    if (r.code === null && r.stderr.includes('killed after')) log.error('bridge mdb show did not finish within 10 s', { bridge });
    if (stopped) return;
    if (r.code !== 0) return setReadable(false, (r.stderr.trim() || `bridge exited with ${r.code}`).split('\n')[0]!);
    let result;
    try {
      result = membershipsFromMdb(parseMdbJson(r.stdout, bridge));
    } catch (err) {
      if (!(err instanceof MdbParseError)) throw err;
      return setReadable(false, err.message);
    }
    setReadable(true, '');
    const ignored = result.ignored.filter((i) => i.reason !== 'link-local' && i.reason !== 'router');
    const seen = new Set<string>();
    for (const i of ignored) {
      const k = `${i.port}|${i.group}`;
      seen.add(k);
      if (ignoredSeen.has(k)) continue;
      // A host in IGMPv2/MLDv1 compatibility (it heard such a query, from this bridge
      // before it was IGMPv3/MLDv2 or from another querier) stays so for up to 260 s.
      log[i.reason === 'no-source' ? 'warn' : 'debug']('join ignored', { port: i.port, group: i.group, reason: i.detail });
    }
    ignoredSeen = seen;
    const channels = [...result.channels.values()];
    const key = channels.map((c) => `${channelKey(c.channel)}=${c.holders.join('+')}`).join(' ');
    if (key === lastKey) return;
    lastKey = key;
    onChange(channels, ignored);
  };
  // Reads one at a time; events during a read make one more read after it.
  const nextSafetyMs = (): number => {
    if (!lineBuffered) return POLL_MS;
    if (!settling) return safetyMs;
    settling = false;
    return MONITOR_SETTLE_MS;
  };
  const reads = createSerialPass(host, read, { safetyMs: nextSafetyMs });
  const refresh = (delayMs = 0): void => {
    if (!stopped) reads.request(delayMs);
  };

  return {
    refresh,
    start() {
      stopped = false;
      settling = true;
      const stdbuf = STDBUF_PATHS.find((p) => host.fileExists(p));
      lineBuffered = stdbuf !== undefined;
      if (!lineBuffered) {
        log.warn('stdbuf not found: bridge monitor output is block-buffered on a pipe, so the snooping table is polled', {
          bridge,
          pollMs: POLL_MS,
          fix: 'install coreutils-stdbuf (OpenWrt) or coreutils',
        });
      }
      const argv = stdbuf ? [stdbuf, '-oL', 'bridge', 'monitor', 'mdb'] : ['bridge', 'monitor', 'mdb'];
      monitor = createLineMonitor(host, log, 'bridge', argv, (line) => {
        const ev = parseMdbMonitorLine(line);
        if (ev !== null && ev.bridge === bridge) refresh(DEBOUNCE_MS);
      }, () => refresh()); // events may have been missed meanwhile
      monitor.start();
      refresh();
    },
    stop() {
      stopped = true;
      monitor?.stop();
      monitor = null;
      reads.stop();
    },
    invalidate() {
      lastKey = null;
      refresh();
    },
  };
}
