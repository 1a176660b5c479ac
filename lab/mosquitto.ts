// A real mosquitto broker (Debian's, never the system service) for tests,
// the lab and benches: started with a generated configuration in a run
// directory, on loopback or inside a lab namespace, killed on cleanup.
// With tls, the configuration is docs/mosquitto/mosquitto.conf itself (the
// one the docs ship) with its paths and port rewritten, and its ACL is
// docs/mosquitto/mnat.acl unless another is given.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type LabProcess } from './lab.ts';
import { spawnLabProcess } from './lab-process.ts';

export interface MosquittoOptions {
  /** Run directory (configuration, certificates, persistence). */
  readonly dir: string;
  readonly port: number;
  /** Address to listen on (default 127.0.0.1; '' for every address). */
  readonly bind?: string;
  /** TLS with client certificates (the shipped configuration): CA, the broker's certificate and key. */
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
  /** ACL file text (TLS only; default docs/mosquitto/mnat.acl). */
  readonly acl?: string;
  /** Without TLS: refuse clients without a user name (CONNACK "not authorised"). */
  readonly refuseAnonymous?: boolean;
  /** Keep retained messages across restarts (default false: a restart loses them, the harder case). */
  readonly persistence?: boolean;
  /** Starts argv (default: on this host); a lab namespace's spawn to run it there. */
  readonly spawn?: (argv: string[], label: string) => LabProcess;
}

export interface Mosquitto {
  /** mqtt(s)://host:port for clients on the same host or namespace. */
  readonly url: string;
  readonly process: LabProcess;
  /** Lines of every run of the broker so far. */
  readonly log: string[];
  /** Kills it (SIGKILL: an outage, not a goodbye) and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again (same configuration and port). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const SHIPPED_CONF = join(REPO_ROOT, 'docs/mosquitto/mosquitto.conf');
const SHIPPED_ACL = join(REPO_ROOT, 'docs/mosquitto/mnat.acl');

/** The configuration text: the shipped one for TLS (rewritten for `dir` and the port), a plain one otherwise. */
export function mosquittoConfig(o: MosquittoOptions): string {
  const bind = o.bind ?? '127.0.0.1';
  // Tests run as root; mosquitto would drop to its own user and lose the keys.
  const head = 'user root\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_timestamp false\n';
  const persistence = o.persistence ? `persistence true\npersistence_location ${o.dir}/\n` : 'persistence false\n';
  if (!o.tls) {
    return `${head}per_listener_settings false\nlistener ${o.port}${bind ? ` ${bind}` : ''}\nallow_anonymous ${o.refuseAnonymous ? 'false' : 'true'}\n${persistence}`;
  }
  let text = readFileSync(SHIPPED_CONF, 'utf8')
    .replaceAll('/etc/mosquitto/mnat/', `${o.dir}/`)
    .replace(/^listener 8883$/m, `listener ${o.port}${bind ? ` ${bind}` : ''}`)
    .replace(/^persistence .*\n(persistence_location .*\n)?/m, persistence);
  if (!text.includes(`listener ${o.port}`)) throw new Error('docs/mosquitto/mosquitto.conf has no "listener 8883" line to rewrite');
  text = head + text;
  return text;
}

export async function startMosquitto(o: MosquittoOptions): Promise<Mosquitto> {
  mkdirSync(o.dir, { recursive: true });
  if (o.tls) {
    copyFileSync(o.tls.ca, join(o.dir, 'ca.pem'));
    copyFileSync(o.tls.cert, join(o.dir, 'broker.pem'));
    copyFileSync(o.tls.key, join(o.dir, 'broker.key'));
    writeFileSync(join(o.dir, 'mnat.acl'), o.acl ?? readFileSync(SHIPPED_ACL, 'utf8'));
  }
  const conf = join(o.dir, 'mosquitto.conf');
  writeFileSync(conf, mosquittoConfig(o));
  const log: string[] = [];
  const spawn = o.spawn ?? ((argv: string[], label: string) => spawnLabProcess(argv, undefined, label));
  let proc: LabProcess;
  const start = async (): Promise<void> => {
    proc = spawn(['mosquitto', '-c', conf], `mosquitto :${o.port}`);
    const from = proc.lines;
    const push = from.push.bind(from);
    from.push = (...items: string[]): number => {
      log.push(...items);
      return push(...items);
    };
    try {
      await proc.waitForLine(/mosquitto version \S+ running/, 10_000);
    } catch (err) {
      await proc.kill('SIGKILL');
      throw new Error(`mosquitto did not start: ${(err as Error).message}\n${proc.lines.join('\n')}`);
    }
  };
  await start();
  const host = o.bind && o.bind !== '0.0.0.0' ? (o.bind.includes(':') ? `[${o.bind}]` : o.bind) : '127.0.0.1';
  return {
    url: `${o.tls ? 'mqtts' : 'mqtt'}://${host}:${o.port}`,
    get process() {
      return proc;
    },
    log,
    kill: async () => {
      await proc.kill('SIGKILL');
    },
    start,
    stop: async () => {
      await proc.kill('SIGTERM');
    },
  };
}
