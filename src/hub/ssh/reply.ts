// Reads what the fallback's perl programs print: netstrings (`LEN:BYTES`
// back to back), so names and contents with any bytes (newlines, NULs,
// colons) arrive intact. No I/O here.
import { decodeUtf8 } from "../../tools/output_cut.ts";

/** Splits `LEN:BYTES…`; undefined when the bytes are not well-formed (the program did not run, or was cut off). */
export function parseFields(bytes: Uint8Array): Uint8Array[] | undefined {
  const fields: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let len = 0;
    let digits = 0;
    while (pos < bytes.length && bytes[pos]! >= 48 && bytes[pos]! <= 57) {
      len = len * 10 + (bytes[pos]! - 48);
      pos++;
      digits++;
      if (digits > 15) return undefined;
    }
    if (digits === 0 || bytes[pos] !== 58 /* : */) return undefined;
    pos++;
    if (pos + len > bytes.length) return undefined;
    fields.push(bytes.subarray(pos, pos + len));
    pos += len;
  }
  return fields;
}

/** Reads fields in order, as text or numbers. */
export class FieldReader {
  private i = 0;
  constructor(private readonly fields: Uint8Array[]) {}

  get left(): number {
    return this.fields.length - this.i;
  }

  bytes(): Uint8Array {
    const f = this.fields[this.i++];
    if (f === undefined) throw new Error("the remote program's reply is shorter than expected");
    return f;
  }

  /** UTF-8 text; bytes that are not UTF-8 become U+FFFD, as node shows such file names. */
  text(): string {
    return decodeUtf8(this.bytes());
  }

  number(): number {
    const t = this.text();
    const n = Number(t);
    if (t === "" || !Number.isFinite(n)) throw new Error(`expected a number in the remote program's reply, got "${t}"`);
    return n;
  }

  flag(): boolean {
    return this.text() === "1";
  }

  texts(n: number): string[] {
    return Array.from({ length: n }, () => this.text());
  }
}
