// The end of an existing audit file, read at start so the chain goes on from its
// last line: that line, and any torn bytes after it (a crash mid-write).
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface AuditTail {
  size: number;
  /** The last line that ends in a newline (without it), if any. */
  lastLine?: Buffer;
  /** Bytes after the last newline: a line cut short. */
  torn?: Buffer;
}

/** Longest tail read: an entry is under 64 KiB (its fields are cut before escaping), so this is many lines' worth. */
const maxTail = 4 * 1024 * 1024;

/** Reads backwards in growing windows until the last whole line is in view. Throws ENOENT for a missing file. */
export function readTail(file: string): AuditTail {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    for (let window = Math.min(size, 64 * 1024); ; window = Math.min(size, window * 4)) {
      const buf = Buffer.alloc(window);
      let got = 0;
      while (got < window) {
        const n = readSync(fd, buf, got, window - got, size - window + got);
        if (n === 0) break;
        got += n;
      }
      const tail = buf.subarray(0, got);
      const lastNl = tail.lastIndexOf(10);
      const torn = lastNl === tail.length - 1 ? undefined : tail.subarray(lastNl + 1);
      const startNl = lastNl <= 0 ? -1 : tail.lastIndexOf(10, lastNl - 1);
      const seenStart = startNl !== -1 || window === size; // the line's start is in view, or the window is the whole file
      if (seenStart || window >= maxTail) {
        if (lastNl === -1) return { size, torn: window === size ? torn : undefined };
        return { size, lastLine: Buffer.from(tail.subarray(startNl + 1, lastNl)), torn: torn && Buffer.from(torn) };
      }
    }
  } finally {
    closeSync(fd);
  }
}
