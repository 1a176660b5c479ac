// An MQTT connection on Node: MQTT.js (the `mqtt` package), loaded only when
// a command is given --mqtt (it is a large module). TLS with the given CA and
// client certificate (PEM files, read again for every reconnection, so a
// renewed certificate needs no restart), reconnecting on its own every
// reconnectMs. Used by mnat-server (publishes) and by the agents on Node
// (subscribe); the egress under QuickJS uses mosquitto_sub instead.
import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';

export type { MqttClient } from 'mqtt';

/** Where to connect (a MqttBroker of protocol/mqtt-mapping.ts) and with which files. */
export interface MqttEndpoint {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface MqttConnectOptions {
  /** Client id prefix; a random suffix makes it unique per process. */
  readonly clientIdPrefix: string;
  /** 5 for the server (no-local subscriptions), 4 (3.1.1) for subscribers. */
  readonly protocolVersion: 4 | 5;
  /** Between reconnection attempts (default 2000). */
  readonly reconnectMs?: number;
  /** Keep-alive in seconds (default 15): a dead connection is noticed within 1.5 times that. */
  readonly keepaliveS?: number;
}

/** Starts connecting (events tell the rest); throws only when a certificate file cannot be read. */
export async function connectMqtt(endpoint: MqttEndpoint, options: MqttConnectOptions): Promise<MqttClient> {
  const read = (file: string | undefined): Buffer | undefined => (file === undefined ? undefined : readFileSync(file));
  const ca = read(endpoint.caFile);
  const cert = read(endpoint.certFile);
  const key = read(endpoint.keyFile);
  const { connect } = await import('mqtt');
  const client = connect({
    protocol: endpoint.tls ? 'mqtts' : 'mqtt',
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.tls ? { ca, cert, key, rejectUnauthorized: true, servername: /^[\d.]+$|:/.test(endpoint.host) ? undefined : endpoint.host } : {}),
    clientId: `${options.clientIdPrefix}-${Math.random().toString(36).slice(2, 10)}`,
    protocolVersion: options.protocolVersion,
    clean: true,
    keepalive: options.keepaliveS ?? 15,
    reconnectPeriod: options.reconnectMs ?? 2000,
    connectTimeout: 10_000,
    queueQoSZero: false,
    // Subscriptions are made again by their owners on every connect (with the full state).
    resubscribe: false,
  });
  // MQTT.js builds each reconnection from client.options. A file missing
  // mid-rotation keeps the last good copy; a certificate the broker refuses
  // shows as that connection's error.
  if (endpoint.tls) {
    client.on('reconnect', () => {
      try {
        Object.assign(client.options, { ca: read(endpoint.caFile), cert: read(endpoint.certFile), key: read(endpoint.keyFile) });
      } catch {
        // keep the files read last
      }
    });
  }
  return client;
}
