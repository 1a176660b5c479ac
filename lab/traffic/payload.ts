// The lab traffic payload and the receiver's sequence accounting (pure, no I/O).
// Layout (big-endian): "MNAT" magic (4) | stream id (4) | sequence (8) | send time µs (8) | padding.
export const MAGIC = 0x4d4e4154; // "MNAT"
export const HEADER_BYTES = 24;

export interface PayloadHeader {
  stream: number;
  seq: number;
  sentUs: number;
}

export function encodePayload(h: PayloadHeader, size: number): Uint8Array {
  const buf = new Uint8Array(Math.max(size, HEADER_BYTES));
  const v = new DataView(buf.buffer);
  v.setUint32(0, MAGIC);
  v.setUint32(4, h.stream >>> 0);
  v.setBigUint64(8, BigInt(h.seq));
  v.setBigUint64(16, BigInt(Math.max(0, Math.floor(h.sentUs))));
  for (let i = HEADER_BYTES; i < buf.length; i++) buf[i] = (i * 7 + h.seq) & 0xff;
  return buf;
}

/** Decodes a payload; null when it is not ours or the padding was altered. */
export function decodePayload(buf: Uint8Array): PayloadHeader | null {
  if (buf.length < HEADER_BYTES) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(0) !== MAGIC) return null;
  const seq = Number(v.getBigUint64(8));
  for (let i = HEADER_BYTES; i < buf.length; i++) if (buf[i] !== ((i * 7 + seq) & 0xff)) return null;
  return { stream: v.getUint32(4), seq, sentUs: Number(v.getBigUint64(16)) };
}

export interface SequenceStats {
  received: number;     // datagrams with a valid payload
  unique: number;       // distinct sequence numbers
  duplicates: number;
  reorders: number;     // arrived with a sequence below the highest seen (and not a duplicate)
  gaps: number;         // sequence jumps forward by more than one (each counts once)
  firstSeq: number | null;
  highestSeq: number | null;
  /** Sequence numbers between first and highest never seen (so far). */
  missing: number;
}

/** Tracks sequence numbers of one stream: gaps, duplicates, reorders, missing. */
export class SequenceTracker {
  private seen = new Set<number>();
  private s: SequenceStats = { received: 0, unique: 0, duplicates: 0, reorders: 0, gaps: 0, firstSeq: null, highestSeq: null, missing: 0 };

  /** Returns what this datagram was: 'new', 'duplicate' or 'reorder'. */
  add(seq: number): 'new' | 'duplicate' | 'reorder' {
    const s = this.s;
    s.received++;
    if (this.seen.has(seq)) {
      s.duplicates++;
      return 'duplicate';
    }
    this.seen.add(seq);
    s.unique++;
    if (s.firstSeq === null || s.highestSeq === null) {
      s.firstSeq = seq;
      s.highestSeq = seq;
      return 'new';
    }
    if (seq < s.firstSeq) s.firstSeq = seq;
    if (seq < s.highestSeq) {
      s.reorders++;
      return 'reorder';
    }
    if (seq > s.highestSeq + 1) s.gaps++;
    s.highestSeq = seq;
    return 'new';
  }

  /** Distinct sequence numbers so far (cheap; stats() copies). */
  get unique(): number {
    return this.s.unique;
  }

  stats(): SequenceStats {
    const s = this.s;
    const span = s.firstSeq === null || s.highestSeq === null ? 0 : s.highestSeq - s.firstSeq + 1;
    return { ...s, missing: span - s.unique };
  }
}
