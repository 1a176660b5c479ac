// Several mnat-server front ends of one region behind one HttpTransport: the
// target's origin lists them comma-separated. A client sticks to one front
// end (picked at random, so a fleet spreads over them) and moves to the next
// when a request fails in transport or is answered 503 (that front end cannot
// reach etcd); the watcher client's own retry (exponential backoff, full
// jitter) then goes to the next front end with the same watcher id, which
// every front end of the region knows. A push stream that breaks is followed
// by a request (establish-subscription), which moves on if the front end is
// gone. A host name with several addresses needs none of this: Node and curl
// try each address when connecting. Kept small: it is in the router's
// QuickJS bundle.
import { RequestInterrupted, type Host, type HttpTarget, type HttpTransport } from '../host/host.ts';

export function serverTransport(host: Host, target: HttpTarget): HttpTransport {
  const all = target.origin.split(',').map((origin) => host.httpTransport({ ...target, origin }));
  let at = (Math.random() * all.length) | 0;
  return {
    request(req) {
      const i = at;
      // Move on from front end i (unless another failure did already).
      const failed = (): unknown => at === i && (at = (i + 1) % all.length);
      return (all[i] as HttpTransport).request(req).then(
        (res) => (res.status === 503 && failed(), res),
        (err: unknown) => {
          // A stop signal to our process group says nothing about this front end.
          if (!(err instanceof RequestInterrupted)) failed();
          throw err;
        },
      );
    },
    stream: (req, h) => (all[at] as HttpTransport).stream(req, h),
    close: () => all.forEach((t) => t.close()),
  };
}
