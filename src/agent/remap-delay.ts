// Make-before-break on the ingress side of a re-mapping: when the server
// moves a channel the ingress carries to another local channel, the ingress
// keeps sending on the old one for delayMs, so that every egress has joined
// the new local channel first (egresses keep the old one beside the new for
// REMAP_OVERLAP_MS, egress-agent.ts, much longer than this delay). The
// mappings reach both at about the same moment (one MQTT publish, or push
// with the ingress told first), so without the delay the ingress would move
// the traffic before the egresses could receive it. New channels, releases
// and everything else pass at once. A feed decorator: the ingress agent is
// unchanged.
import { channelKey } from '../core/channel.ts';
import type { Host, TimerHandle } from '../host/host.ts';
import { sameLocal, type MappedChannel } from '../protocol/model.ts';
import type { AssignmentFeed } from './ports.ts';

export function delayRemaps<T>(host: Host, feed: AssignmentFeed<T>, delayMs: number): AssignmentFeed<T> {
  if (delayMs <= 0) return feed;
  const listeners: Array<(c: MappedChannel[]) => void> = [];
  let latest: MappedChannel[] = [];
  /** What went out last, by global key. */
  let sent = new Map<string, MappedChannel>();
  /** Moving channels by global key: the mapping still sent, and when the new one goes out. */
  const moving = new Map<string, { old: MappedChannel; to: MappedChannel; at: number }>();
  let timer: TimerHandle | null = null;

  const emit = (): void => {
    const now = host.now();
    const out = latest.map((m) => {
      const key = channelKey(m.global);
      const before = sent.get(key);
      let move = moving.get(key);
      if (move && !(m.local && sameLocal(move.to.local, m.local))) move = undefined; // moved elsewhere again, or released
      if (!move && before?.local && m.local && m.state === 'assigned' && before.state === 'assigned' && !sameLocal(before.local, m.local)) {
        move = { old: before, to: m, at: now + delayMs };
        host.log.info('re-mapped channel: moving in a moment, once the egresses joined the new local channel', {
          channel: key,
          seconds: delayMs / 1000,
        });
      }
      if (move && move.at > now) {
        moving.set(key, move);
        return move.old;
      }
      moving.delete(key);
      return m;
    });
    for (const key of [...moving.keys()]) if (!out.some((m) => channelKey(m.global) === key)) moving.delete(key);
    sent = new Map(out.map((m) => [channelKey(m.global), m]));
    if (timer) host.clearTimeout(timer);
    timer = null;
    const next = Math.min(...[...moving.values()].map((m) => m.at));
    if (Number.isFinite(next)) timer = host.setTimeout(emit, Math.max(0, next - now));
    for (const fn of listeners) fn(out);
  };

  feed.on('assignments', (channels) => {
    latest = channels;
    emit();
  });
  return {
    start: () => feed.start(),
    stop: () => {
      if (timer) host.clearTimeout(timer);
      timer = null;
      return feed.stop();
    },
    setDesired: (items) => feed.setDesired(items),
    on(event: 'assignments' | 'status', fn: never) {
      if (event === 'assignments') listeners.push(fn);
      else feed.on('status', fn);
    },
  };
}
