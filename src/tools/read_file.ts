// read_file: a page of a text file's lines (or of any file's bytes, as base64),
// capped so one reply stays inside an agent's context budget.
import { isUtf8 } from "node:buffer";
import { closeSync, read, readSync, type Stats } from "node:fs";
import { z } from "zod";
import { openChecked } from "../policy/open.ts";
import { permissivePolicy } from "../policy/rules.ts";
import { pathFailure, resolveUserPath } from "./paths.ts";
import { readFdCapped } from "./read_capped.ts";
import { defineTool, fail, ok, type ToolOutcome } from "./tool.ts";

const DEFAULT_LINES = 2000;
/** Files above this are streamed instead of read whole. */
const STREAM_ABOVE = 8 * 1024 * 1024;
const STREAM_CHUNK = 1024 * 1024;
/** How much of a file decides whether it is binary. */
const SNIFF_BYTES = 8192;
const NL = 10;

const input = z.object({
  path: z.string().min(1).describe("File to read: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  offset: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "Where to start. Text (utf8): the 1-based line number of the first line to return (default 1); use the next_offset of a previous reply to page. base64: the 0-based byte position (default 0).",
    ),
  limit: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("How much to return. Text: a number of lines (default and maximum per call 2000 unless given). base64: a number of bytes (default: as many as fit in one reply)."),
  encoding: z
    .enum(["utf8", "base64"])
    .default("utf8")
    .describe('"utf8" (default) returns text lines exactly as stored; "base64" returns raw bytes, for binary files.'),
});

const output = z.object({
  path: z.string().describe("The file read, as an absolute path."),
  encoding: z.enum(["utf8", "base64"]),
  content: z.string().describe("The selected lines with their original line endings (utf8), or the selected bytes in base64."),
  size: z.number().describe("File size in bytes."),
  binary: z.boolean().describe("True when the file looks binary (a NUL byte in its first 8 KiB, or not valid UTF-8); text mode then returns no content."),
  truncated: z.boolean().describe("True when the reply does not reach the end of the file (or a long line was cut)."),
  offset: z.number().describe("The first line (utf8, 1-based) or byte (base64, 0-based) returned."),
  next_offset: z.number().optional().describe("Pass this as offset to read what follows; absent at the end of the file."),
  total_lines: z.number().optional().describe("Lines in the file (utf8 mode, text files)."),
  lines_returned: z.number().optional().describe("Lines in content (utf8 mode, text files)."),
  bytes_returned: z.number().optional().describe("Bytes in content before base64 encoding (base64 mode)."),
});

type ReadResult = z.output<typeof output>;
type Outcome = ToolOutcome<ReadResult>;

/** Where a reply of `sel` (the selected lines' bytes, from a line start) must end to fit `cap` bytes: at a line end, or inside the first line at a UTF-8 character boundary. */
export function fitReply(sel: Uint8Array, cap: number): { end: number; cutInside: boolean } {
  if (sel.length <= cap) return { end: sel.length, cutInside: false };
  const nl = sel.lastIndexOf(NL, cap - 1);
  if (nl >= 0) return { end: nl + 1, cutInside: false };
  let end = cap;
  while (end > 0 && ((sel[end] ?? 0) & 0xc0) === 0x80) end--;
  return { end, cutInside: true };
}

function countLines(bytes: Uint8Array, end: number): number {
  let n = 0;
  for (let i = bytes.indexOf(NL); i >= 0 && i < end; i = bytes.indexOf(NL, i + 1)) n++;
  return end > 0 && bytes[end - 1] !== NL ? n + 1 : n;
}

/** A NUL in the head, or bytes that are not UTF-8 (an incomplete character at the head's end is fine). */
function headLooksBinary(head: Uint8Array): boolean {
  if (head.indexOf(0) >= 0) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: true });
    return false;
  } catch {
    return true;
  }
}

/** The selection found by scanning a file: the selected bytes (clipped at cap+1), where they start, and the file's line count. */
interface Selection {
  sel: Uint8Array;
  selStart: number;
  found: boolean;
  totalLines: number;
}

/** One pass over an in-memory file: finds the byte range of lines [offset, offset+maxLines) and counts all lines. */
function selectInMemory(buf: Buffer, offset: number, maxLines: number): Selection {
  const len = buf.length;
  let pos = 0;
  let lineNo = 1;
  let start = -1;
  let end = -1;
  for (;;) {
    if (lineNo === offset) start = pos;
    if (lineNo === offset + maxLines) end = pos;
    const nl = buf.indexOf(NL, pos);
    if (nl < 0) break;
    pos = nl + 1;
    lineNo++;
    if (pos === len) break;
  }
  const totalLines = len === 0 ? 0 : buf[len - 1] === NL ? lineNo - 1 : lineNo;
  if (start < 0) return { sel: buf.subarray(0, 0), selStart: len, found: false, totalLines };
  return { sel: buf.subarray(start, end < 0 ? len : end), selStart: start, found: true, totalLines };
}

/** The same scan over a large file in chunks, keeping at most cap+1 selected bytes in memory. */
function readAt(fd: number, buf: Buffer, pos: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

async function selectStreaming(fd: number, offset: number, maxLines: number, cap: number, signal: AbortSignal): Promise<Selection & { binary: boolean }> {
  {
    const chunk = Buffer.allocUnsafe(STREAM_CHUNK);
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let base = 0;
    let lineNo = 1;
    let atLineStart = true;
    let collecting = false;
    let selStart = -1;
    let lastByte = -1;
    for (;;) {
      if (signal.aborted) throw new Error("cancelled");
      const bytesRead = await readAt(fd, chunk, base);
      if (bytesRead === 0) break;
      const b = chunk.subarray(0, bytesRead);
      if (base === 0 && headLooksBinary(b.subarray(0, SNIFF_BYTES))) {
        return { sel: new Uint8Array(0), selStart: 0, found: false, totalLines: 0, binary: true };
      }
      let pos = 0;
      while (pos < b.length) {
        if (atLineStart) {
          if (lineNo === offset) {
            collecting = true;
            selStart = base + pos;
          }
          if (lineNo === offset + maxLines) collecting = false;
        }
        const nl = b.indexOf(NL, pos);
        const segEnd = nl < 0 ? b.length : nl + 1;
        if (collecting && keptBytes <= cap) {
          const take = Math.min(segEnd, pos + cap + 1 - keptBytes);
          kept.push(Buffer.from(b.subarray(pos, take)));
          keptBytes += take - pos;
        }
        if (nl < 0) {
          atLineStart = false;
          pos = b.length;
        } else {
          pos = nl + 1;
          lineNo++;
          atLineStart = true;
        }
      }
      lastByte = b[b.length - 1] ?? -1;
      base += bytesRead;
    }
    const totalLines = base === 0 ? 0 : lastByte === NL ? lineNo - 1 : lineNo;
    return { sel: Buffer.concat(kept), selStart: Math.max(selStart, 0), found: selStart >= 0, totalLines, binary: false };
  }
}

function binaryReply(path: string, size: number): Outcome {
  return ok(
    { path, encoding: "utf8", content: "", size, binary: true, truncated: false, offset: 0 },
    `${path} is a binary file (${size} bytes: it has NUL bytes or is not valid UTF-8), so no text is shown. ` +
      `Call read_file with encoding "base64" to get its bytes (offset and limit then count bytes).`,
  );
}

function textReply(path: string, size: number, s: Selection, offset: number, maxLines: number, cap: number): Outcome {
  const base = { path, encoding: "utf8" as const, size, binary: false, offset, total_lines: s.totalLines };
  if (s.totalLines === 0) {
    return ok({ ...base, content: "", truncated: false, lines_returned: 0 }, `[lmcp: ${path} is empty (0 bytes)]`);
  }
  if (!s.found) {
    return ok(
      { ...base, content: "", truncated: false, lines_returned: 0 },
      `[lmcp: ${path} has ${s.totalLines} lines; offset ${offset} is past the end. Call read_file with a smaller offset.]`,
    );
  }
  const { end, cutInside } = fitReply(s.sel, cap);
  const content = Buffer.from(s.sel.buffer, s.sel.byteOffset, end).toString("utf8");
  const linesReturned = cutInside ? 1 : countLines(s.sel, end);
  const next = offset + linesReturned <= s.totalLines ? offset + linesReturned : undefined;
  const truncated = cutInside || next !== undefined;
  let note = "";
  if (cutInside) {
    note =
      `[lmcp: line ${offset} is longer than the reply cap of ${cap} bytes; only its first ${end} bytes are shown. ` +
      `Read the rest of it with encoding "base64" and offset=${s.selStart + end}` +
      (next !== undefined ? `, or skip to the next line with offset=${next}` : "") +
      "]";
  } else if (next !== undefined) {
    const why = linesReturned < maxLines && linesReturned < s.totalLines - offset + 1 ? ` (reply cap ${cap} bytes)` : "";
    note = `[lmcp: lines ${offset}–${offset + linesReturned - 1} of ${s.totalLines} shown${why}; call read_file with offset=${next} for more]`;
  }
  const text = note === "" ? content : content + (content.endsWith("\n") || content === "" ? "" : "\n") + note;
  return ok(
    { ...base, content, truncated, lines_returned: linesReturned, ...(next !== undefined ? { next_offset: next } : {}) },
    text,
  );
}

/** How many bytes one base64 reply can carry within `cap` bytes of text. */
export function base64Fitting(cap: number): number {
  return Math.max(3, Math.floor(cap / 4) * 3);
}

function readBase64(fd: number, path: string, st: Stats, offset: number, limit: number | undefined, cap: number): Outcome {
  const want = Math.max(0, Math.min(limit ?? base64Fitting(cap), base64Fitting(cap), st.size - offset));
  let bytes: Buffer;
  let head: Buffer;
  {
    bytes = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = readSync(fd, bytes, got, want - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    bytes = bytes.subarray(0, got);
    if (offset === 0 && got >= Math.min(SNIFF_BYTES, st.size)) {
      head = bytes.subarray(0, SNIFF_BYTES);
    } else {
      head = Buffer.allocUnsafe(SNIFF_BYTES);
      head = head.subarray(0, readSync(fd, head, 0, SNIFF_BYTES, 0));
    }
  }
  return base64Reply(path, st.size, offset, bytes, head);
}

/**
 * The base64 reply for `bytes` read at `offset` of a file of `size` bytes
 * whose first 8 KiB are `head` (it decides `binary`). Pure, so the hub's SSH
 * fallback renders exactly what lmcp would from bytes it fetched.
 */
export function base64Reply(path: string, size: number, offset: number, bytes: Uint8Array, head: Uint8Array): Outcome {
  const end = offset + bytes.length;
  const next = end < size ? end : undefined;
  const content = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  const data: ReadResult = {
    path,
    encoding: "base64",
    content,
    size,
    binary: headLooksBinary(head.subarray(0, SNIFF_BYTES)),
    truncated: next !== undefined,
    offset,
    bytes_returned: bytes.length,
    ...(next !== undefined ? { next_offset: next } : {}),
  };
  if (offset >= size && size > 0) {
    return ok(data, `[lmcp: ${path} has ${size} bytes; offset ${offset} is past the end]`);
  }
  if (size === 0) return ok(data, `[lmcp: ${path} is empty (0 bytes)]`);
  const note =
    next !== undefined
      ? `\n[lmcp: bytes ${offset}–${end - 1} of ${size} shown (base64); call read_file with encoding "base64" and offset=${next} for more]`
      : "";
  return ok(data, content + note);
}

/**
 * The utf8 reply for a whole file held in memory: binary detection, line
 * selection from `offset` (1-based, default 1) for `limit` lines (default
 * 2000) and the reply cap. Pure, shared by read_file and the hub's SSH fallback.
 */
export function textReadReply(path: string, buf: Buffer, args: { offset?: number | undefined; limit?: number | undefined }, cap: number): Outcome {
  const offset = Math.max(1, args.offset ?? 1);
  const maxLines = args.limit ?? DEFAULT_LINES;
  if (buf.subarray(0, SNIFF_BYTES).indexOf(0) >= 0 || !isUtf8(buf)) return binaryReply(path, buf.length);
  return textReply(path, buf.length, selectInMemory(buf, offset, maxLines), offset, maxLines, cap);
}

/** Why a path that is not a regular file cannot be read, in words that say what to use instead. */
export function notAFileProblem(path: string, kind: "dir" | "other"): string {
  if (kind === "dir") return `${path} is a directory; use list_dir to see what is inside it, or search_files to find a file in it`;
  return `${path} is not a regular file (a device, FIFO or socket); use shell to read from it`;
}

function statProblem(path: string, st: Stats): string | undefined {
  if (st.isDirectory()) return notAFileProblem(path, "dir");
  if (!st.isFile()) return notAFileProblem(path, "other");
  return undefined;
}

export const readFile = defineTool({
  name: "read_file",
  title: "Read file",
  description:
    "Reads a text file's lines (default: the first 2,000) with their exact content and line endings, or any file's bytes as base64. " +
    "One reply is capped (about 96 KiB by default); when more follows, the reply gives next_offset to continue. Binary files are reported as binary unless encoding is base64.",
  input,
  output,
  annotations: { title: "Read file", readOnlyHint: true, openWorldHint: false },
  async run(args, ctx): Promise<Outcome> {
    const path = resolveUserPath(args.path);
    const cap = ctx.limits.maxReadBytes;
    let fd: number | undefined;
    try {
      // Only a regular file is ever opened (no FIFO or device side effect), and the policy decides on the file opened.
      const opened = openChecked(ctx.policy ?? permissivePolicy, path, "file", (st) => statProblem(path, st));
      fd = opened.fd;
      const st = opened.st;
      if (args.encoding === "base64") return readBase64(fd, path, st, args.offset ?? 0, args.limit, cap);

      if (st.size > STREAM_ABOVE) {
        const offset = Math.max(1, args.offset ?? 1);
        const maxLines = args.limit ?? DEFAULT_LINES;
        const s = await selectStreaming(fd, offset, maxLines, cap, ctx.signal);
        return s.binary ? binaryReply(path, st.size) : textReply(path, st.size, s, offset, maxLines, cap);
      }
      // The size read, not st.size: files in /proc report 0 yet have content; capped, as some never end (/proc/self/pagemap).
      const buf = readFdCapped(fd, st.size, STREAM_ABOVE);
      if (!buf) return fail(`${path} reports ${st.size} bytes but gives more than ${STREAM_ABOVE} when read (a /proc or /sys pseudo-file?); read part of it with shell (head -c, dd)`);
      return textReadReply(path, buf, args, cap);
    } catch (err) {
      if (ctx.signal.aborted) return fail("cancelled");
      return pathFailure("cannot read", err);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  },
});
