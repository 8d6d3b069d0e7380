// Spool files: the full output of a shell call whose reply was cut, kept under
// `${stateDir}/spool/` (dir 0700, files 0600) for the agent to page with read_file.
import { randomBytes } from "../crypto.ts";
import { chmodSync, closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { cutMarker, HeadTail } from "./output_cut.ts";
import { describeError } from "./tool.ts";

/** One spool file never grows past this; the marker says so when it is hit. */
export const SPOOL_FILE_MAX_BYTES = 256 * 1024 * 1024;
/** Spool files older than this are removed by `cleanExpiredSpool`. */
export const SPOOL_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export const spoolDir = (stateDir: string) => join(stateDir, "spool");

/** Creates a directory (and parents) for lmcp's private state, mode 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * A spool file written as output arrives, so memory stays bounded however much
 * a command prints. Writes are synchronous: the reader waits for the disk,
 * which is the back-pressure we want. Never throws; a failure is kept in `error`.
 */
export class SpoolFile {
  readonly path: string;
  private fd: number | null = null;
  written = 0;
  capped = false;
  error: string | undefined;

  constructor(stateDir: string, suffix: string, id = newSpoolId()) {
    const dir = spoolDir(stateDir);
    this.path = join(dir, `${id}.${suffix}`);
    try {
      ensurePrivateDir(dir);
      this.fd = openSync(this.path, "wx", 0o600);
    } catch (err) {
      this.error = `could not create a spool file: ${describeError(err)}`;
    }
  }

  write(bytes: Uint8Array): void {
    if (this.fd === null || bytes.length === 0) return;
    let chunk = bytes;
    const room = SPOOL_FILE_MAX_BYTES - this.written;
    if (chunk.length > room) {
      chunk = chunk.subarray(0, room);
      this.capped = true;
    }
    try {
      let off = 0;
      while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
      this.written += chunk.length;
    } catch (err) {
      this.error = `spool file write failed: ${describeError(err)}`;
      this.close();
      return;
    }
    if (this.capped) this.close();
  }

  close(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // Closing a file we opened can only fail on a bug elsewhere; nothing to do here.
    }
    this.fd = null;
  }
}

/** A sortable, unguessable name stem: time first so `ls` lists spool files in order. */
export function newSpoolId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(5).toString("hex")}`;
}

/**
 * Removes spool files older than `maxAgeMs` (by mtime). The server calls this at
 * start and hourly. Returns how many were removed; a missing dir is not an error.
 */
export async function cleanExpiredSpool(stateDir: string, maxAgeMs = SPOOL_MAX_AGE_MS, now = Date.now()): Promise<number> {
  const dir = spoolDir(stateDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = await stat(path);
      if (st.isFile() && now - st.mtimeMs > maxAgeMs) {
        await unlink(path);
        removed++;
      }
    } catch {
      // Gone already, or not ours to remove: either way nothing to clean.
    }
  }
  return removed;
}

/**
 * One output stream of a command: head and tail in memory for the reply, and
 * once the stream outgrows `maxBytes`, everything (from the first byte) in a spool file.
 */
export class StreamCapture {
  private readonly kept: HeadTail;
  private spool: SpoolFile | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly stateDir: string,
    /** File name suffix, e.g. "stdout". */
    private readonly suffix: string,
    /** Shared name stem, so the streams of one call sit side by side. */
    private readonly spoolId: string,
  ) {
    this.kept = new HeadTail(maxBytes);
  }

  get totalBytes(): number {
    return this.kept.total;
  }

  push(chunk: Uint8Array): void {
    if (!this.spool && this.kept.total + chunk.length > this.maxBytes) {
      // Still complete at this point: head and tail together hold every byte so far.
      this.spool = new SpoolFile(this.stateDir, this.suffix, this.spoolId);
      this.spool.write(this.kept.allBytes());
    }
    this.kept.push(chunk);
    this.spool?.write(chunk);
  }

  /** The text for the reply, and the spool file's path when the stream was cut and a full copy exists. */
  finish(): { text: string; cut: boolean; fullPath?: string } {
    const spool = this.spool;
    spool?.close();
    const fullPath = spool && !spool.error ? spool.path : undefined;
    const { text, cut } = this.kept.render((cutBytes) =>
      cutMarker({
        cutBytes,
        fullPath,
        spoolCapped: spool?.capped,
        spoolCapBytes: SPOOL_FILE_MAX_BYTES,
        spoolError: spool?.error,
      }),
    );
    return cut && fullPath ? { text, cut, fullPath } : { text, cut };
  }
}
