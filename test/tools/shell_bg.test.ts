import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { shellBg } from "../../src/tools/shell_bg.ts";
import { shellBgKill } from "../../src/tools/shell_bg_kill.ts";
import { shellBgStatus } from "../../src/tools/shell_bg_status.ts";
import type { ToolContext } from "../../src/tools/tool.ts";
import { scratch, testContext } from "../helpers/context.ts";
import { call, failure, startJob, waitFor } from "../helpers/jobs.ts";
import { processGone } from "../helpers/server.ts";

const { setup, onCleanup, killAfter } = scratch();

const start = (args: Record<string, unknown>, ctx: ToolContext) => startJob(args, ctx, killAfter);

const status = async (jobId: string, ctx: ToolContext, extra: Record<string, unknown> = {}) =>
  (await call(shellBgStatus, { job_id: jobId, ...extra }, ctx)).data as {
    state: string;
    exit_code: number | null;
    tail: string;
    ended_at?: string;
    note?: string;
  };


describe("shell_bg", () => {
  test("returns at once and the log gets stdout and stderr", async () => {
    const { ctx, dir } = setup();
    const t0 = Date.now();
    const job = await start({ command: "echo hello; echo oops >&2; sleep 300", cwd: dir }, ctx);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(job.job_id).toMatch(/^j-[a-z2-7]{10}$/);
    expect(job.log_path).toBe(join(ctx.stateDir, "jobs", `${job.job_id}.log`));
    await waitFor("the log", () => readFileSync(job.log_path, "utf8") === "hello\noops\n");
    expect(statSync(job.log_path).mode & 0o777).toBe(0o600);
    expect((await status(job.job_id, ctx)).state).toBe("running");
  });

  test("status goes from running to exited with the command's exit code and log tail", async () => {
    const { ctx, dir } = setup();
    const job = await start({ command: "while [ ! -e go ]; do sleep 0.02; done; echo finished; exit 5", cwd: dir }, ctx);
    const running = await status(job.job_id, ctx);
    expect(running).toMatchObject({ state: "running", exit_code: null });
    expect(running.ended_at).toBeUndefined();
    writeFileSync(join(dir, "go"), "");
    await waitFor("the job to exit", async () => (await status(job.job_id, ctx)).state === "exited");
    const done = await status(job.job_id, ctx);
    expect(done).toMatchObject({ state: "exited", exit_code: 5, tail: "finished" });
    expect(done.ended_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  test("tail_lines returns only the last lines of the log", async () => {
    const { ctx } = setup();
    const job = await start({ command: "seq 1 100" }, ctx);
    await waitFor("the job to exit", async () => (await status(job.job_id, ctx)).state === "exited");
    expect((await status(job.job_id, ctx, { tail_lines: 3 })).tail).toBe("98\n99\n100");
    expect((await status(job.job_id, ctx)).tail.split("\n")).toHaveLength(20);
    expect(() => shellBgStatus.input.parse({ job_id: job.job_id, tail_lines: 501 })).toThrow();
  });

  test("env, cwd and a custom log_path are used", async () => {
    const { ctx, dir } = setup();
    const job = await start({ command: 'echo "$JOB_NAME in $(pwd)"', cwd: dir, env: { JOB_NAME: "builder" }, log_path: "out.log" }, ctx);
    expect(job.log_path).toBe(resolve(dir, "out.log"));
    await waitFor("the job to exit", async () => (await status(job.job_id, ctx)).state === "exited");
    expect(readFileSync(job.log_path, "utf8")).toContain("builder in ");
  });

  test("shell_bg_kill ends the job's whole process group", async () => {
    const { ctx, dir } = setup();
    const pidFile = join(dir, "child.pid");
    const job = await start({ command: `sleep 300 & echo $! > ${pidFile}; sleep 300` }, ctx);
    await waitFor("the child pid", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").endsWith("\n"));
    const child = Number(readFileSync(pidFile, "utf8"));
    const { data } = await call(shellBgKill, { job_id: job.job_id }, ctx);
    expect(data).toMatchObject({ job_id: job.job_id, signal: "SIGTERM", sent: true });
    await waitFor("the job to exit", async () => (await status(job.job_id, ctx)).state === "exited");
    expect((await status(job.job_id, ctx)).exit_code).toBe(143);
    await waitFor("the background child to die", () => processGone(child));

    const again = await call(shellBgKill, { job_id: job.job_id, signal: "SIGKILL" }, ctx);
    expect(again.data).toMatchObject({ sent: false, state: "exited", exit_code: 143 });
    expect(again.text).toContain("already exited");
  });

  test("a job started by another server process survives it and is readable and killable afterwards", async () => {
    const { ctx, dir } = setup();
    const script = join(dir, "start.ts");
    writeFileSync(
      script,
      `import { shellBg } from ${JSON.stringify(resolve("src/tools/shell_bg.ts"))};
       import { testContext } from ${JSON.stringify(resolve("test/helpers/context.ts"))};
       const { ctx, cleanup } = testContext({ stateDir: ${JSON.stringify(ctx.stateDir)} });
       const r = await shellBg.run({ command: "echo from the old server; sleep 300" }, ctx);
       cleanup(); // removes only the unused temp dir testContext made, not the shared stateDir
       console.log(JSON.stringify(r));`,
    );
    const other = Bun.spawnSync([process.execPath, script], { stderr: "pipe" });
    expect(other.exitCode).toBe(0);
    const r = JSON.parse(other.stdout.toString()) as { ok: boolean; data: { job_id: string; pid: number } };
    expect(r.ok).toBe(true);
    killAfter(-r.data.pid);

    const restarted = testContext({ stateDir: ctx.stateDir });
    onCleanup(restarted.cleanup);
    const fresh = restarted.ctx;
    await waitFor("the old server's job log", async () => (await status(r.data.job_id, fresh)).tail === "from the old server");
    expect((await status(r.data.job_id, fresh)).state).toBe("running");
    await call(shellBgKill, { job_id: r.data.job_id, signal: "KILL" }, fresh);
    await waitFor("the job to exit", async () => (await status(r.data.job_id, fresh)).state === "exited");
  });

  test("a job whose wrapper was SIGKILLed reports exited with no exit code", async () => {
    const { ctx } = setup();
    const job = await start({ command: "sleep 300" }, ctx);
    process.kill(job.pid, "SIGKILL");
    await waitFor("the job to count as exited", async () => (await status(job.job_id, ctx)).state === "exited");
    const st = await status(job.job_id, ctx);
    expect(st.exit_code).toBeNull();
    expect(st.note).toContain("no exit status was recorded");
  });

  test("bad and unknown job ids fail with a pointer to shell_bg's job_id", async () => {
    const { ctx } = setup();
    expect(await failure(shellBgStatus, { job_id: "../x" }, ctx)).toContain("not a job id");
    expect(await failure(shellBgKill, { job_id: "../../etc/passwd" }, ctx)).toContain("not a job id");
    expect(await failure(shellBgStatus, { job_id: "j-abcdefgh23" }, ctx)).toContain("job_id that shell_bg returned");
    expect(() => shellBgKill.input.parse({ job_id: "j-abcdefgh23", signal: "STOP" })).toThrow();
  });

  test("a missing cwd or an unwritable log_path fails without starting anything", async () => {
    const { ctx, dir } = setup();
    expect(await failure(shellBg, { command: "true", cwd: join(dir, "missing") }, ctx)).toContain("does not exist");
    expect(await failure(shellBg, { command: "true", log_path: join(dir, "no", "such", "dir.log") }, ctx)).toContain("log_path");
  });
});
