// Upstream joins through smcroute (`smcroutectl join|leave IFACE SOURCE GROUP`):
// the backend for QuickJS on the router, which has no sockets. smcrouted must
// run (on OpenWrt the smcroute service; in the lab one per namespace, reached
// with its own IPC socket via `socketPath`).
import { channelOf, parseChannel, type Channel } from '../core/channel.ts';
import type { Host } from '../host/host.ts';
import { membershipKey, UpstreamJoinError, type JoinedChannel, type UpstreamJoiner } from './upstream-join.ts';

export interface SmcrouteJoinerOptions {
  /** smcrouted's IPC socket (smcroutectl -u); default: smcroutectl's own default. */
  socketPath?: string;
  /** smcroutectl binary (default "smcroutectl", found on PATH). */
  command?: string;
  timeoutMs?: number;
}

export function createSmcrouteJoiner(host: Host, options: SmcrouteJoinerOptions = {}): UpstreamJoiner {
  const base = [options.command ?? 'smcroutectl', ...(options.socketPath ? ['-u', options.socketPath] : [])];
  const timeoutMs = options.timeoutMs ?? 5000;
  const joined = new Map<string, JoinedChannel>();
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  /** Runs smcroutectl; returns null on success, 'already' / 'absent' for the idempotent cases, or throws. */
  const ctl = async (action: 'join' | 'leave', channel: Channel, device: string): Promise<'ok' | 'already' | 'absent'> => {
    const r = await host.exec([...base, action, device, channel.source, channel.group], { timeoutMs });
    const out = `${r.stdout}\n${r.stderr}`.trim();
    if (r.code === 0) return 'ok';
    if (/already joined/i.test(out)) return 'already';
    if (/no group .* to leave/i.test(out)) return 'absent';
    let reason: string;
    if (r.code === 127 || (/not found|ENOENT/i.test(out) && !/IPC socket/i.test(out))) {
      reason = `${base[0]} is not installed (install the smcroute package)`;
    } else if (/IPC socket|connecting to daemon/i.test(out)) {
      reason = `smcrouted is not running${options.socketPath ? ` at ${options.socketPath}` : ''} (start the smcroute service): ${oneLine(out)}`;
    } else if (/unknown interface/i.test(out)) {
      reason = `smcrouted does not know device ${device} (does it exist? smcrouted may need a reload after it appeared): ${oneLine(out)}`;
    } else if (r.code === null) {
      reason = `${base[0]} did not answer within ${timeoutMs} ms`;
    } else {
      reason = `${base[0]} exited ${r.code}: ${oneLine(out)}`;
    }
    throw new UpstreamJoinError(action, channel, device, reason);
  };

  const doJoin = async (given: Channel, device: string): Promise<void> => {
    let channel: Channel;
    try {
      channel = channelOf(parseChannel(given.source, given.group));
    } catch (e) {
      throw new UpstreamJoinError('join', given, device, (e as Error).message);
    }
    const key = membershipKey(channel, device);
    if (joined.has(key)) return;
    // "already joined" means smcrouted holds it (e.g. from our previous run): adopt it, so close() leaves it.
    await ctl('join', channel, device);
    joined.set(key, { channel, device });
    host.log.debug('upstream join (smcroute)', { source: channel.source, group: channel.group, device });
  };

  const doLeave = async (given: Channel, device: string): Promise<void> => {
    let channel: Channel;
    try {
      channel = channelOf(parseChannel(given.source, given.group));
    } catch {
      return;
    }
    const key = membershipKey(channel, device);
    if (!joined.has(key)) return;
    await ctl('leave', channel, device); // throws (and keeps the entry for a retry) when smcrouted is unreachable
    joined.delete(key);
    host.log.debug('upstream leave (smcroute)', { source: channel.source, group: channel.group, device });
  };

  return {
    join: (channel, device) => serial(() => doJoin(channel, device)),
    leave: (channel, device) => serial(() => doLeave(channel, device)),
    joined: () => [...joined.values()].map((j) => ({ channel: { ...j.channel }, device: j.device })),
    close: () =>
      serial(async () => {
        let firstError: unknown = null;
        for (const j of [...joined.values()]) {
          try {
            await doLeave(j.channel, j.device);
          } catch (e) {
            firstError ??= e;
          }
        }
        if (firstError !== null) throw firstError;
      }),
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').slice(0, 300);
}
