// Connections from one hostile client address (127.0.0.2) against the real
// server: too many are closed at once, silent or trickling ones are closed
// after the connect timeout (h2c preface, TLS handshake, HTTP/1.1 headers),
// and a normal client on 127.0.0.1 is answered all along.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { closed, H2_PREFACE, metric, tcp, tls, trickle } from '../../lab/hostile-clients.ts';
import { attacked } from './attacked.ts';
import { devCerts, tlsArgs } from './helpers.ts';

test('connections per client: past the limit (default 64) one address is closed at once; others are served', async (t) => {
  const { server, opened, normal, metrics } = await attacked(t, ['--insecure']);
  const sockets: Socket[] = [];
  for (let i = 0; i < 200; i++) {
    try {
      sockets.push(await tcp(opened, server.port));
    } catch {
      // closed before the connect completed: refused too
    }
  }
  // 136 or more must be closed by the server without anything sent.
  let closedCount = 0;
  await Promise.race([
    new Promise<void>((resolve) => {
      for (const s of sockets) void closed(s).then(() => ++closedCount >= sockets.length - 64 && resolve());
    }),
    new Promise((r) => setTimeout(r, 5000)),
  ]);
  const open = sockets.filter((s) => !s.destroyed && !s.closed).length;
  assert.ok(open <= 64, `${open} connections from one address still open`);
  const text = await metrics();
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="connections-per-client"}') >= 136, text);
  const r = await normal();
  assert.deepEqual(r.failures, [], 'the normal client was answered throughout');
  assert.ok(r.latenciesMs.length > 0);
});

test('h2c: silent connections and a trickled preface are closed after the connect timeout (default 10 s)', async (t) => {
  const { server, opened, normal, metrics } = await attacked(t, ['--insecure']);
  const silent = await Promise.all(Array.from({ length: 25 }, () => tcp(opened, server.port)));
  const trickling = await Promise.all(Array.from({ length: 25 }, () => tcp(opened, server.port)));
  // 24 bytes at one every 500 ms: the preface would take 12 s.
  const stops = trickling.map((s) => trickle(s, 500, H2_PREFACE));
  t.after(() => stops.forEach((stop) => stop()));
  const started = performance.now();
  await Promise.race([Promise.all([...silent, ...trickling].map(closed)), new Promise((r) => setTimeout(r, 20_000))]);
  const open = [...silent, ...trickling].filter((s) => !s.closed).length;
  assert.equal(open, 0, `${open} of 50 idle or trickling connections still open after ${Math.round(performance.now() - started)} ms`);
  const text = await metrics();
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="connect-timeout"}') >= 50, text);
  const r = await normal();
  assert.deepEqual(r.failures, []);
});

test('TLS with required client certificates: TCP connects without a ClientHello, and TLS without a preface, are closed', async (t) => {
  const d = devCerts();
  const { server, target, opened, normal, metrics } = await attacked(t, tlsArgs('required'), () => ({ ca: join(d, 'ca.pem'), cert: join(d, 'egress.pem'), key: join(d, 'egress.key') }));
  const noHello = await Promise.all(Array.from({ length: 30 }, () => tcp(opened, server.port)));
  // A complete handshake (with a certificate), then nothing: the HTTP/2 preface never comes.
  const noPreface = await Promise.all(Array.from({ length: 10 }, () => tls(opened, target)));
  await Promise.race([Promise.all([...noHello, ...noPreface].map((s) => closed(s as never))), new Promise((r) => setTimeout(r, 20_000))]);
  const open = [...noHello, ...noPreface].filter((s) => !s.closed).length;
  assert.equal(open, 0, `${open} of 40 connections still open`);
  const text = await metrics();
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="connect-timeout"}') >= 40, text);
  const r = await normal();
  assert.deepEqual(r.failures, []);
});

test('HTTP/1.1: headers trickled a byte at a time get 408 and a close after the headers timeout (default 10 s)', async (t) => {
  const { server, opened, normal, metrics } = await attacked(t, ['--insecure']);
  const sockets = await Promise.all(Array.from({ length: 20 }, () => tcp(opened, server.port)));
  const answers = sockets.map((s) => {
    let text = '';
    s.setEncoding('utf8').on('data', (d: string) => (text += d));
    s.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n');
    return { s, text: () => text };
  });
  const stops = sockets.map((s) => trickle(s, 300, 'x'));
  t.after(() => stops.forEach((stop) => stop()));
  await Promise.race([Promise.all(sockets.map(closed)), new Promise((r) => setTimeout(r, 20_000))]);
  for (const a of answers) {
    assert.ok(a.s.closed, 'trickling HTTP/1.1 connection still open');
    assert.match(a.text(), /^HTTP\/1\.1 408 /);
    assert.match(a.text(), /--headers-timeout/);
  }
  const text = await metrics();
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="headers-timeout"}') >= 20, text);
  const r = await normal();
  assert.deepEqual(r.failures, []);
});
