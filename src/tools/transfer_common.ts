// What transfer_read, transfer_write, the SSH fallback and remote_copy share:
// the chunk cap, the upload temp name (the one atomic_write uses, so its
// start-up clean-up knows it), and hashing a whole open file.
import { read } from "node:fs";
import { z } from "zod";

/** Bytes one transfer call carries at most: 4 MiB is 5.6 MB of base64, under the 8 MiB reply cap and the 16 MiB body cap. */
export const CHUNK_MAX = 4 * 1024 * 1024;
/** An upload nobody touched for this long is removed, temp file and all. */
export const UPLOAD_IDLE_MS = 60 * 60 * 1000;
/** Uploads one server keeps pending at once. */
export const MAX_PENDING_UPLOADS = 16;

export const UPLOAD_ID = /^[0-9a-f]{12}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;

export const sha256Field = z.string().regex(SHA256, "sha256 must be 64 hexadecimal digits (the SHA-256 of the whole file)");
export const modeField = z
  .string()
  .regex(/^[0-7]{3,4}$/, 'mode must be 3 or 4 octal digits, like "0644" or "755"');

/** `0o644` → `"0644"`, as list_dir shows modes. */
export const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");

/** `len` bytes at `pos` of `fd` (fewer at the end of the file), without blocking the event loop. */
export function readAt(fd: number, buf: Buffer, pos: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Fills `buf` from `pos` as far as the file goes; the number of bytes read. */
export async function readFully(fd: number, buf: Buffer, pos: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await readAt(fd, buf.subarray(got), pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

const HASH_BUF = 1024 * 1024;

/** The sha256 (hex) of the first `size` bytes of open file `fd` (all of it when `size` is undefined); throws "cancelled" on abort. */
export async function hashFd(fd: number, signal: AbortSignal, size?: number): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  const buf = Buffer.allocUnsafe(HASH_BUF);
  for (let pos = 0; size === undefined || pos < size; ) {
    if (signal.aborted) throw new Error("cancelled");
    const want = size === undefined ? HASH_BUF : Math.min(HASH_BUF, size - pos);
    const n = await readAt(fd, buf.subarray(0, want), pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  return h.digest("hex");
}
