// shell_bg_wait: blocks until a shell_bg job exits or a timeout passes, so an
// agent need not poll shell_bg_status; the server polls the exit file cheaply.
import { z } from "zod";
import type { FilePolicy } from "../policy/rules.ts";
import { type JobRecord, jobStatus, readJobRecord } from "./jobs.ts";
import { DEFAULT_TAIL_LINES, jobIdField, jobStatusFields, jobStatusReport, readLogTail, tailLinesField } from "./shell_bg_status.ts";
import { defineTool, fail, ok, type ToolContext } from "./tool.ts";

const DEFAULT_TIMEOUT_S = 60;
/** The schema's bound; the server's max_timeout_s may be lower. */
const MAX_TIMEOUT_S = 86_400;
/** A progress notification at least this often while waiting (also keeps a hub's call alive). */
export const WAIT_PROGRESS_MS = 5000;
/** Poll fast at first so a quick job returns quickly, then settle at a cheap rate. */
const FIRST_POLL_MS = 50;
const POLL_MS = 250;

const input = z.object({
  job_id: jobIdField,
  timeout_s: z
    .number()
    .min(0)
    .max(MAX_TIMEOUT_S)
    .optional()
    .describe(`Longest wait in seconds (default ${DEFAULT_TIMEOUT_S}, at most the server's max_timeout_s). 0 checks once and returns.`),
  tail_lines: tailLinesField,
});

const output = z.object({
  ...jobStatusFields,
  waited_ms: z.number().int().describe("How long this call waited."),
  timed_out: z.boolean().describe("True when the job was still running at the timeout (not an error: wait again, or stop it with shell_bg_kill)."),
});

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal.aborted) return done();
    const onAbort = () => {
      clearTimeout(timer);
      done();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      done();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function lastLogLine(rec: JobRecord, policy: FilePolicy | undefined): string {
  const tail = readLogTail(rec.log_path, 1, 4096, policy);
  const line = "text" in tail ? tail.text.trim() : "";
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** Polls until the job is no longer running, the deadline passes or the call is cancelled; sends progress meanwhile. */
async function waitForExit(rec: JobRecord, timeoutMs: number, ctx: ToolContext): Promise<"exited" | "timed_out" | "cancelled"> {
  const started = Date.now();
  let nextProgress = started + WAIT_PROGRESS_MS;
  for (;;) {
    if (jobStatus(ctx.stateDir, rec).state === "exited") return "exited";
    if (ctx.signal.aborted) return "cancelled";
    const now = Date.now();
    if (now - started >= timeoutMs) return "timed_out";
    if (now >= nextProgress) {
      const secs = Math.round((now - started) / 1000);
      const line = lastLogLine(rec, ctx.policy);
      ctx.progress(`running ${secs}s${line ? `: ${line}` : ""}`, secs, timeoutMs / 1000).catch(() => undefined);
      nextProgress += WAIT_PROGRESS_MS;
    }
    const pollMs = now - started < 1000 ? FIRST_POLL_MS : POLL_MS;
    await sleep(Math.max(1, Math.min(pollMs, started + timeoutMs - now, nextProgress - now)), ctx.signal);
  }
}

export const shellBgWait = defineTool({
  name: "shell_bg_wait",
  title: "Wait for a background job",
  description:
    "Waits until a shell_bg job exits or timeout_s passes (default 60 s), then reports like shell_bg_status (state, exit_code, log tail) " +
    "plus waited_ms and timed_out. Cheaper than polling shell_bg_status; sends progress with the log's last line every 5 s. " +
    "A timeout is not an error: the job keeps running.",
  input,
  output,
  annotations: { title: "Wait for a background job", readOnlyHint: true, idempotentHint: true },
  async run(args, ctx) {
    const timeoutS = args.timeout_s ?? Math.min(DEFAULT_TIMEOUT_S, ctx.limits.maxTimeoutS);
    if (timeoutS > ctx.limits.maxTimeoutS) {
      return fail(`timeout_s ${timeoutS} is above this server's maximum of ${ctx.limits.maxTimeoutS} s; wait again after this one returns`);
    }
    const found = readJobRecord(ctx.stateDir, args.job_id);
    if ("error" in found) return fail(found.error);
    const rec = found.record;
    const started = Date.now();
    const outcome = await waitForExit(rec, timeoutS * 1000, ctx);
    if (outcome === "cancelled") return fail(`the wait was cancelled; job ${rec.job_id} was not touched and may still be running`);

    const waitedMs = Date.now() - started;
    const report = jobStatusReport(ctx.stateDir, rec, args.tail_lines ?? DEFAULT_TAIL_LINES, ctx.limits.maxOutputBytes, ctx.policy);
    const timedOut = report.data.state === "running";
    const head = timedOut
      ? `still running after waiting ${(waitedMs / 1000).toFixed(1)} s (timeout); wait again, read the log with shell_bg_output, or stop it with shell_bg_kill`
      : `waited ${(waitedMs / 1000).toFixed(1)} s`;
    return ok({ ...report.data, waited_ms: waitedMs, timed_out: timedOut }, `${head}\n${report.text}`);
  },
});
