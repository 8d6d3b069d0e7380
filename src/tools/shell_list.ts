// shell_list: the foreground shell commands running on this server now (any
// client's), so a stuck one can be found and ended with shell_kill.
import { z } from "zod";
import { runningShells } from "./shell_calls.ts";
import { defineTool, ok } from "./tool.ts";

const row = z.object({
  call_id: z.string().describe("Pass it to shell_kill."),
  pid: z.number().int().describe("The command's process group (its shell's pid)."),
  command: z.string(),
  cwd: z.string(),
  started_at: z.string(),
  sudo: z.boolean().describe("Run as root through sudo."),
});

export const shellList = defineTool({
  name: "shell_list",
  title: "List running shell commands",
  description:
    "Lists the shell (foreground) commands running on this server now, whichever client started them: call id, pid, command, cwd and start time. " +
    "Background jobs are listed by shell_bg_list, terminal sessions by session_list.",
  input: z.object({}),
  output: z.object({ calls: z.array(row) }),
  annotations: { title: "List running shell commands", readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  async run() {
    const calls = runningShells().map((s) => ({ call_id: s.id, pid: s.pgid, command: s.command, cwd: s.cwd, started_at: s.startedAt.toISOString(), sudo: s.sudo }));
    const lines = calls.map((c) => `${c.call_id}  pid ${c.pid}  since ${c.started_at}${c.sudo ? "  (sudo)" : ""}  ${c.command}`);
    return ok({ calls }, [`${calls.length} shell command${calls.length === 1 ? "" : "s"} running`, ...lines].join("\n"));
  },
});
