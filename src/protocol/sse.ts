// Incremental parser for text/event-stream (WHATWG HTML "Server-sent events",
// the framing RFC 8650 uses for RESTCONF notifications). Chunks may split
// anywhere, including inside a CRLF.

export interface SseEvent {
  readonly event: string; // "message" when the stream gave no event: field
  readonly data: string;
  readonly id: string | undefined;
}

export class SseParser {
  #buffer = '';
  #data: string[] = [];
  #eventType = '';
  #lastId: string | undefined;
  #sawCr = false;
  /** Guards against a peer that never sends a newline. */
  readonly #maxLine: number;
  readonly #onEvent: (event: SseEvent) => void;

  constructor(onEvent: (event: SseEvent) => void, maxLineBytes = 1 << 20) {
    this.#onEvent = onEvent;
    this.#maxLine = maxLineBytes;
  }

  /** Feeds text; throws when one line exceeds the limit. */
  push(chunk: string): void {
    let text = chunk;
    if (this.#sawCr && text.startsWith('\n')) text = text.slice(1);
    this.#sawCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#line(this.#buffer + text.slice(start, i));
      this.#buffer = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#sawCr = true;
        }
      }
      start = i + 1;
    }
    this.#buffer += text.slice(start);
    if (this.#buffer.length > this.#maxLine) throw new Error(`event-stream line longer than ${this.#maxLine} characters`);
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) {
        this.#onEvent({ event: this.#eventType || 'message', data: this.#data.join('\n'), id: this.#lastId });
      }
      this.#data = [];
      this.#eventType = '';
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#eventType = value;
    else if (field === 'id' && !value.includes('\0')) this.#lastId = value;
  }
}

/** Formats one event; multi-line data becomes several data: lines. */
export function formatSseEvent(data: string, event?: string, id?: string): string {
  let out = '';
  if (id !== undefined) out += `id: ${id}\n`;
  if (event !== undefined) out += `event: ${event}\n`;
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}
