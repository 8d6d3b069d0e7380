// shell_bg_list: the shell_bg jobs this host remembers, newest first, with
// their state, so an agent can find a job whose id it lost.
import { statSync } from "node:fs";
import { z } from "zod";
import { JOB_MAX_AGE_MS, jobStatus, listJobRecords } from "./jobs.ts";
import { defineTool, ok } from "./tool.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
const COMMAND_CHARS = 200;
const RETENTION_DAYS = JOB_MAX_AGE_MS / 86_400_000;

const input = z.object({
  state: z.enum(["running", "exited", "all"]).default("all").describe("Which jobs: running, exited or all (default)."),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_LIMIT)
    .default(DEFAULT_LIMIT)
    .describe(`Most jobs to list, newest first (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}).`),
});

const jobRow = z.object({
  job_id: z.string(),
  pid: z.number().int(),
  command: z.string().describe(`The command, cut to ${COMMAND_CHARS} characters.`),
  started_at: z.string(),
  state: z.enum(["running", "exited"]),
  exit_code: z.number().int().nullable(),
  ended_at: z.string().optional(),
  log_path: z.string(),
  log_size: z.number().int().nullable().describe("Bytes in the log now; null when it cannot be read."),
});

const output = z.object({
  jobs: z.array(jobRow),
  total: z.number().int().describe("How many jobs match state; more than jobs.length when limit cut the list."),
  truncated: z.boolean(),
});

/** Cuts on a code point, never inside a surrogate pair. */
function shorten(s: string, max: number): string {
  const points = Array.from(s);
  return points.length <= max ? s : `${points.slice(0, max - 1).join("")}…`;
}

function sizeOf(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

export const shellBgList = defineTool({
  name: "shell_bg_list",
  title: "List background jobs",
  description:
    "Lists the shell_bg jobs this host remembers, newest first: job_id, pid, command, started_at, state, exit_code, log_path and log_size. " +
    `Jobs survive server restarts; a job that exited more than ${RETENTION_DAYS} days ago is forgotten (with its log, if the log is lmcp's own).`,
  input,
  output,
  annotations: { title: "List background jobs", readOnlyHint: true, idempotentHint: true },
  async run(args, ctx) {
    const records = listJobRecords(ctx.stateDir).sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : 0));
    const rows: z.output<typeof jobRow>[] = [];
    let total = 0;
    for (const rec of records) {
      // Checking status is a file read and a kill(pid, 0): cheap, but skip it for jobs past the limit when no filter needs it.
      if (args.state === "all" && total >= args.limit) {
        total++;
        continue;
      }
      const st = jobStatus(ctx.stateDir, rec);
      if (args.state !== "all" && st.state !== args.state) continue;
      total++;
      if (rows.length >= args.limit) continue;
      const row: z.output<typeof jobRow> = {
        job_id: rec.job_id,
        pid: rec.pid,
        command: shorten(rec.command, COMMAND_CHARS),
        started_at: rec.started_at,
        state: st.state,
        exit_code: st.exit_code,
        log_path: rec.log_path,
        log_size: sizeOf(rec.log_path),
      };
      if (st.ended_at) row.ended_at = st.ended_at;
      rows.push(row);
    }
    const truncated = total > rows.length;
    const which = args.state === "all" ? "" : `${args.state} `;
    const lines = [`${total} ${which}job${total === 1 ? "" : "s"}${truncated ? `, newest ${rows.length} shown` : ""}`];
    for (const r of rows) {
      const status = r.state === "running" ? "running" : `exited ${r.exit_code === null ? "(no status)" : r.exit_code}`;
      lines.push(`${r.job_id}  ${status}  pid ${r.pid}  ${r.started_at}  ${shorten(r.command.replace(/\s+/g, " "), 80)}`);
    }
    return ok({ jobs: rows, total, truncated }, lines.join("\n"));
  },
});
