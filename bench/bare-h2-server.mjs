// The baseline for bench/server-throughput.bench.ts: the least a node:http2
// TLS server can do per request (stream API, 204, body discarded).
// Usage: node bench/bare-h2-server.mjs CERT KEY  → prints "port N".
import { createSecureServer } from 'node:http2';
import { readFileSync } from 'node:fs';

const [cert, key] = process.argv.slice(2);
const server = createSecureServer({ cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: true, settings: { maxConcurrentStreams: 256 } });
server.on('stream', (stream) => {
  stream.on('data', () => undefined);
  stream.respond({ ':status': 204 });
  stream.end();
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
