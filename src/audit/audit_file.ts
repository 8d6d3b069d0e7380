// The audit log as a file: hash-chained JSON lines, rotated by size with the chain
// carried over, picked up again at start, and never a crash or a lost tool answer
// when the file cannot be written (the failure is told on stderr, once per streak).
import { appendFileSync, mkdirSync, renameSync, statSync, truncateSync } from "node:fs";
import { dirname } from "node:path";
import { type ChainHead, chainLine, freshChain, lineHash } from "./audit_line.ts";
import { readTail } from "./audit_tail.ts";

/** Rotated files kept besides the live one: FILE.1 (newest) … FILE.5. */
export const auditKeep = 5;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** seq of a chained line, or undefined when the line is not one. */
function chainedSeq(line: Buffer): number | undefined {
  try {
    const v = JSON.parse(line.toString("utf8")) as { seq?: unknown; prev?: unknown };
    return Number.isSafeInteger(v.seq) && typeof v.prev === "string" ? (v.seq as number) : undefined;
  } catch {
    return undefined;
  }
}

function sizeOrMissing(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export class FileAudit {
  private head: ChainHead = freshChain();
  /** Bytes lmcp believes the file holds; a different size at the next write means someone else changed it. */
  private size = 0;
  /** The file's last byte is not a newline (a torn line, or an outside edit): end that line first. */
  private needsNewline = false;
  /** The next entry says the line before it is torn. */
  private tornBefore = false;
  /** Entries dropped by failed writes since the last good one; the next line says how many. */
  private lost = 0;
  private failing = false;

  constructor(
    readonly file: string,
    private readonly maxBytes = 10 * 1024 * 1024,
    private readonly keep = auditKeep,
    private readonly note: (message: string) => void = () => {},
  ) {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      this.pickUp();
    } catch (err) {
      // Not fatal: serving goes on and each write retries; the first failure is told then.
      this.note(`error: cannot open the audit log ${file}: ${message(err)}; calls go on, and the audit log is retried at each call`);
    }
  }

  /** Continues the chain of an existing file from its last line. */
  private pickUp(): void {
    let tail;
    try {
      tail = readTail(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    this.size = tail.size;
    if (tail.size === 0) return;
    const lastSeq = tail.lastLine ? chainedSeq(tail.lastLine) : 0;
    if (lastSeq === undefined || (!tail.lastLine && !tail.torn)) {
      // Entries from before the chain, or a last line that is no entry: keep them, but do not chain to what we cannot read.
      this.rotate();
      this.note(`the audit log ${this.file} did not end in a chained entry (an older lmcp's log, or changed by hand); moved it to ${this.file}.1, a new chain starts`);
      return;
    }
    if (tail.torn) {
      this.needsNewline = true;
      this.tornBefore = true;
      this.head = { seq: lastSeq + 2, prev: lineHash(tail.torn) };
      this.note(`the audit log ${this.file} ends in a torn line (${tail.torn.length} bytes without a newline: lmcp stopped mid-write); it is kept and closed, and the next entry chains to it marked "torn"`);
      return;
    }
    this.head = { seq: lastSeq + 1, prev: lineHash(tail.lastLine!) };
  }

  write(entry: object): void {
    try {
      this.reconcile();
      if (this.needsNewline) {
        appendFileSync(this.file, "\n", { mode: 0o600 });
        this.size += 1;
        this.needsNewline = false;
      }
      const extra = { ...(this.lost > 0 ? { lost: this.lost } : {}), ...(this.tornBefore ? { torn: true } : {}) };
      const { line, next } = chainLine({ ...entry, ...extra }, this.head);
      const bytes = Buffer.from(`${line}\n`);
      if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
      appendFileSync(this.file, bytes, { mode: 0o600 });
      this.size += bytes.length;
      this.head = next;
      this.tornBefore = false;
      if (this.failing) this.note(`the audit log ${this.file} is writable again; ${this.lost} entr${this.lost === 1 ? "y was" : "ies were"} lost (the next line says "lost")`);
      this.failing = false;
      this.lost = 0;
    } catch (err) {
      this.lost++;
      if (!this.failing) {
        this.note(`error: cannot write the audit log ${this.file}: ${message(err)}; calls go on, and their entries are lost until it can be written again`);
      }
      this.failing = true;
    }
  }

  /** The file should be exactly what lmcp wrote; anything else is told, and left for verify to show as a break. */
  private reconcile(): void {
    const found = sizeOrMissing(this.file);
    if (found === this.size || (found === undefined && this.size === 0)) return;
    if (found !== undefined && found > this.size && this.failing) {
      truncateSync(this.file, this.size); // bytes of our own failed write (a disk that filled mid-line)
      return;
    }
    if (found === undefined) {
      this.note(`the audit log ${this.file} was removed outside lmcp; a new file starts, chained to the last entry lmcp wrote (verify shows the gap)`);
      this.size = 0;
      return;
    }
    this.note(`the audit log ${this.file} changed outside lmcp (lmcp wrote ${this.size} bytes, it now has ${found}); the chain goes on from lmcp's last entry, so verify shows the break`);
    this.size = found;
    this.needsNewline = found > 0 && !this.endsWithNewline();
  }

  private endsWithNewline(): boolean {
    const tail = readTail(this.file);
    return tail.torn === undefined;
  }

  /** FILE → FILE.1 → … → FILE.keep (the oldest falls off); the chain goes on in the new FILE. */
  private rotate(): void {
    for (let i = this.keep - 1; i >= 1; i--) {
      if (sizeOrMissing(`${this.file}.${i}`) !== undefined) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    }
    renameSync(this.file, `${this.file}.1`);
    this.size = 0;
  }
}

/** The live file and its rotated siblings, oldest first, that exist now. */
export function existingAuditFiles(file: string, keep = auditKeep): string[] {
  const files: string[] = [];
  for (let i = keep; i >= 1; i--) if (sizeOrMissing(`${file}.${i}`) !== undefined) files.push(`${file}.${i}`);
  if (sizeOrMissing(file) !== undefined) files.push(file);
  return files;
}

/** Every file the audit log may occupy: the file tools must never read or write these. */
export const auditFilePaths = (file: string, keep = auditKeep): string[] => [file, ...Array.from({ length: keep }, (_, i) => `${file}.${i + 1}`)];
