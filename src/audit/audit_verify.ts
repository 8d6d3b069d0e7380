// Checks an audit chain: every line's prev is the sha256 of the line before, seq
// counts up by one, and the log starts at the genesis line. Pure: bytes in, verdict out.
import { GENESIS, lineHash } from "./audit_line.ts";

export interface AuditSource {
  /** How the report names it: a file name, or "stdin". */
  name: string;
  bytes: Uint8Array;
}

export interface VerifyOptions {
  /** The first line may chain to entries not given (rotated away): check from there on. */
  partial?: boolean;
  /** Journal text (journalctl -o cat): take `audit {…}` lines, skip the other log lines, and let a new run start at genesis. */
  journal?: boolean;
}

export type VerifyResult =
  | { ok: true; entries: number; firstSeq: number; lastSeq: number; notes: string[] }
  | { ok: false; entries: number; name: string; line: number; reason: string };

interface ChainedEntry {
  seq: number;
  prev: string;
  torn?: unknown;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The entry a line holds, or undefined when it is not one (not UTF-8, not JSON, no seq/prev). */
function parseEntry(bytes: Uint8Array): ChainedEntry | undefined {
  try {
    const v = JSON.parse(utf8.decode(bytes)) as unknown;
    if (typeof v !== "object" || v === null) return undefined;
    const e = v as Record<string, unknown>;
    if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1 || typeof e.prev !== "string" || !/^[0-9a-f]{64}$/.test(e.prev)) return undefined;
    return e as unknown as ChainedEntry;
  } catch {
    return undefined;
  }
}

/** Lines split on LF alone (the only separator the writer leaves raw); `whole` is false for bytes after the last LF. */
function* lines(bytes: Uint8Array): Generator<{ bytes: Uint8Array; number: number; whole: boolean }> {
  let start = 0;
  let number = 0;
  while (start < bytes.length) {
    const end = bytes.indexOf(10, start);
    number++;
    if (end === -1) {
      yield { bytes: bytes.subarray(start), number, whole: false };
      return;
    }
    yield { bytes: bytes.subarray(start, end), number, whole: true };
    start = end + 1;
  }
}

const journalPrefix = new TextEncoder().encode("audit ");
const startsWith = (b: Uint8Array, p: Uint8Array) => b.length >= p.length && p.every((x, i) => b[i] === x);

export function verifyChain(sources: AuditSource[], opts: VerifyOptions = {}): VerifyResult {
  let expected: { prev: string; seq: number; where: string } | undefined;
  let torn: { hash: string; name: string; line: number } | undefined;
  let entries = 0;
  let firstSeq = 0;
  const notes: string[] = [];
  const fail = (name: string, line: number, reason: string): VerifyResult => ({ ok: false, entries, name, line, reason });

  for (const src of sources) {
    for (const l of lines(src.bytes)) {
      let bytes = l.bytes;
      if (opts.journal) {
        if (startsWith(bytes, journalPrefix)) bytes = bytes.subarray(journalPrefix.length);
        else if (bytes[0] !== 0x7b) continue; // another log line ("{" starts an entry)
      }
      if (!l.whole) {
        return fail(src.name, l.number, "torn: the file ends without a newline (lmcp stopped mid-write, or the file was cut here); lmcp closes such a line when it next starts");
      }
      const entry = parseEntry(bytes);
      if (!entry) {
        if (torn) return fail(torn.name, torn.line, "not an audit entry (not JSON with seq and prev): the line was changed");
        torn = { hash: lineHash(bytes), name: src.name, line: l.number }; // acceptable only if the next line owns up to it
        continue;
      }
      const here = `${src.name} line ${l.number}`;
      if (torn) {
        if (entry.torn !== true || entry.prev !== torn.hash) {
          return fail(torn.name, torn.line, "not an audit entry (not JSON with seq and prev), and the next line does not mark it torn: the line was changed");
        }
        notes.push(`${torn.name} line ${torn.line}: torn (lmcp stopped mid-write); closed at the next start, and ${here} chains to it`);
        torn = undefined;
        if (expected && entry.seq <= expected.seq) return fail(src.name, l.number, `seq ${entry.seq} after seq ${expected.seq - 1}: entries were reordered`);
      } else if (!expected) {
        if (entry.prev === GENESIS) {
          if (entry.seq !== 1) return fail(src.name, l.number, `starts a log (prev is the genesis value) but has seq ${entry.seq}, not 1: the line was changed`);
        } else if (opts.partial) {
          notes.push(`${here}: starts at seq ${entry.seq}; the entries before it (rotated away) were not checked`);
        } else {
          return fail(
            src.name,
            l.number,
            `chains to an entry that is not here (its seq is ${entry.seq}, its prev not the genesis value): the start of the log was removed, ` +
              "or older rotated files exist: pass them first, oldest first (lmcp audit verify FILE.2 FILE.1 FILE), or add --partial to check from this line on",
          );
        }
      } else if (opts.journal && entry.prev === GENESIS && entry.seq === 1) {
        notes.push(`${here}: a new run starts (lmcp restarted; a journal chain starts afresh with each run)`);
      } else if (entry.prev !== expected.prev) {
        return fail(src.name, l.number, `its prev is not the sha256 of ${expected.where}: that line was changed, or lines between them were removed`);
      } else if (entry.seq !== expected.seq) {
        return fail(src.name, l.number, `seq ${entry.seq} where ${expected.seq} was expected: the line was changed`);
      }
      if (entries === 0) firstSeq = entry.seq;
      entries++;
      expected = { prev: lineHash(bytes), seq: entry.seq + 1, where: here };
    }
  }
  if (torn) return fail(torn.name, torn.line, "not an audit entry (not JSON with seq and prev): the line was changed");
  return { ok: true, entries, firstSeq, lastSeq: expected ? expected.seq - 1 : 0, notes };
}
