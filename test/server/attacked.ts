// The common start of the hostile-client tests: the real server, a normal
// client on 127.0.0.1 with a watcher of its own that refreshes and GETs every
// 20 ms while the test attacks from 127.0.0.2, and the server's /metrics.
// Everything is closed when the test ends, also when it fails.
import assert from 'node:assert/strict';
import { h2, NORMAL, Opened, probe, request, type ProbeResult, type Target } from '../../lab/hostile-clients.ts';
import { startServer, type ServerProc } from './helpers.ts';

interface After {
  after(fn: () => unknown): void;
}

export interface Attacked {
  server: ServerProc;
  target: Target;
  opened: Opened;
  /** Stops the normal client; its latencies and failures. */
  normal(): Promise<ProbeResult>;
  metrics(): Promise<string>;
}

export async function attacked(t: After, args: string[], tlsOf?: (port: number) => Target['tls']): Promise<Attacked> {
  const server = await startServer(t, args);
  const target: Target = { port: server.port, tls: tlsOf?.(server.port) };
  const opened = new Opened();
  t.after(() => opened.closeAll());
  const session = await h2(opened, target, NORMAL);
  const a = await request(session, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
  assert.equal(a.status, 200, a.body);
  const running = probe(target, JSON.parse(a.body)['ietf-mnat:output']['watcher-id']);
  t.after(() => running.stop());
  return {
    server,
    target,
    opened,
    normal: () => running.stop(),
    metrics: async () => {
      const m = await request(session, 'GET', '/metrics');
      assert.equal(m.status, 200);
      return m.body;
    },
  };
}
