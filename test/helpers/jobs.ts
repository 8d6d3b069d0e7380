// Calling the shell_bg tools from tests: run a tool and check its output
// against the schema, start a job that is killed after the test, wait with a deadline.
import { shellBg } from "../../src/tools/shell_bg.ts";
import type { ToolContext, ToolDef } from "../../src/tools/tool.ts";

/** Runs `tool` and returns its output parsed by the tool's own schema; a failure throws. */
export async function call(tool: ToolDef, args: Record<string, unknown>, ctx: ToolContext) {
  const r = await tool.run(tool.input.parse(args), ctx);
  if (!r.ok) throw new Error(`${tool.name}: expected ok, got failure: ${r.error}`);
  return { data: tool.output.parse(r.data) as Record<string, unknown>, text: r.text };
}

/** Runs `tool` expecting a failure; returns its message. */
export async function failure(tool: ToolDef, args: Record<string, unknown>, ctx: ToolContext): Promise<string> {
  const r = await tool.run(tool.input.parse(args), ctx);
  if (r.ok) throw new Error(`${tool.name}: expected a failure, got ${r.text}`);
  return r.error;
}

export interface StartedJob {
  job_id: string;
  pid: number;
  log_path: string;
  started_at: string;
}

/** Starts a job with shell_bg; `killAfter` (from scratch()) ends its process group after the test. */
export async function startJob(args: Record<string, unknown>, ctx: ToolContext, killAfter: (pid: number) => void): Promise<StartedJob> {
  const { data } = await call(shellBg, args, ctx);
  const job = data as unknown as StartedJob;
  killAfter(-job.pid);
  return job;
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
