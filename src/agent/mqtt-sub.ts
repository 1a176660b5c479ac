// The broker link on the router (QuickJS has no sockets): mosquitto_sub as one
// long-lived child read line by line (-F '%t %x': the topic and the payload in
// hex, so no payload can forge a line), started again with the new topic list
// when a channel needs a topic it does not have. Its own debug lines (-d, line-buffered by
// stdbuf) tell when it is subscribed and, with the keep-alive's PINGRESP, that
// the broker still answers: silence past 1.5 keep-alives, an exit (refused,
// TLS error, broker down) or a missing tool is `down`, and it is started again
// with backoff. mosquitto_sub reconnects by itself after a short outage.
import { createBackoff } from '../core/backoff.ts';
import type { Host, LineProcess, TimerHandle } from '../host/host.ts';
import type { MqttBroker } from '../protocol/mqtt-mapping.ts';
import type { MappingLink, MappingLinkEvents } from './mqtt-feed.ts';

/** The TLS files (the same as the server connection's). */
export interface MqttFiles {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export function openMosquittoSub(host: Host, broker: MqttBroker, files: MqttFiles, events: MappingLinkEvents, keepaliveS = 10): MappingLink {
  const backoff = createBackoff({ initialMs: 1000, maxMs: 30_000 });
  const quietMs = keepaliveS * 1500 + 2000;
  let filters: readonly string[] = [];
  let child: LineProcess | null = null;
  let run = 0; // lines and exits of an older child are ignored
  let timer: TimerHandle | null = null; // the watchdog, or the wait before a restart
  let last = ''; // the child's lines that were neither messages nor debug: its errors
  let connecting = false; // CONNECT sent, no CONNACK yet

  const after = (ms: number, fn: () => void): void => {
    if (timer) host.clearTimeout(timer);
    timer = host.setTimeout(fn, ms);
  };
  const stop = (): void => {
    if (timer) host.clearTimeout(timer);
    timer = null;
    run++;
    child?.kill();
    child = null;
  };
  const fail = (why: string, stopped = false): void => {
    stop();
    events.down(why, stopped);
    after(backoff.next(), start);
  };
  const watch = (): void => after(quietMs, () => fail(`no answer from the broker for ${quietMs / 1000} s`));

  function start(): void {
    stop();
    // Nothing wanted: no child (the state stays as it was until something is).
    if (filters.length === 0) return;
    const me = run;
    const tls = broker.tls ? (files.caFile ? ['--cafile', files.caFile] : ['--tls-use-os-certs']) : [];
    if (broker.tls && files.certFile) tls.push('--cert', files.certFile, '--key', files.keyFile ?? files.certFile);
    const argv = ['sh', '-c', 'exec stdbuf -oL "$0" "$@" 2>&1', 'mosquitto_sub', '-h', broker.host, '-p', `${broker.port}`, '-I', 'mnat-', '-k', `${keepaliveS}`, '-d', '-F', '%t %x', ...tls];
    for (const f of filters) argv.push('-t', f);
    last = '';
    connecting = false;
    child = host.spawnLines(
      argv,
      (line) => {
        if (me !== run) return;
        watch();
        const m = /^(\S+) ([\da-f]*)$/.exec(line);
        if (m && m[1]!.startsWith(`${broker.root}/`)) {
          let payload: string | null = null;
          try {
            if (m[2]!.length <= 8192) payload = decodeURIComponent(m[2]!.replace(/../g, '%$&'));
          } catch {
            // not UTF-8
          }
          return events.message(m[1]!, payload);
        }
        if (line.includes(' received SUBACK')) {
          backoff.reset();
          return events.up();
        }
        if (line.includes(' sending CONNECT')) connecting = true;
        if (line.includes(' received CONNACK')) connecting = false;
        if (!/^Client |^Subscribed/.test(line)) last = `${last && `${last}; `}${line}`.slice(-400);
      },
      (code) => {
        if (me !== run) return;
        child = null;
        // Status 0 is how mosquitto_sub ends on SIGINT/SIGTERM (it disconnects cleanly): signalled, as
        // with Ctrl-C or a kill of our process group, not failed. A broker fault exits non-zero.
        if (code === 0) return fail('mosquitto_sub was stopped by a signal (status 0)', true);
        // Closed between CONNECT and CONNACK: mosquitto_sub may only say "Protocol error" (TLS 1.3 alerts come late).
        const why = connecting ? `closed by the broker before CONNACK (client certificate refused?): ${last}` : last;
        fail(code === 127 ? `${last} (install mosquitto-client-ssl and coreutils-stdbuf)` : why || `mosquitto_sub exited with status ${code}`);
      },
    );
    watch();
  }

  return {
    subscribe(next) {
      filters = next.slice();
      start();
    },
    close: stop,
  };
}
