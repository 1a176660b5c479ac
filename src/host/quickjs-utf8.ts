// UTF-8 <-> string for the QuickJS host, which has no TextEncoder/TextDecoder:
// child output arrives as raw bytes (os.read) split anywhere, possibly inside
// a multi-byte sequence, and request bodies go to pipes as bytes.
// Both directions go through the engine's own UTF-8 code: a "binary string"
// (one character per byte) is what escape/unescape and the URI functions
// convert from and to, which is far smaller in the bundle than a hand-written
// codec (the QuickJS bundle has a size budget).

/** A surrogate without its other half (TextEncoder writes U+FFFD for it). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Encodes a string as UTF-8 (lone surrogates become U+FFFD, as TextEncoder does). */
export function encodeUtf8(text: string): Uint8Array {
  const bytes = unescape(encodeURIComponent(text.replace(LONE_SURROGATE, '\ufffd')));
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
  return out;
}

/**
 * A binary string as runs of well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or else one byte that starts none.
 */
const WELL_FORMED =
  /(?:[\0-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})+|[^]/g;

/** The start of a multi-byte sequence at the end of a chunk, which the next chunk may complete. */
const INCOMPLETE = /(?:[\xc2-\xf4]|[\xe0-\xf4][\x80-\xbf]|[\xf0-\xf4][\x80-\xbf]{2})$/;

/**
 * A streaming UTF-8 decoder: bytes of an incomplete sequence at the end of a
 * chunk are kept for the next one; invalid bytes become U+FFFD.
 */
export class Utf8Decoder {
  #pending = '';

  decode(bytes: Uint8Array, final = false): string {
    let binary = this.#pending;
    for (let i = 0; i < bytes.length; i += 4096) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
    }
    const cut = final ? binary.length : (INCOMPLETE.exec(binary)?.index ?? binary.length);
    this.#pending = binary.slice(cut);
    const text = binary.slice(0, cut);
    try {
      return decodeURIComponent(escape(text));
    } catch {
      // Not well-formed (rare): decode run by run, U+FFFD for each bad byte.
      return text.replace(WELL_FORMED, (run) => (run.length > 1 || run < '\x80' ? decodeURIComponent(escape(run)) : '\ufffd'));
    }
  }
}
