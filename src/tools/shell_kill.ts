// shell_kill: signals a running foreground shell command's process group; the
// shell call that runs it then returns, with the signal in its answer.
import { z } from "zod";
import { groupAlive, signalGroup } from "./process_group.ts";
import { callIdField, findRunningShell } from "./shell_calls.ts";
import { defineTool, describeError, fail, ok } from "./tool.ts";

const SIGNALS = ["TERM", "KILL", "INT", "HUP", "QUIT"] as const;
const SIGNAL_NAMES = [...SIGNALS, ...SIGNALS.map((s) => `SIG${s}` as const)] as const;
/** How long the reply waits to see the command end. */
const SETTLE_MS = 1000;

const output = z.object({
  call_id: z.string(),
  signal: z.string().describe("The signal, as SIGNAME."),
  state: z.enum(["running", "ended"]).describe("Whether the command's process group was still there after up to 1 s."),
});

export const shellKill = defineTool({
  name: "shell_kill",
  title: "Signal a running shell command",
  description:
    "Sends a signal (default TERM) to every process of a running shell command (a call_id from shell_list); the shell call running it then returns, " +
    "its answer naming the signal. Send KILL if TERM does not end it. For shell_bg jobs use shell_bg_kill.",
  input: z.object({
    call_id: callIdField,
    signal: z.enum(SIGNAL_NAMES).optional().describe("TERM (default), KILL, INT, HUP or QUIT; the SIG prefix is optional."),
  }),
  output,
  annotations: { title: "Signal a running shell command", destructiveHint: true, readOnlyHint: false, openWorldHint: false },
  async run(args, ctx) {
    const found = findRunningShell(args.call_id);
    if ("error" in found) return fail(found.error);
    const s = found.shell;
    const signal = `SIG${(args.signal ?? "TERM").replace(/^SIG/, "")}` as NodeJS.Signals;
    try {
      if (!signalGroup(s.pgid, signal)) return ok({ call_id: s.id, signal, state: "ended" as const }, `shell command ${s.id} had already ended; nothing sent`);
    } catch (err) {
      const why = describeError(err);
      return fail(`could not signal shell command ${s.id} (process group ${s.pgid}): ${why}${s.sudo ? "; it runs as root through sudo" : ""}`);
    }
    s.signalled = signal;
    const deadline = Date.now() + SETTLE_MS;
    while (groupAlive(s.pgid) && Date.now() < deadline && !ctx.signal.aborted) await Bun.sleep(25);
    const state = groupAlive(s.pgid) ? ("running" as const) : ("ended" as const);
    const text = `sent ${signal} to shell command ${s.id} (process group ${s.pgid}); ${state === "ended" ? "it has ended" : "it is still running: send KILL"}`;
    return ok({ call_id: s.id, signal, state }, text);
  },
});
