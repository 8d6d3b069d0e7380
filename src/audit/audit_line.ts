// One audit line: the entry as JSON with every control, format and line-separator
// character escaped, so one entry is one line in every reader, and chained to the
// line before it by that line's sha256.
import { sha256Hex } from "../crypto.ts";

/** The `prev` of the first line of a fresh log: no line came before it. */
export const GENESIS = "0".repeat(64);

/**
 * JSON.stringify escapes U+0000–U+001F and lone surrogates but leaves DEL, the C1 controls (U+0080–U+009F, NEL
 * among them), U+2028/U+2029 and format characters such as bidi overrides raw: some readers split lines on them,
 * and a terminal acts on them. Each becomes \uXXXX, which every JSON parser reads back as the same character.
 */
const unsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

export function escapeJson(json: string): string {
  return json.replace(unsafe, (c) => {
    let out = ""; // a format character beyond the BMP (U+E0001…) is two UTF-16 units, each escaped
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return out;
  });
}

/** The hash the next line carries as `prev`: sha256 of this line's bytes as written, newline excluded. */
export function lineHash(line: string | Uint8Array): string {
  return sha256Hex(line);
}

/** Where the chain stands: the next line's seq and prev. */
export interface ChainHead {
  seq: number;
  prev: string;
}

export const freshChain = (): ChainHead => ({ seq: 1, prev: GENESIS });

/** The line for `entry` at `head` (no newline), and the head after it. seq and prev come first, so a reader sees them. */
export function chainLine(entry: object, head: ChainHead): { line: string; next: ChainHead } {
  const line = escapeJson(JSON.stringify({ seq: head.seq, prev: head.prev, ...entry }));
  return { line, next: { seq: head.seq + 1, prev: lineHash(line) } };
}
