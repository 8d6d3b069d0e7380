// shell_bg_status: whether a shell_bg job is running, its exit code, and the end of its log.
import { closeSync, fstatSync, readSync } from "node:fs";
import { z } from "zod";
import { openChecked } from "../policy/open.ts";
import { type FilePolicy, permissivePolicy } from "../policy/rules.ts";
import { type JobRecord, jobStatus, readJobRecord } from "./jobs.ts";
import { decodeUtf8, tailBoundary } from "./output_cut.ts";
import { defineTool, describeError, fail, ok } from "./tool.ts";

export const DEFAULT_TAIL_LINES = 20;
export const MAX_TAIL_LINES = 500;

/**
 * Opens a job's log for reading under the file policy: the record names a path, and whatever sits
 * there now (a link swapped in to a token file, say) is checked like any read_file.
 */
export function openJobLog(path: string, policy: FilePolicy = permissivePolicy): number {
  return openChecked(policy, path, "file", (st) => (st.isFile() ? undefined : `${path} is no longer a regular file`)).fd;
}

/** The last `lines` lines of a file, reading at most `maxBytes` from its end. */
export function readLogTail(path: string, lines: number, maxBytes: number, policy?: FilePolicy): { text: string } | { error: string } {
  if (lines === 0) return { text: "" };
  let fd: number;
  try {
    fd = openJobLog(path, policy);
  } catch (err) {
    return { error: describeError(err) };
  }
  try {
    const size = fstatSync(fd).size;
    const want = Math.min(size, Math.max(0, maxBytes));
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const n = readSync(fd, buf, got, want - got, size - want + got);
      if (n === 0) break;
      got += n;
    }
    const bytes = buf.subarray(0, got);
    const fromMiddle = size > got;
    let all = decodeUtf8(fromMiddle ? bytes.subarray(tailBoundary(bytes)) : bytes).split("\n");
    if (all.at(-1) === "") all.pop();
    // Reading from the middle of the file, the first line is probably partial.
    if (fromMiddle && all.length > lines) all = all.slice(1);
    return { text: all.slice(-lines).join("\n") };
  } catch (err) {
    return { error: describeError(err) };
  } finally {
    closeSync(fd);
  }
}

export const jobIdField = z.string().describe("The job_id that shell_bg returned (like j-abcdefgh23).");
export const tailLinesField = z
  .number()
  .int()
  .min(0)
  .max(MAX_TAIL_LINES)
  .optional()
  .describe(`How many lines from the end of the job's log to return. Default ${DEFAULT_TAIL_LINES}, at most ${MAX_TAIL_LINES}.`);

const input = z.object({ job_id: jobIdField, tail_lines: tailLinesField });

/** What shell_bg_status reports; shell_bg_wait reports the same and more. */
export const jobStatusFields = {
  job_id: z.string(),
  state: z.enum(["running", "exited"]).describe("running while the job's leader process is alive."),
  exit_code: z
    .number()
    .int()
    .nullable()
    .describe("Exit code once exited (128+N means it died from signal N); null while running or when no status was recorded."),
  pid: z.number().int().describe("Pid of the job's leader, which is also its process group id."),
  command: z.string(),
  started_at: z.string().describe("Start time, ISO 8601 (UTC)."),
  ended_at: z.string().optional().describe("End time, ISO 8601 (UTC), when known."),
  log_path: z.string().describe("The job's log file; page all of it with shell_bg_output or read_file."),
  tail: z.string().describe("The last tail_lines lines of the log (from at most the server's output cap)."),
  note: z.string().optional().describe("Explains an unusual status, e.g. no exit status recorded or an unreadable log."),
};
const output = z.object(jobStatusFields);
export type JobStatusReport = z.output<typeof output>;

/** The job's status and log tail as data plus the readable text both tools reply with. */
export function jobStatusReport(stateDir: string, rec: JobRecord, tailLines: number, maxBytes: number, policy?: FilePolicy): { data: JobStatusReport; text: string } {
  const status = jobStatus(stateDir, rec);
  const tail = readLogTail(rec.log_path, tailLines, maxBytes, policy);
  const notes = [status.note, "error" in tail ? `log unreadable: ${tail.error}` : undefined].filter(Boolean);

  const data: JobStatusReport = {
    job_id: rec.job_id,
    state: status.state,
    exit_code: status.exit_code,
    pid: rec.pid,
    command: rec.command,
    started_at: rec.started_at,
    log_path: rec.log_path,
    tail: "text" in tail ? tail.text : "",
  };
  if (status.ended_at) data.ended_at = status.ended_at;
  if (notes.length > 0) data.note = notes.join("; ");

  const head =
    status.state === "running"
      ? `job ${rec.job_id} running (pid ${rec.pid}) since ${rec.started_at}`
      : `job ${rec.job_id} exited ${status.exit_code === null ? "without a recorded status" : `with code ${status.exit_code}`}${status.ended_at ? ` at ${status.ended_at}` : ""}`;
  const lines = [head, `command: ${rec.command}`, `log: ${rec.log_path}`];
  if (data.note) lines.push(`note: ${data.note}`);
  if (data.tail) lines.push("[log tail]", data.tail);
  return { data, text: lines.join("\n") };
}

export const shellBgStatus = defineTool({
  name: "shell_bg_status",
  title: "Check a background job",
  description:
    "Reports whether a shell_bg job is running or exited (with its exit code) and returns the last lines of its log " +
    `(default ${DEFAULT_TAIL_LINES}, at most ${MAX_TAIL_LINES} lines, capped in bytes like shell output). Jobs are remembered across server restarts.`,
  input,
  output,
  annotations: { title: "Check a background job", readOnlyHint: true },
  async run(args, ctx) {
    const found = readJobRecord(ctx.stateDir, args.job_id);
    if ("error" in found) return fail(found.error);
    const report = jobStatusReport(ctx.stateDir, found.record, args.tail_lines ?? DEFAULT_TAIL_LINES, ctx.limits.maxOutputBytes, ctx.policy);
    return ok(report.data, report.text);
  },
});
