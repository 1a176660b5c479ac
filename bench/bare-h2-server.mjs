// The baselines for bench/server-throughput.bench.ts and region-throughput:
// the least a node:http2 TLS server can do per request (stream API, body
// discarded). Two answers:
// - 204 (no ANSWERS file): no body at all, the yardstick;
// - with ANSWERS (a JSON file {post, get}, each {headers, body}, taken from
//   mnat-server's own answers): the same status, headers and body bytes
//   mnat-server sends, answered once the request has ended, with Node's
//   per-close error avoided as mnat-server does (h2-stream.ts). The gap to
//   this one is mnat-server's own work; the rest is what HTTP/2 in Node costs
//   for sending that answer at all.
// Usage: node bench/bare-h2-server.mjs CERT KEY [ANSWERS]  → prints "port N".
import { createSecureServer } from 'node:http2';
import { readFileSync } from 'node:fs';

const [cert, key, answersFile] = process.argv.slice(2);
const server = createSecureServer({ cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: true, settings: { maxConcurrentStreams: 256 } });
if (answersFile === undefined) {
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.respond({ ':status': 204 });
    stream.end();
  });
} else {
  const answers = JSON.parse(readFileSync(answersFile, 'utf8'));
  const closedNormally = new Error('closed');
  let patched = false;
  server.on('stream', (stream, headers) => {
    if (!patched) {
      patched = true;
      const proto = Object.getPrototypeOf(stream);
      const destroy = proto.destroy;
      proto.destroy = function (err, cb) {
        if (err == null && this.closed && this.rstCode === 0 && !this.writableFinished) err = closedNormally;
        return destroy.call(this, err, cb);
      };
    }
    stream.on('error', () => undefined);
    const answer = headers[':method'] === 'POST' ? answers.post : answers.get;
    const send = () => {
      stream.respond({ ':status': 200, ...answer.headers });
      stream.end(answer.body);
    };
    if (stream.endAfterHeaders) send();
    else {
      stream.on('data', () => undefined);
      stream.on('end', send);
    }
  });
}
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
