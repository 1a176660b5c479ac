// Upstream joins through smcroute (`smcroutectl join|leave IFACE SOURCE GROUP`):
// the backend for QuickJS on the router, which has no sockets. smcrouted must
// run (on OpenWrt the smcroute service; in the lab one per namespace, reached
// with its own IPC socket via `socketPath`).
//
// Devices that come and go (PPPoE, DHCP re-creating the WAN): smcrouted keeps
// the old ifindex, so a join then fails with "No such device" (or "unknown
// interface" for a device it has never seen). The joiner then runs
// `smcroutectl reload` — which re-probes interfaces but also drops every
// dynamic join — re-joins everything in its view, and retries once. A leave
// that fails because the device is gone counts as done: the kernel dropped the
// membership with the device. Note: the reload also drops dynamic joins other
// programs made through the same smcrouted.
//
// smcrouted's joins outlive the agent: after a kill -9 they stay. The next run
// adopts those of its dead predecessor (adopt(): the channels the translator
// found in the predecessor's rules, as listed by `smcroutectl show groups`),
// never other joins: smcrouted may serve other programs too.
import { channelKey, type Channel } from '../core/channel.ts';
import type { Host } from '../host/host.ts';
import { channelToJoin, channelToLeave, membershipKey, serialJoiner, UpstreamJoinError, type JoinedChannel, type UpstreamJoiner } from './upstream-join.ts';

export interface SmcrouteJoinerOptions {
  /** smcrouted's IPC socket (smcroutectl -u); default: smcroutectl's own default. */
  socketPath?: string;
  /** smcroutectl binary (default "smcroutectl", found on PATH). */
  command?: string;
  timeoutMs?: number;
}

type Outcome = 'ok' | 'already' | 'absent' | 'device';

/** smcroutectl execs a join batch runs at once. */
const JOIN_PARALLEL = 16;

export function createSmcrouteJoiner(host: Host, options: SmcrouteJoinerOptions = {}): UpstreamJoiner {
  const base = [options.command ?? 'smcroutectl', ...(options.socketPath ? ['-u', options.socketPath] : [])];
  const timeoutMs = options.timeoutMs ?? 5000;
  const joined = new Map<string, JoinedChannel>();

  const failure = (code: number | null, out: string, device: string): string => {
    if (code === 127 || (/not found|ENOENT/i.test(out) && !/IPC socket/i.test(out))) {
      return `${base[0]} is not installed (install the smcroute package)`;
    }
    if (/IPC socket|connecting to daemon/i.test(out)) {
      return `smcrouted is not running${options.socketPath ? ` at ${options.socketPath}` : ''} (start the smcroute service): ${oneLine(out)}`;
    }
    if (/unknown interface|no such device/i.test(out)) {
      return `smcrouted cannot use device ${device} (does it exist and is it up?): ${oneLine(out)}`;
    }
    if (code === null) return `${base[0]} did not answer within ${timeoutMs} ms`;
    return `${base[0]} exited ${code}: ${oneLine(out)}`;
  };

  /** Records a join that smcrouted made. */
  const remember = (channel: Channel, device: string): void => {
    joined.set(membershipKey(channel, device), { channel, device });
    host.log.debug('upstream join (smcroute)', { source: channel.source, group: channel.group, device });
  };

  /**
   * Several joins or leaves in one `smcroutectl -b` exec (commands on stdin,
   * smcroute 2.5 and later): the fork and the IPC connection are the cost, not
   * smcrouted. True when it exited 0; false (nothing run) for fewer than two.
   */
  const batch = async (action: 'join' | 'leave', items: ReadonlyArray<{ channel: Channel; device: string }>): Promise<boolean> =>
    items.length > 1 &&
    (await host.exec([...base, '-b'], { input: items.map(({ channel: c, device }) => `${action} ${device} ${c.source} ${c.group}\n`).join(''), timeoutMs })).code === 0;

  /** Runs smcroutectl join/leave and classifies the answer; throws for anything not recoverable here. */
  const ctl = async (action: 'join' | 'leave', channel: Channel, device: string): Promise<Outcome> => {
    const r = await host.exec([...base, action, device, channel.source, channel.group], { timeoutMs });
    const out = `${r.stdout}\n${r.stderr}`.trim();
    if (r.code === 0) return 'ok';
    if (/already joined/i.test(out)) return 'already';
    if (/no group .* to leave/i.test(out)) return 'absent';
    if (r.code !== null && /unknown interface|no such device/i.test(out)) return 'device';
    throw new UpstreamJoinError(action, channel, device, failure(r.code, out, device));
  };

  /** smcroutectl reload, then re-join the whole view; entries whose device is gone leave the view. */
  const reloadAndRejoin = async (): Promise<void> => {
    const r = await host.exec([...base, 'reload'], { timeoutMs });
    if (r.code !== 0) {
      const out = `${r.stdout}\n${r.stderr}`.trim();
      throw new Error(`smcroutectl reload failed: ${failure(r.code, out, '?')}`);
    }
    host.log.info('smcrouted reloaded (a device changed); re-joining', { joins: joined.size });
    for (const [key, j] of [...joined]) {
      const outcome = await ctl('join', j.channel, j.device).catch(() => 'device' as const);
      if (outcome === 'device') {
        joined.delete(key);
        host.log.warn('upstream membership lost with its device', { source: j.channel.source, group: j.channel.group, device: j.device });
      }
    }
  };

  const doJoin = async (given: Channel, device: string): Promise<void> => {
    const { channel } = channelToJoin(given, device);
    const key = membershipKey(channel, device);
    if (joined.has(key)) return;
    // "already joined" means smcrouted holds it (e.g. from our previous run): adopt it, so close() leaves it.
    let outcome = await ctl('join', channel, device);
    if (outcome === 'device') {
      try {
        await reloadAndRejoin();
      } catch (e) {
        throw new UpstreamJoinError('join', channel, device, (e as Error).message);
      }
      outcome = await ctl('join', channel, device);
      if (outcome === 'device') {
        throw new UpstreamJoinError('join', channel, device, `smcrouted cannot use device ${device}, even after a reload (does it exist and is it up?)`);
      }
    }
    remember(channel, device);
  };

  const doLeave = async (given: Channel, device: string): Promise<void> => {
    const channel = channelToLeave(given);
    if (channel === null) return; // never joinable, so never joined
    const key = membershipKey(channel, device);
    if (!joined.has(key)) return;
    // Throws (and keeps the entry for a retry) when smcrouted is unreachable; 'device' means it went with the device.
    await ctl('leave', channel, device);
    joined.delete(key);
    host.log.debug('upstream leave (smcroute)', { source: channel.source, group: channel.group, device });
  };

  /**
   * A batch of joins: first all in one exec (batch()). When that does not exit
   * 0 (a join failed, or an smcroutectl without batch mode), each join is made
   * on its own, JOIN_PARALLEL execs at a time: what the batch did answers
   * "already joined" and counts as done, and every failure is told apart. A
   * device smcrouted does not know (yet) takes the one-by-one path afterwards,
   * which reloads once.
   */
  const joinMany = async (items: readonly JoinedChannel[]): Promise<Array<Error | null>> => {
    const results: Array<Error | null | 'device'> = items.map(() => null);
    const todo: Array<{ i: number; channel: Channel; device: string }> = [];
    items.forEach(({ channel: given, device }, i) => {
      try {
        const { channel } = channelToJoin(given, device);
        if (!joined.has(membershipKey(channel, device))) todo.push({ i, channel, device });
      } catch (e) {
        results[i] = e as Error;
      }
    });
    if (await batch('join', todo)) {
      for (const { channel, device } of todo) remember(channel, device);
      return results as Array<Error | null>;
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const { i, channel, device } = todo[next++]!;
        try {
          if ((await ctl('join', channel, device)) === 'device') results[i] = 'device';
          else remember(channel, device);
        } catch (e) {
          results[i] = e as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(JOIN_PARALLEL, todo.length) }, worker));
    const out: Array<Error | null> = [];
    for (let i = 0; i < items.length; i++) {
      const r = results[i] as Error | null | 'device';
      const j = items[i] as JoinedChannel;
      out.push(r === 'device' ? await doJoin(j.channel, j.device).then(() => null, (e: Error) => e) : r);
    }
    return out;
  };

  const adopt = async (channels: readonly Channel[], device: string): Promise<number> => {
    if (channels.length === 0) return 0; // nothing of a dead run: no exec
    const theirs = new Set(channels.map((c) => channelKey(channelToLeave(c) ?? c)));
    // "(10.0.0.1, 239.77.0.1)   wan" per line with -p (plain) -t (no heading); "(*, G)" is an ASM join, not ours.
    const r = await host.exec([...base, '-p', '-t', 'show', 'groups'], { timeoutMs });
    let n = 0;
    for (const line of r.code === 0 ? r.stdout.split('\n') : []) {
      const m = /^\((\S+), (\S+)\)\s+(\S+)/.exec(line);
      const channel = m && m[3] === device ? channelToLeave({ source: m[1]!, group: m[2]! }) : null;
      if (channel === null || !theirs.has(channelKey(channel)) || joined.has(membershipKey(channel, device))) continue;
      remember(channel, device);
      n++;
    }
    if (n > 0) host.log.info('took over upstream joins a dead run left in smcrouted', { device, joins: n });
    return n;
  };

  return serialJoiner(joined, {
    joinMany,
    adopt,
    join: doJoin,
    leave: doLeave,
    close: async () => {
      // All in one exec (a stop has procd's term_timeout); when that fails, one
      // by one, so each failure is told apart.
      const all = [...joined.values()];
      if (await batch('leave', all)) return joined.clear();
      let firstError: unknown = null;
      for (const j of all) {
        try {
          await doLeave(j.channel, j.device);
        } catch (e) {
          firstError ??= e;
        }
      }
      if (firstError !== null) throw firstError;
    },
  });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ').slice(0, 300);
}
