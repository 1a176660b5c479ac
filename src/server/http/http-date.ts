// The Date header of HTTP/2 answers (RFC 9110 §6.6.1), computed once per second.
//
// Why mnat-server sends its own: node:http2 adds a missing Date by storing it
// into its null-prototype copy of the headers. In mnat-server's process that
// store missed V8's inline cache on every answer (node --log-ic: one miss per
// request, about 1 µs, the largest single cost mnat-server added over a bare
// server; a bare server's misses stopped after ten). A Date that is present
// is copied with the other headers instead.

/** IMF-fixdates of the injected clock, one string per second. */
export class HttpDate {
  private second = Number.NaN;
  private value = '';

  constructor(private readonly now: () => number = Date.now) {}

  /** Now as an IMF-fixdate; the same string for every call within one second. */
  get(): string {
    const ms = this.now();
    const second = Math.floor(ms / 1000);
    if (second !== this.second) {
      this.second = second;
      this.value = new Date(second * 1000).toUTCString();
    }
    return this.value;
  }
}
