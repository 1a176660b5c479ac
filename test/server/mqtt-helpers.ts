// Test helpers for the MQTT fan-out: a real mosquitto on loopback (killed
// after the test), a free port, and an MQTT.js subscriber that records what
// it receives and waits for messages by predicate.
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect, type MqttClient } from 'mqtt';
import { startMosquitto, type Mosquitto, type MosquittoOptions } from '../../lab/mosquitto.ts';
import { tempDir } from './helpers.ts';

interface After {
  after(fn: () => unknown): void;
}

/** A TCP port nobody listens on right now (on loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** mosquitto on 127.0.0.1:<free port>, in a temp dir; killed when the test ends. */
export async function startBroker(t: After, options: Partial<MosquittoOptions> = {}): Promise<Mosquitto> {
  const broker = await startMosquitto({ dir: tempDir(t, 'mnat-mosquitto-'), port: await freePort(), ...options });
  t.after(() => broker.kill());
  return broker;
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface Subscriber {
  readonly client: MqttClient;
  readonly messages: Received[];
  /** The first message (already received or later) matching pred. */
  waitFor(pred: (m: Received) => boolean, timeoutMs?: number, what?: string): Promise<Received>;
  close(): Promise<void>;
}

export interface SubscriberTls {
  ca: string;
  /** Without cert and key: no client certificate. */
  cert?: string;
  key?: string;
}

function tlsOptions(tls: SubscriberTls): { ca: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: true } {
  return { ca: readFileSync(tls.ca), ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}), ...(tls.key ? { key: readFileSync(tls.key) } : {}), rejectUnauthorized: true };
}

/** Connects to url and subscribes to filters (in that order, one SUBSCRIBE); resolves once subscribed. */
export async function subscriber(t: After, url: string, filters: string[], tls?: SubscriberTls): Promise<Subscriber> {
  const client = connect(url, {
    reconnectPeriod: 500,
    ...(tls ? tlsOptions(tls) : {}),
  });
  const messages: Received[] = [];
  const waiters: Array<{ pred: (m: Received) => boolean; resolve: (m: Received) => void }> = [];
  client.on('message', (topic, payload, packet) => {
    const m = { topic, payload: payload.toString('utf8'), retain: packet.retain };
    messages.push(m);
    for (const w of waiters.slice()) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const close = (): Promise<void> => new Promise((r) => client.end(true, {}, () => r()));
  t.after(close);
  await new Promise<void>((resolve, reject) => {
    client.once('error', reject);
    client.once('connect', () => resolve());
  });
  await client.subscribeAsync(filters, { qos: 0 });
  return {
    client,
    messages,
    close,
    waitFor(pred, timeoutMs = 10_000, what = 'a message') {
      const hit = messages.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (m: Received) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no MQTT message: ${what} within ${timeoutMs} ms; got:\n${messages.map((m) => `${m.topic} ${m.payload}`).join('\n')}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
  };
}

/** Publishes one message and waits for the broker's answer (QoS 1; MQTT 5 when v5, so a refusal is an error). */
export async function publishOnce(url: string, topic: string, payload: string, opts: { retain?: boolean; tls?: SubscriberTls; v5?: boolean } = {}): Promise<void> {
  const client = connect(url, {
    reconnectPeriod: 0,
    protocolVersion: opts.v5 ? 5 : 4,
    ...(opts.tls ? tlsOptions(opts.tls) : {}),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.once('connect', () => resolve());
    });
    await client.publishAsync(topic, payload, { qos: 1, retain: opts.retain ?? true });
  } finally {
    await new Promise<void>((r) => client.end(false, {}, () => r()));
  }
}

/** One metric's value from /metrics text (undefined when absent). */
export function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}
