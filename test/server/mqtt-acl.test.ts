// The broker configuration the docs ship (docs/mosquitto/mosquitto.conf and
// mnat.acl), run by a real mosquitto: TLS with client certificates only; the
// server (CN mnat-server) writes the mapping topics; a CPE reads them and can
// write nothing: its publish is refused (MQTT 5: "Not authorized"; 3.1.1:
// dropped), the retained mapping stays the server's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { client, joinsBody, newWatcher, req, ROOT, startServer, tempDir } from './helpers.ts';
import { publishOnce, startBroker, subscriber } from './mqtt-helpers.ts';
import { mappingPayload, mappingTopic } from '../../src/protocol/mqtt-mapping.ts';

const A = { source: '192.0.2.1', group: '232.1.1.1' };

function certs(t: { after(fn: () => unknown): void }): string {
  const dir = tempDir(t, 'mnat-mqtt-certs-');
  const r = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), dir, 'localhost', 'mnat-server', 'cpe1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

test('the shipped broker ACL: the server publishes, a CPE subscribes and reads, a CPE publish is refused', async (t) => {
  const d = certs(t);
  const broker = await startBroker(t, { tls: { ca: join(d, 'ca.pem'), cert: join(d, 'server.pem'), key: join(d, 'server.key') } });
  const url = broker.url.replace('127.0.0.1', 'localhost'); // the broker certificate's name
  const server = await startServer(t, [
    '--insecure',
    '--mqtt', `${url}/mnat`,
    '--mqtt-cacert', join(d, 'ca.pem'), '--mqtt-cert', join(d, 'mnat-server.pem'), '--mqtt-key', join(d, 'mnat-server.key'),
  ]);
  await server.waitForLine(/MQTT: publishing every mapping \(connected\)/);
  const cpe = { ca: join(d, 'ca.pem'), cert: join(d, 'cpe1.pem'), key: join(d, 'cpe1.key') };
  const sub = await subscriber(t, url, ['mnat/ch/#'], cpe);

  const http = client(t, server.origin);
  const id = await newWatcher(http);
  await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [[A.source, A.group]]));
  const topic = mappingTopic('mnat', A);
  const real = await sub.waitFor((m) => m.topic === topic, 10_000, 'the server publishes, the CPE reads');

  const forged = mappingPayload({ id: 1, global: A, state: 'assigned', local: { source: A.source, group: '232.9.9.9' } });
  // MQTT 5: the broker answers the CPE's publish with "Not authorized".
  await assert.rejects(publishOnce(url, topic, forged, { tls: cpe, v5: true }), /Not authorized/);
  // MQTT 3.1.1 has no refusal code: the publish is acknowledged and dropped.
  await publishOnce(url, topic, forged, { tls: cpe });
  await assert.rejects(publishOnce(url, 'mnat/other', 'x', { tls: cpe, v5: true }), /Not authorized/);
  // The retained mapping is still the server's (the broker applied or dropped the publishes before acknowledging them).
  const late = await subscriber(t, url, [topic], cpe);
  assert.equal((await late.waitFor((m) => m.topic === topic)).payload, real.payload);
  assert.ok(!sub.messages.some((m) => m.payload === forged), 'no subscriber saw the forged payload');
  assert.equal(server.lines.filter((l) => l.includes('restoring a mapping someone else overwrote')).length, 0);
  // Without a client certificate the broker does not even finish the handshake.
  await assert.rejects(subscriber(t, url, ['mnat/ch/#'], { ca: cpe.ca }), /certificate required/);
});
