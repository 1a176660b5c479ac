// UTF-8 <-> string for the QuickJS host, which has no TextEncoder/TextDecoder:
// child output arrives as raw bytes (os.read) split anywhere, possibly inside
// a multi-byte sequence, and request bodies go to pipes as bytes.

/** Encodes a string as UTF-8 (lone surrogates become U+FFFD, as TextEncoder does). */
export function encodeUtf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 0x3f);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return out.subarray(0, n);
}

/** The length of the sequence a lead byte starts, or 0 for an invalid lead byte. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * A streaming UTF-8 decoder: bytes of an incomplete sequence at the end of a
 * chunk are kept for the next one; invalid bytes become U+FFFD.
 */
export class Utf8Decoder {
  #pending: number[] = [];

  decode(bytes: Uint8Array, final = false): string {
    let input = bytes;
    if (this.#pending.length > 0) {
      const joined = new Uint8Array(this.#pending.length + bytes.length);
      joined.set(this.#pending, 0);
      joined.set(bytes, this.#pending.length);
      input = joined;
      this.#pending = [];
    }
    let out = '';
    let codes: number[] = [];
    const flush = (): void => {
      out += String.fromCharCode.apply(null, codes);
      codes = [];
    };
    let i = 0;
    while (i < input.length) {
      const b0 = input[i]!;
      if (b0 < 0x80) {
        codes.push(b0);
        i++;
      } else {
        const len = sequenceLength(b0);
        if (len === 0) {
          codes.push(0xfffd);
          i++;
        } else if (i + len > input.length && !final && this.#isPrefixValid(input, i)) {
          for (let k = i; k < input.length; k++) this.#pending.push(input[k]!);
          break;
        } else {
          let cp = len === 2 ? b0 & 0x1f : len === 3 ? b0 & 0x0f : b0 & 0x07;
          let ok = i + len <= input.length;
          for (let k = 1; ok && k < len; k++) {
            const b = input[i + k]!;
            if ((b & 0xc0) !== 0x80) ok = false;
            else cp = (cp << 6) | (b & 0x3f);
          }
          if (ok && ((len === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
            ok = false;
          }
          if (!ok) {
            codes.push(0xfffd);
            i++;
            continue;
          }
          if (cp >= 0x10000) {
            cp -= 0x10000;
            codes.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
          } else {
            codes.push(cp);
          }
          i += len;
        }
      }
      if (codes.length >= 4096) flush();
    }
    flush();
    return out;
  }

  /** True when the bytes from `start` to the end could still become a valid sequence. */
  #isPrefixValid(input: Uint8Array, start: number): boolean {
    for (let k = start + 1; k < input.length; k++) if ((input[k]! & 0xc0) !== 0x80) return false;
    return true;
  }
}
