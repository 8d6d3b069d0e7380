// transfer_read: one chunk of any file, as base64, with where the next starts
// and, on the last chunk, the sha256 of the whole file. A reader going from
// offset 0 to the end has its hash built as it goes, so the last chunk does
// not read the file a second time.
import { closeSync, type Stats } from "node:fs";
import { z } from "zod";
import { openChecked } from "../policy/open.ts";
import { permissivePolicy } from "../policy/rules.ts";
import { resolveUserPath, pathFailure } from "./paths.ts";
import { notAFileProblem } from "./read_file.ts";
import { defineTool, fail, ok } from "./tool.ts";
import { CHUNK_MAX, hashFd, octal, readFully } from "./transfer_common.ts";

const input = z.object({
  path: z.string().min(1).describe("File to read: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  offset: z.int().min(0).default(0).describe("Byte to start at (0-based). To resume a transfer, pass the next_offset of the last chunk you got."),
  length: z
    .int()
    .min(1)
    .max(CHUNK_MAX)
    .default(CHUNK_MAX)
    .describe(`Bytes to return at most (default and maximum ${CHUNK_MAX} = 4 MiB). Fewer come back at the end of the file.`),
  sha256: z
    .boolean()
    .optional()
    .describe("true: also return the sha256 of the whole file now, whatever the chunk; false: never (not even on the last chunk); default: on the last chunk only."),
});

const output = z.object({
  path: z.string().describe("The file read, as an absolute path."),
  data_base64: z.string().describe("The chunk's bytes, base64. Only here, not in the text content."),
  offset: z.number().describe("The byte this chunk starts at."),
  bytes: z.number().describe("Bytes in this chunk (before base64)."),
  next_offset: z.number().describe("Where the next chunk starts (offset + bytes); equal to size at the end."),
  size: z.number().describe("The file's size in bytes when this chunk was read."),
  eof: z.boolean().describe("True when this chunk reaches the end of the file: the transfer is complete."),
  sha256: z.string().optional().describe("SHA-256 (hex) of the whole file: on the last chunk, or when asked with sha256: true. Compare it with the hash of what you received."),
  mode: z.string().describe('The file\'s permission bits in octal, like "0644" (to recreate the file with the same mode).'),
});

/** A sequential reader's hash so far, for one version of one file. */
interface Running {
  pos: number;
  hasher: Bun.CryptoHasher;
  used: number;
}

/** Sequential readers being hashed, by file version (device, inode, size, mtime, ctime): bounded in number and age. */
const running = new Map<string, Running>();

/**
 * Each chunk leaves its buffer, its base64 and the JSON reply (about 15 MB for 4 MiB) outside the small-object heap
 * that JavaScriptCore sizes its collections by, so a long download would pile up hundreds of MB before the collector
 * ran. A full collection every 16 MiB served keeps the peak near 140 MB (a 256 MiB download: 230–290 MB without,
 * 100 MB collecting before every chunk at a third of the throughput; 140 MB here for 7 %).
 */
const GC_EVERY_BYTES = 16 * 1024 * 1024;
let sinceGc = 0;

function collectNowAndThen(bytes: number): void {
  sinceGc += bytes;
  if (sinceGc < GC_EVERY_BYTES) return;
  sinceGc = 0;
  Bun.gc(true);
}
const MAX_RUNNING = 16;
const RUNNING_IDLE_MS = 15 * 60 * 1000;

const versionKey = (st: Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

function forgetIdle(now: number): void {
  for (const [k, r] of running) if (now - r.used > RUNNING_IDLE_MS) running.delete(k);
  while (running.size > MAX_RUNNING) {
    // The least recently used goes; its reader, if it comes back, gets the hash by a second read at its end.
    let oldest: string | undefined;
    let when = Infinity;
    for (const [k, r] of running) if (r.used < when) [oldest, when] = [k, r.used];
    running.delete(oldest!);
  }
}

/** Feeds a chunk to the running hash of its file version when it continues one (or starts at 0); the digest when it ends the file. */
function advanceHash(st: Stats, offset: number, chunk: Uint8Array, eof: boolean): string | undefined {
  const key = versionKey(st);
  const now = Date.now();
  let r = running.get(key);
  if (offset === 0 && (!r || r.pos !== 0)) {
    r = { pos: 0, hasher: new Bun.CryptoHasher("sha256"), used: now };
    running.set(key, r);
  }
  if (!r || r.pos !== offset) return undefined;
  r.hasher.update(chunk);
  r.pos += chunk.length;
  r.used = now;
  if (!eof) {
    forgetIdle(now);
    return undefined;
  }
  running.delete(key);
  return r.hasher.digest("hex");
}

function statProblem(path: string, st: Stats): string | undefined {
  if (st.isDirectory()) return notAFileProblem(path, "dir");
  if (!st.isFile()) return notAFileProblem(path, "other");
  return undefined;
}

export const transferRead = defineTool({
  name: "transfer_read",
  title: "Read a file in chunks",
  description:
    "Downloads a file of any size, text or binary, one chunk per call (up to 4 MiB, as base64 in structuredContent.data_base64). " +
    "Start at offset 0 and call again with offset = next_offset until eof is true; the last chunk carries the sha256 of the whole file, " +
    "so check it against what you received. After a cut, resume from the last next_offset you got. For reading text, read_file is simpler.",
  input,
  output,
  annotations: { title: "Read a file in chunks", readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    collectNowAndThen(args.length);
    let fd: number | undefined;
    try {
      // The same check as read_file, on the file actually opened: secrets and paths outside allowed_paths are refused.
      const opened = openChecked(ctx.policy ?? permissivePolicy, path, "file", (st) => statProblem(path, st));
      fd = opened.fd;
      const st = opened.st;
      if (args.offset > st.size) {
        return fail(`offset ${args.offset} is past the end of ${path} (${st.size} bytes); resume at an offset up to ${st.size}, or start again at 0 if the file changed`);
      }
      const want = Math.min(args.length, st.size - args.offset);
      const buf = Buffer.allocUnsafe(want);
      const got = await readFully(fd, buf, args.offset);
      const chunk = buf.subarray(0, got);
      const next = args.offset + got;
      const eof = next >= st.size;
      let sha256 = args.sha256 === false ? undefined : advanceHash(st, args.offset, chunk, eof);
      if (sha256 === undefined && (args.sha256 === true || (eof && args.sha256 === undefined))) sha256 = await hashFd(fd, ctx.signal, st.size);
      const data = {
        path,
        data_base64: chunk.toString("base64"),
        offset: args.offset,
        bytes: got,
        next_offset: next,
        size: st.size,
        eof,
        ...(sha256 !== undefined ? { sha256 } : {}),
        mode: octal(st.mode),
      };
      const where = got === 0 ? `no bytes at offset ${args.offset}` : `bytes ${args.offset}–${next - 1}`;
      const text =
        `${path}: ${where} of ${st.size} (${got} bytes, base64 in structuredContent.data_base64)` +
        (eof ? `; end of file${sha256 ? `, sha256 ${sha256}` : ""}` : `; continue with offset=${next}`);
      return ok(data, text);
    } catch (err) {
      if (ctx.signal.aborted) return fail("cancelled");
      return pathFailure("cannot read", err);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  },
});
