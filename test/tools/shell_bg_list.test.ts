import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { jobPaths, newJobId, writeJobRecord } from "../../src/tools/jobs.ts";
import { shellBgList } from "../../src/tools/shell_bg_list.ts";
import { shellBgWait } from "../../src/tools/shell_bg_wait.ts";
import type { ToolContext } from "../../src/tools/tool.ts";
import { scratch, testContext } from "../helpers/context.ts";
import { call, startJob } from "../helpers/jobs.ts";

const { setup, onCleanup, killAfter } = scratch();

type Row = { job_id: string; pid: number; command: string; started_at: string; state: string; exit_code: number | null; log_path: string; log_size: number | null };
type Listing = { jobs: Row[]; total: number; truncated: boolean };
const list = async (ctx: ToolContext, args: Record<string, unknown> = {}) => (await call(shellBgList, args, ctx)).data as unknown as Listing;

/** A finished job's record written directly, with a chosen start time, so the order is certain. */
function pastJob(ctx: ToolContext, startedAt: string, command = "make") {
  const id = newJobId();
  const paths = jobPaths(ctx.stateDir, id);
  writeJobRecord(ctx.stateDir, { job_id: id, pid: 99999999, command, cwd: "/", log_path: paths.log, started_at: startedAt });
  writeFileSync(paths.log, "12345");
  writeFileSync(paths.exit, "0\n");
  return id;
}

describe("shell_bg_list", () => {
  test("an empty state dir lists no jobs", async () => {
    const { ctx } = setup();
    expect(await list(ctx)).toEqual({ jobs: [], total: 0, truncated: false });
  });

  test("lists jobs newest first with state, exit code and log size", async () => {
    const { ctx } = setup();
    const older = pastJob(ctx, "2025-01-01T00:00:00.000Z");
    const newer = pastJob(ctx, "2025-01-02T00:00:00.000Z");
    const running = await startJob({ command: "sleep 300" }, ctx, killAfter);
    const { jobs } = await list(ctx);
    expect(jobs.map((j) => j.job_id)).toEqual([running.job_id, newer, older]);
    expect(jobs[0]).toMatchObject({ state: "running", exit_code: null, pid: running.pid, command: "sleep 300", log_size: 0 });
    expect(jobs[1]).toMatchObject({ state: "exited", exit_code: 0, command: "make", log_size: 5, started_at: "2025-01-02T00:00:00.000Z" });
  });

  test("filters by state and cuts the list at limit, saying how many there are", async () => {
    const { ctx } = setup();
    for (let d = 1; d <= 5; d++) pastJob(ctx, `2025-01-0${d}T00:00:00.000Z`);
    const running = await startJob({ command: "sleep 300" }, ctx, killAfter);
    expect((await list(ctx, { state: "running" })).jobs.map((j) => j.job_id)).toEqual([running.job_id]);
    const exited = await list(ctx, { state: "exited", limit: 2 });
    expect(exited).toMatchObject({ total: 5, truncated: true });
    expect(exited.jobs.map((j) => j.started_at)).toEqual(["2025-01-05T00:00:00.000Z", "2025-01-04T00:00:00.000Z"]);
    expect(await list(ctx, { limit: 3 })).toMatchObject({ total: 6, truncated: true });
  });

  test("a long command is cut to 200 characters", async () => {
    const { ctx } = setup();
    pastJob(ctx, "2025-01-01T00:00:00.000Z", `echo ${"x".repeat(500)}`);
    const [row] = (await list(ctx)).jobs;
    expect(Array.from(row!.command)).toHaveLength(200);
    expect(row!.command.endsWith("…")).toBe(true);
  });

  test("jobs and their exit codes are still listed after a server restart", async () => {
    const { ctx } = setup();
    const job = await startJob({ command: "exit 6" }, ctx, killAfter);
    await call(shellBgWait, { job_id: job.job_id, timeout_s: 10 }, ctx);
    const restarted = testContext({ stateDir: ctx.stateDir });
    onCleanup(restarted.cleanup);
    expect((await list(restarted.ctx)).jobs).toMatchObject([{ job_id: job.job_id, state: "exited", exit_code: 6 }]);
  });
});
