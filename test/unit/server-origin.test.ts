import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverOrigin } from '../../src/core/server-origin.ts';

const origin = (server: string, port?: number, insecure = false): string => serverOrigin('--server', server, port, insecure);

test('server forms: URL, host, HOST:PORT, IPv6 with and without brackets', () => {
  assert.equal(origin('https://[2001:db8::1]:9443'), 'https://[2001:db8::1]:9443');
  assert.equal(origin('https://mnat.example.net/'), 'https://mnat.example.net:8443');
  assert.equal(origin('http://10.0.0.1:80', undefined, true), 'http://10.0.0.1:80');
  assert.equal(origin('mnat.example.net'), 'https://mnat.example.net:8443');
  assert.equal(origin('10.0.0.1', undefined, true), 'http://10.0.0.1:8443');
  assert.equal(origin('10.0.0.1', 9000), 'https://10.0.0.1:9000');
  // HOST:PORT wins over --port; it once became http://[127.0.0.1:1]:8443 in the egress.
  assert.equal(origin('127.0.0.1:1', 9000), 'https://127.0.0.1:1');
  assert.equal(origin('mnat:9443'), 'https://mnat:9443');
  assert.equal(origin('[2001:db8::1]:9443'), 'https://[2001:db8::1]:9443');
  assert.equal(origin('[::1]'), 'https://[::1]:8443');
  assert.equal(origin('2001:db8::1', 1234), 'https://[2001:db8::1]:1234');
  assert.equal(origin('::ffff:10.0.0.1'), 'https://[::ffff:10.0.0.1]:8443');
});

test('server errors say what is wrong', () => {
  assert.throws(() => origin('http://h:1'), /--server: http:\/\/h:1 is plaintext http; add --insecure/);
  assert.throws(() => origin('https://h', undefined, true), /is https but --insecure/);
  assert.throws(() => origin('h:0'), /port 0 of h:0 is out of range/);
  assert.throws(() => origin('h:99999'), /port 99999 of h:99999 is out of range/);
  for (const bad of ['ftp://h', '', 'h:123456', 'a b', 'h:port', 'x/y', '[::1', 'g::1']) {
    assert.throws(() => origin(bad), /is not a host name, address, HOST:PORT or http\(s\):\/\/host:port URL/, JSON.stringify(bad));
  }
});
