// shell_bg_kill: sends a signal to a shell_bg job's whole process group.
import { z } from "zod";
import { jobStatus, readJobRecord } from "./jobs.ts";
import { groupAlive, signalGroup } from "./process_group.ts";
import { defineTool, describeError, fail, ok } from "./tool.ts";

const SIGNALS = ["TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2"] as const;
const SIGNAL_NAMES = [...SIGNALS, ...SIGNALS.map((s) => `SIG${s}` as const)] as const;
/** Signals after which the job is expected to end, so the reply waits briefly to report it. */
const ENDING = new Set(["TERM", "KILL", "INT", "HUP", "QUIT"]);
const SETTLE_MS = 1000;

const input = z.object({
  job_id: z.string().describe("The job_id that shell_bg returned (like j-abcdefgh23)."),
  signal: z
    .enum(SIGNAL_NAMES)
    .optional()
    .describe("Signal for every process of the job's group: TERM (default), KILL, INT, HUP, QUIT, USR1 or USR2; the SIG prefix is optional."),
});

const output = z.object({
  job_id: z.string(),
  signal: z.string().describe("The signal, as SIGNAME."),
  sent: z.boolean().describe("False when the job had already exited, so nothing was sent."),
  state: z.enum(["running", "exited"]).describe("The job's state after the signal (checked for up to 1 s for ending signals)."),
  exit_code: z.number().int().nullable().describe("Exit code once exited and recorded; otherwise null."),
});

export const shellBgKill = defineTool({
  name: "shell_bg_kill",
  title: "Signal a background job",
  description:
    "Sends a signal (default TERM) to every process in a shell_bg job's process group and reports whether the job has exited. " +
    "A job that already exited is reported, not an error; send KILL if TERM does not end it.",
  input,
  output,
  annotations: { title: "Signal a background job", destructiveHint: true, readOnlyHint: false, openWorldHint: true },
  async run(args, ctx) {
    const found = readJobRecord(ctx.stateDir, args.job_id);
    if ("error" in found) return fail(found.error);
    const rec = found.record;
    const short = (args.signal ?? "TERM").replace(/^SIG/, "");
    const signal = `SIG${short}` as NodeJS.Signals;

    const before = jobStatus(ctx.stateDir, rec);
    // The leader may be gone (e.g. SIGKILLed) while the rest of its group runs on: signal what is left.
    if (before.state === "exited" && (before.exit_code !== null || !groupAlive(rec.pid))) {
      const data = { job_id: rec.job_id, signal, sent: false, state: before.state, exit_code: before.exit_code };
      return ok(data, `job ${rec.job_id} had already exited (${before.exit_code === null ? "no status recorded" : `code ${before.exit_code}`}); nothing sent`);
    }
    let sent: boolean;
    try {
      sent = signalGroup(rec.pid, signal);
    } catch (err) {
      return fail(`could not signal job ${rec.job_id} (process group ${rec.pid}): ${describeError(err)}`);
    }

    let after = jobStatus(ctx.stateDir, rec);
    if (sent && ENDING.has(short)) {
      const deadline = Date.now() + SETTLE_MS;
      while (after.state === "running" && Date.now() < deadline && !ctx.signal.aborted) {
        await Bun.sleep(50);
        after = jobStatus(ctx.stateDir, rec);
      }
    }
    const data = { job_id: rec.job_id, signal, sent, state: after.state, exit_code: after.exit_code };
    let text = sent ? `sent ${signal} to job ${rec.job_id} (process group ${rec.pid}); ` : `job ${rec.job_id} had already exited; `;
    if (after.state === "running") {
      text += ENDING.has(short) ? "it is still running: check shell_bg_status, or send KILL" : "it is still running";
    } else {
      text += `it has exited${after.exit_code === null ? "" : ` with code ${after.exit_code}`}`;
    }
    return ok(data, text);
  },
});
