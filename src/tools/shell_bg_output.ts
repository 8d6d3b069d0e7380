// shell_bg_output: pages a shell_bg job's log by byte offset, with a cursor to
// continue from, while the job runs and after it (or the server) ended.
import { closeSync, fstatSync, readSync } from "node:fs";
import { z } from "zod";
import { Refused } from "../policy/open.ts";
import { jobStatus, readJobRecord } from "./jobs.ts";
import { decodeUtf8, headBoundary, tailBoundary } from "./output_cut.ts";
import { jobIdField, openJobLog } from "./shell_bg_status.ts";
import { defineTool, deny, describeError, fail, ok } from "./tool.ts";

const input = z.object({
  job_id: jobIdField,
  offset: z
    .number()
    .int()
    .optional()
    .describe("Byte offset in the log to start at (default 0). Negative counts from the end: -4096 reads the last 4 KiB. Pass the previous reply's next_offset to continue."),
  limit: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("Most bytes to return; default and maximum: the server's max_output_bytes (32 KiB unless configured)."),
});

const output = z.object({
  job_id: z.string(),
  content: z.string().describe("The log text from offset, UTF-8 decoded; starts and ends on whole characters."),
  offset: z.number().int().describe("Byte offset the content starts at (a negative or mid-character offset resolved)."),
  next_offset: z.number().int().describe("Byte offset to continue from; equals size when the end of the log was reached."),
  size: z.number().int().describe("The log's size in bytes when it was read."),
  eof: z.boolean().describe("True when content reaches the end of the log as it was; a running job may still add more."),
  state: z.enum(["running", "exited"]),
  exit_code: z.number().int().nullable(),
  log_path: z.string(),
  note: z.string().optional(),
});

export interface LogSlice {
  /** Bytes skipped at the start so the text starts on a character. */
  skipped: number;
  /** Bytes after `skipped` that make up the text. */
  kept: number;
}

export interface SliceOptions {
  /** How many of `bytes` were asked for; the rest (up to 3) is look-ahead. */
  want: number;
  /** The slice starts inside the file, so leading continuation bytes belong to a character before it. */
  midFile: boolean;
  /** `bytes` run to the end of the file. */
  atEnd: boolean;
  /** Nothing more will be written (the job exited). */
  final: boolean;
}

/**
 * Where to cut a slice of a UTF-8 log so that no U+FFFD is invented at its
 * edges: a character split by the start offset or by the limit is left out.
 * A character longer than the limit is given whole, and the truncated last
 * character of a finished log is given as it is, so paging always moves on.
 */
export function sliceLog(bytes: Uint8Array, o: SliceOptions): LogSlice {
  const skipped = o.midFile ? tailBoundary(bytes) : 0;
  const want = Math.max(skipped, Math.min(o.want, bytes.length));
  const body = bytes.subarray(skipped, want);
  let kept = headBoundary(body);
  const brokenTail = kept < body.length && want === bytes.length && o.atEnd && o.final;
  if (brokenTail) kept = body.length;
  else if (kept === 0) {
    kept = headBoundary(bytes.subarray(skipped));
    if (kept === 0 && o.atEnd && o.final) kept = bytes.length - skipped;
  }
  return { skipped, kept };
}

export const shellBgOutput = defineTool({
  name: "shell_bg_output",
  title: "Read a background job's log",
  description:
    "Reads a shell_bg job's log (stdout and stderr) by byte offset: up to limit bytes from offset (negative: from the end), with next_offset to continue " +
    "and eof when the end was reached. The text is cut on whole UTF-8 characters, so none is split at either edge (invalid bytes inside show as U+FFFD). " +
    "Works while the job runs, after it exited and after a server restart.",
  input,
  output,
  annotations: { title: "Read a background job's log", readOnlyHint: true, idempotentHint: true },
  async run(args, ctx) {
    const found = readJobRecord(ctx.stateDir, args.job_id);
    if ("error" in found) return fail(found.error);
    const rec = found.record;
    const max = ctx.limits.maxOutputBytes;
    const limit = Math.min(args.limit ?? max, max);
    const notes: string[] = [];
    if (args.limit !== undefined && args.limit > max) notes.push(`limit lowered to this server's max_output_bytes (${max})`);
    // Status first: if it says exited, everything the job wrote is already in the log.
    const status = jobStatus(ctx.stateDir, rec);

    let fd: number;
    try {
      fd = openJobLog(rec.log_path, ctx.policy);
    } catch (err) {
      if (err instanceof Refused) return err.denied ? deny(`job ${rec.job_id}'s log: ${err.message}`) : fail(`cannot read the log of job ${rec.job_id}: ${err.message}`);
      return fail(`cannot read the log of job ${rec.job_id}: ${describeError(err)}`);
    }
    try {
      const size = fstatSync(fd).size;
      const asked = args.offset ?? 0;
      let start = asked < 0 ? Math.max(0, size + asked) : asked;
      if (start > size) {
        notes.push(`offset ${asked} is past the end of the log (${size} bytes); was it truncated?`);
        start = size;
      }
      const want = Math.min(limit, size - start);
      const buf = Buffer.alloc(Math.min(want + 3, size - start));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      const bytes = buf.subarray(0, got);
      const cut = sliceLog(bytes, { want, midFile: start > 0, atEnd: start + got >= size, final: status.state === "exited" });
      const from = start + cut.skipped;
      const next = from + cut.kept;
      const content = decodeUtf8(bytes.subarray(cut.skipped, cut.skipped + cut.kept));
      const eof = next >= size;
      const data: z.output<typeof output> = {
        job_id: rec.job_id,
        content,
        offset: from,
        next_offset: next,
        size,
        eof,
        state: status.state,
        exit_code: status.exit_code,
        log_path: rec.log_path,
      };
      if (notes.length > 0) data.note = notes.join("; ");
      const where = eof
        ? status.state === "running"
          ? "end of log so far; the job is still running"
          : `end of log; job exited${status.exit_code === null ? "" : ` with code ${status.exit_code}`}`
        : `more follows: next_offset ${next}`;
      const footer = `[lmcp: bytes ${from}–${next} of ${size}; ${where}${data.note ? `; ${data.note}` : ""}]`;
      return ok(data, content.length > 0 && !content.endsWith("\n") ? `${content}\n${footer}` : `${content}${footer}`);
    } catch (err) {
      return fail(`cannot read the log of job ${rec.job_id}: ${describeError(err)}`);
    } finally {
      closeSync(fd);
    }
  },
});
