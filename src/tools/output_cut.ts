// Keeps the head and tail of a byte stream of any length in bounded memory, and
// renders them as text with a marker where the middle was cut. No I/O here.

const decoder = () => new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Decodes bytes as UTF-8; invalid bytes become U+FFFD, never an exception. */
export function decodeUtf8(bytes: Uint8Array): string {
  return decoder().decode(bytes);
}

const isContinuation = (b: number) => (b & 0xc0) === 0x80;

/** Length a UTF-8 sequence announces by its lead byte (1 for ASCII and for invalid leads). */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf7) return 4;
  if (lead >= 0xe0) return lead <= 0xef ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

/**
 * How many bytes of `bytes` (taken from the start) end on a character boundary:
 * drops a trailing sequence that the cut left incomplete.
 */
export function headBoundary(bytes: Uint8Array): number {
  const n = bytes.length;
  // A character is at most 4 bytes, so only the last 3 can start an incomplete one.
  for (let i = n - 1; i >= Math.max(0, n - 3); i--) {
    const b = bytes[i]!;
    if (isContinuation(b)) continue;
    return i + sequenceLength(b) > n ? i : n;
  }
  return n;
}

/** How many leading bytes to skip so `bytes` (the end of a stream) starts on a character boundary. */
export function tailBoundary(bytes: Uint8Array): number {
  let i = 0;
  while (i < 3 && i < bytes.length && isContinuation(bytes[i]!)) i++;
  // More than 3 continuation bytes cannot belong to one character: leave them to the decoder.
  return i < bytes.length && isContinuation(bytes[i]!) ? 0 : i;
}

export interface CutMarkerInfo {
  /** Bytes left out between head and tail. */
  cutBytes: number;
  /** Where the full stream was kept, if anywhere. */
  fullPath?: string;
  /** The spool file hit its cap and holds only the first `spoolCapBytes`. */
  spoolCapped?: boolean;
  spoolCapBytes?: number;
  /** Why no full copy exists (e.g. the spool file could not be written). */
  spoolError?: string;
}

const mib = (n: number) => `${Math.round(n / (1024 * 1024))} MiB`;

/** The line put between head and tail, e.g. `\n[lmcp: 1234 bytes cut from the middle; full output: /p]\n`. */
export function cutMarker(info: CutMarkerInfo): string {
  let where: string;
  if (info.fullPath && info.spoolCapped) {
    where = `full output (first ${mib(info.spoolCapBytes ?? 0)} only): ${info.fullPath}`;
  } else if (info.fullPath) {
    where = `full output: ${info.fullPath}`;
  } else {
    where = `full output not kept${info.spoolError ? `: ${info.spoolError}` : ""}`;
  }
  return `\n[lmcp: ${info.cutBytes} bytes cut from the middle; ${where}]\n`;
}

/**
 * Collects a stream, keeping at most `maxBytes`: the first half and the last
 * half. Memory is `maxBytes` whatever the stream's length.
 */
export class HeadTail {
  readonly headMax: number;
  readonly tailMax: number;
  private readonly head: Uint8Array;
  private headLen = 0;
  /** Ring buffer of the latest bytes after the head. */
  private readonly ring: Uint8Array;
  private ringEnd = 0;
  private ringLen = 0;
  /** Every byte seen, kept or not. */
  total = 0;

  constructor(maxBytes: number) {
    const max = Math.max(0, Math.floor(maxBytes));
    this.headMax = Math.floor(max / 2);
    this.tailMax = max - this.headMax;
    this.head = new Uint8Array(this.headMax);
    this.ring = new Uint8Array(this.tailMax);
  }

  /** True once bytes have been dropped from the middle. */
  get overflowed(): boolean {
    return this.total > this.headMax + this.tailMax;
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headLen < this.headMax) {
      const take = Math.min(this.headMax - this.headLen, rest.length);
      this.head.set(rest.subarray(0, take), this.headLen);
      this.headLen += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailMax === 0) return;
    if (rest.length >= this.tailMax) rest = rest.subarray(rest.length - this.tailMax);
    const first = Math.min(rest.length, this.tailMax - this.ringEnd);
    this.ring.set(rest.subarray(0, first), this.ringEnd);
    this.ring.set(rest.subarray(first), 0);
    this.ringEnd = (this.ringEnd + rest.length) % this.tailMax;
    this.ringLen = Math.min(this.tailMax, this.ringLen + rest.length);
  }

  headBytes(): Uint8Array {
    return this.head.subarray(0, this.headLen);
  }

  tailBytes(): Uint8Array {
    const start = (this.ringEnd - this.ringLen + this.tailMax) % (this.tailMax || 1);
    if (start + this.ringLen <= this.tailMax) return this.ring.slice(start, start + this.ringLen);
    const out = new Uint8Array(this.ringLen);
    const first = this.tailMax - start;
    out.set(this.ring.subarray(start), 0);
    out.set(this.ring.subarray(0, this.ringLen - first), first);
    return out;
  }

  /** Everything seen so far; only complete while not `overflowed`. */
  allBytes(): Uint8Array {
    const out = new Uint8Array(this.headLen + this.ringLen);
    out.set(this.headBytes(), 0);
    out.set(this.tailBytes(), this.headLen);
    return out;
  }

  /**
   * The kept text. When the middle was cut, head and tail are trimmed to
   * character boundaries and `marker` (given the number of bytes left out) goes between them.
   */
  render(marker: (cutBytes: number) => string): { text: string; cut: boolean } {
    if (!this.overflowed) return { text: decodeUtf8(this.allBytes()), cut: false };
    const headRaw = this.headBytes();
    const head = headRaw.subarray(0, headBoundary(headRaw));
    const tailRaw = this.tailBytes();
    const tail = tailRaw.subarray(tailBoundary(tailRaw));
    const cutBytes = this.total - head.length - tail.length;
    return { text: decodeUtf8(head) + marker(cutBytes) + decodeUtf8(tail), cut: true };
  }
}

/** Convenience for a whole buffer: keeps head and tail of `bytes` within `maxBytes`. */
export function cutMiddle(
  bytes: Uint8Array,
  maxBytes: number,
  marker: (cutBytes: number) => string,
): { text: string; cut: boolean } {
  const ht = new HeadTail(maxBytes);
  ht.push(bytes);
  return ht.render(marker);
}
