// Reads a whole file with a byte cap. readFileSync trusts EOF, and some
// pseudo-files report size 0 yet never end (/proc/self/pagemap yields hundreds
// of GB): one call would block the event loop and run the server out of memory.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

const FIRST_CHUNK = 64 * 1024;
/** Read past the cap by this much to notice a file that keeps going; a page, since some pseudo-files only take reads in multiples of 8. */
const OVERSHOOT = 4096;

/** The file's bytes, or undefined when it yields more than `max` bytes (reading stops soon after). Throws what open/read throw. */
export function readFileCapped(path: string, max: number): Buffer | undefined {
  const fd = openSync(path, "r");
  try {
    return readFdCapped(fd, fstatSync(fd).size, max);
  } finally {
    closeSync(fd);
  }
}

/** The same over an open file whose fstat size is `size`; the caller closes `fd`. */
export function readFdCapped(fd: number, size: number, max: number): Buffer | undefined {
  if (size > max) return undefined;
  // Room past the stated size, so a file that keeps going is noticed.
  let buf = Buffer.allocUnsafe(Math.min(max + OVERSHOOT, size > 0 ? size + OVERSHOOT : FIRST_CHUNK));
  let got = 0;
  for (;;) {
    if (got === buf.length) {
      if (got > max) return undefined;
      const bigger = Buffer.allocUnsafe(Math.min(max + OVERSHOOT, buf.length * 2));
      buf.copy(bigger, 0, 0, got);
      buf = bigger;
    }
    const n = readSync(fd, buf, got, buf.length - got, null);
    if (n === 0) return got > max ? undefined : buf.subarray(0, got);
    got += n;
  }
}
