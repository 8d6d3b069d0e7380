import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { shellBgWait } from "../../src/tools/shell_bg_wait.ts";
import { scratch, testContext } from "../helpers/context.ts";
import { call, failure, startJob } from "../helpers/jobs.ts";

const { setup, onCleanup, killAfter } = scratch();

type Waited = { state: string; exit_code: number | null; tail: string; waited_ms: number; timed_out: boolean };
const waited = (data: Record<string, unknown>) => data as unknown as Waited;

describe("shell_bg_wait", () => {
  test("returns as soon as the job exits, with its exit code and log tail", async () => {
    const { ctx, dir } = setup();
    const job = await startJob({ command: "sleep 0.3; echo done; exit 3", cwd: dir }, ctx, killAfter);
    const t0 = Date.now();
    const { data, text } = await call(shellBgWait, { job_id: job.job_id, timeout_s: 20 }, ctx);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(waited(data)).toMatchObject({ state: "exited", exit_code: 3, tail: "done", timed_out: false });
    expect(waited(data).waited_ms).toBeGreaterThan(100);
    expect(text).toContain("exited with code 3");
  });

  test("a job still running at the timeout is reported with timed_out, not as an error", async () => {
    const { ctx } = setup();
    const job = await startJob({ command: "echo working; sleep 300" }, ctx, killAfter);
    const t0 = Date.now();
    const { data, text } = await call(shellBgWait, { job_id: job.job_id, timeout_s: 0.5 }, ctx);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2000);
    expect(waited(data)).toMatchObject({ state: "running", exit_code: null, timed_out: true });
    expect(text).toContain("still running");
  });

  test("sends progress with the elapsed seconds and the log's last line while it waits", async () => {
    const { ctx, dir, progressCalls } = setup();
    const go = join(dir, "go");
    // Runs until the first progress arrives (about 5 s), then ends: the shortest run that must see progress.
    const job = await startJob({ command: `i=0; while [ ! -e go ]; do i=$((i+1)); echo "step $i"; sleep 0.2; done; exit 0`, cwd: dir }, ctx, killAfter);
    const progress = ctx.progress;
    ctx.progress = async (message, p, total) => {
      writeFileSync(go, "");
      await progress(message, p, total);
    };
    const { data } = await call(shellBgWait, { job_id: job.job_id, timeout_s: 10 }, ctx);
    expect(waited(data)).toMatchObject({ state: "exited", exit_code: 0, timed_out: false });
    expect(progressCalls.length).toBeGreaterThanOrEqual(1);
    expect(progressCalls[0]!.progress).toBe(5);
    expect(progressCalls[0]!.message).toMatch(/^running 5s: step \d+$/);
  }, 15_000);

  test("a cancelled call returns promptly and leaves the job running", async () => {
    const abort = new AbortController();
    const { ctx } = setup({ signal: abort.signal });
    const job = await startJob({ command: "sleep 300" }, ctx, killAfter);
    setTimeout(() => abort.abort(), 200);
    const t0 = Date.now();
    expect(await failure(shellBgWait, { job_id: job.job_id, timeout_s: 30 }, ctx)).toContain("cancelled");
    expect(Date.now() - t0).toBeLessThan(1000);
    process.kill(job.pid, 0); // still there
  });

  test("after a server restart, waiting on a job that has exited reports its status at once", async () => {
    const { ctx } = setup();
    const job = await startJob({ command: "echo old; exit 4" }, ctx, killAfter);
    await call(shellBgWait, { job_id: job.job_id, timeout_s: 10 }, ctx);
    const restarted = testContext({ stateDir: ctx.stateDir });
    onCleanup(restarted.cleanup);
    const { data } = await call(shellBgWait, { job_id: job.job_id, timeout_s: 10 }, restarted.ctx);
    expect(waited(data)).toMatchObject({ state: "exited", exit_code: 4, tail: "old", timed_out: false });
    expect(waited(data).waited_ms).toBeLessThan(500);
  });

  test("a timeout above the server's maximum and an unknown job are refused", async () => {
    const { ctx } = setup({ limits: { maxTimeoutS: 30 } });
    expect(await failure(shellBgWait, { job_id: "j-abcdefgh23", timeout_s: 31 }, ctx)).toContain("maximum of 30 s");
    expect(await failure(shellBgWait, { job_id: "j-abcdefgh23" }, ctx)).toContain("job_id that shell_bg returned");
    expect(() => shellBgWait.input.parse({ job_id: "j-abcdefgh23", timeout_s: -1 })).toThrow();
  });
});
