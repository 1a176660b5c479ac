// One HTTP/2 request with a JSON body, for the fan-out benchmark and its
// simulated CPEs (node:http2 directly: no client library in the measurement).
import type { ClientHttp2Session } from 'node:http2';

const YANG = 'application/yang-data+json';

export function h2request(session: ClientHttp2Session, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path, accept: YANG, ...(body !== undefined ? { 'content-type': YANG } : {}) });
    let text = '';
    let status = 0;
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: string) => (text += d));
    req.on('end', () => resolve({ status, text }));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
