// What every HTTP/2 stream gets before the application sees it: one 'error'
// listener and a cheaper destroy. Both exist for the cost of a request: every
// listener added to a stream is an event emitted ('newListener') and often an
// array, and Node builds an Error with a stack trace for most normal closes.
import type { ServerHttp2Stream } from 'node:http2';
import { abandonBodyRead } from './body.ts';

/** Given instead of nothing when a stream that closed normally is destroyed (see patchDestroy). */
const CLOSED_NORMALLY = Object.assign(new Error('HTTP/2 stream closed normally'), { code: 'MNAT_STREAM_CLOSED' });
let destroyPatched = false;

// A stream the peer resets must not raise an unhandled 'error' (nor a quietly
// destroyed one); what a body being read makes of it, destroy tells it.
function ignore(): void {}

/** Call for each stream before handing it to the application. */
export function prepareStream(stream: ServerHttp2Stream): void {
  stream.on('error', ignore);
  if (!destroyPatched) patchDestroy(stream);
}

/**
 * Node 20's Writable builds an ERR_STREAM_DESTROYED error (with a stack
 * trace) for every stream destroyed while the callback of its last write is
 * pending, even when nobody will ever see it. On the server that is every
 * HTTP/2 response with a body to a request whose body was read: both
 * END_STREAMs are out, nghttp2 closes the stream and Node destroys it before
 * the write's callback runs. Building and collecting those errors cost about
 * a third of a refresh's CPU. A stream that closed normally (NO_ERROR) is
 * therefore destroyed with one shared, pre-built error, which Writable uses
 * instead of building its own (the stream's 'error' listener ignores it).
 * Streams reset by the peer or with an error, and streams whose writes are
 * all done, are destroyed as before.
 *
 * Every stream is destroyed once, however it ended, so this is also where a
 * body still being read learns that no more will come (reset, error): the
 * body reader then needs no 'error' or 'aborted' listener of its own.
 */
function patchDestroy(stream: ServerHttp2Stream): void {
  destroyPatched = true;
  const proto = Object.getPrototypeOf(stream) as { destroy(err?: Error | null, cb?: unknown): unknown };
  const destroy = proto.destroy;
  proto.destroy = function (this: ServerHttp2Stream, err?: Error | null, cb?: unknown) {
    // Only where Writable would build its error: a write still waiting for its callback.
    const quiet = err == null && this.closed && this.rstCode === 0 && !this.writableFinished;
    const result = destroy.call(this, quiet ? CLOSED_NORMALLY : err, cb);
    // After destroy: whatever the application then answers is dropped, not sent on a dying stream.
    abandonBodyRead(this, err);
    return result;
  };
}
