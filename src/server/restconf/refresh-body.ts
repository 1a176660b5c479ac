// The refresh-watcher-id input as every client of ours sends it, compact
// JSON.stringify output: {"ietf-mnat:input":{"watcher-id":"ID"}}. Refreshes
// are most of a server's requests, and reading this one form from the bytes
// saves a JSON.parse and its garbage on each. Only a body exactly of this form,
// with an id of 1 to 256 printable ASCII characters other than '"' and '\',
// is read here (for it, JSON.parse and the codec give the same id); anything
// else (whitespace, escapes, other members) goes through JSON.parse.
const HEAD = Buffer.from('{"ietf-mnat:input":{"watcher-id":"', 'latin1');
const TAIL = Buffer.from('"}}', 'latin1');
const MAX_ID = 256;

/** The watcher id of a body of the usual form, or undefined (then parse it). */
export function plainRefreshWatcherId(body: Buffer): string | undefined {
  const end = body.length - TAIL.length;
  if (end <= HEAD.length || end - HEAD.length > MAX_ID) return undefined;
  for (let i = 0; i < HEAD.length; i++) if (body[i] !== HEAD[i]) return undefined;
  for (let i = 0; i < TAIL.length; i++) if (body[end + i] !== TAIL[i]) return undefined;
  for (let i = HEAD.length; i < end; i++) {
    const c = body[i] as number;
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
  }
  return body.toString('latin1', HEAD.length, end);
}
