import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { shellBgOutput, sliceLog } from "../../src/tools/shell_bg_output.ts";
import { shellBgWait } from "../../src/tools/shell_bg_wait.ts";
import type { ToolContext } from "../../src/tools/tool.ts";
import { scratch, testContext } from "../helpers/context.ts";
import { call, failure, startJob, waitFor } from "../helpers/jobs.ts";

const { setup, onCleanup, killAfter } = scratch();

type Page = { content: string; offset: number; next_offset: number; size: number; eof: boolean; state: string; exit_code: number | null; note?: string };
const page = async (ctx: ToolContext, args: Record<string, unknown>) => (await call(shellBgOutput, args, ctx)).data as unknown as Page;

/** Starts a job and waits for it to exit. */
async function finished(ctx: ToolContext, command: string, cwd?: string) {
  const job = await startJob(cwd ? { command, cwd } : { command }, ctx, killAfter);
  await call(shellBgWait, { job_id: job.job_id, timeout_s: 10 }, ctx);
  return job;
}

async function readAll(ctx: ToolContext, jobId: string, limit: number) {
  const pages: Page[] = [];
  let offset = 0;
  for (;;) {
    const p = await page(ctx, { job_id: jobId, offset, limit });
    pages.push(p);
    if (p.eof) return pages;
    expect(p.next_offset).toBeGreaterThan(offset);
    offset = p.next_offset;
  }
}

describe("shell_bg_output", () => {
  test("pages the log by byte offset: next_offset continues, eof at the end, pages join to the whole log", async () => {
    const { ctx } = setup();
    const job = await finished(ctx, "seq 1 1000; exit 2");
    const whole = readFileSync(job.log_path, "utf8");
    const pages = await readAll(ctx, job.job_id, 1000);
    expect(pages.length).toBe(Math.ceil(whole.length / 1000));
    expect(pages.map((p) => p.content).join("")).toBe(whole);
    const last = pages.at(-1)!;
    expect(last).toMatchObject({ eof: true, next_offset: whole.length, size: whole.length, state: "exited", exit_code: 2 });
    expect(pages[0]).toMatchObject({ offset: 0, next_offset: 1000, eof: false });
  });

  test("a negative offset reads from the end", async () => {
    const { ctx } = setup();
    const job = await finished(ctx, "seq 1 100");
    const p = await page(ctx, { job_id: job.job_id, offset: -7 });
    expect(p).toMatchObject({ content: "99\n100\n", eof: true });
    expect(p.offset).toBe(p.size - 7);
    expect((await page(ctx, { job_id: job.job_id, offset: -100_000 })).offset).toBe(0);
  });

  test("never splits a multi-byte character at either edge, whatever the offsets and limits", async () => {
    const { ctx, dir } = setup();
    writeFileSync(join(dir, "text"), "aé€😀b\n".repeat(20));
    const job = await finished(ctx, "cat text", dir);
    const whole = readFileSync(job.log_path, "utf8");
    for (const limit of [1, 2, 3, 5, 7]) {
      const pages = await readAll(ctx, job.job_id, limit);
      for (const p of pages) expect(p.content).not.toContain("\uFFFD");
      expect(pages.map((p) => p.content).join("")).toBe(whole);
    }
    // Starting inside 😀 (bytes 6..9 of each line) skips to the next whole character.
    const mid = await page(ctx, { job_id: job.job_id, offset: 7, limit: 5 });
    expect(mid).toMatchObject({ offset: 10, content: "b\n", next_offset: 12 });
  });

  test("the whole log is still readable after the job exited and the server restarted", async () => {
    const { ctx } = setup();
    const job = await finished(ctx, "echo before restart");
    const restarted = testContext({ stateDir: ctx.stateDir });
    onCleanup(restarted.cleanup);
    expect(await page(restarted.ctx, { job_id: job.job_id })).toMatchObject({ content: "before restart\n", eof: true, state: "exited", exit_code: 0 });
  });

  test("a running job's log can be followed; eof means the end so far", async () => {
    const { ctx, dir } = setup();
    const job = await startJob({ command: "echo first; while [ ! -e go ]; do sleep 0.02; done; echo second", cwd: dir }, ctx, killAfter);
    await waitFor("the first line", async () => (await page(ctx, { job_id: job.job_id })).size > 0);
    const p = await page(ctx, { job_id: job.job_id });
    expect(p).toMatchObject({ content: "first\n", eof: true, state: "running", next_offset: 6 });
    writeFileSync(join(dir, "go"), "");
    await call(shellBgWait, { job_id: job.job_id, timeout_s: 10 }, ctx);
    expect(await page(ctx, { job_id: job.job_id, offset: p.next_offset })).toMatchObject({ content: "second\n", eof: true, state: "exited" });
  });

  test("limit is capped at max_output_bytes and an offset past the end is explained", async () => {
    const { ctx } = setup({ limits: { maxOutputBytes: 10 } });
    const job = await finished(ctx, "seq 1 100");
    const p = await page(ctx, { job_id: job.job_id, limit: 1000 });
    expect(p.content.length).toBe(10);
    expect(p.note).toContain("max_output_bytes");
    const past = await page(ctx, { job_id: job.job_id, offset: 10_000 });
    expect(past).toMatchObject({ content: "", eof: true, offset: past.size });
    expect(past.note).toContain("past the end");
  });

  test("a job whose log is gone, or an unknown job, fails with a message", async () => {
    const { ctx } = setup();
    const job = await finished(ctx, "true");
    rmSync(job.log_path);
    expect(await failure(shellBgOutput, { job_id: job.job_id }, ctx)).toContain("cannot read the log");
    expect(await failure(shellBgOutput, { job_id: "j-abcdefgh23" }, ctx)).toContain("job_id that shell_bg returned");
  });
});

describe("sliceLog", () => {
  const euro = [0xe2, 0x82, 0xac];
  const bytes = (...b: number[]) => Uint8Array.from(b);

  test("holds back a character cut by the limit", () => {
    expect(sliceLog(bytes(0x61, ...euro), { want: 2, midFile: false, atEnd: true, final: true })).toEqual({ skipped: 0, kept: 1 });
  });
  test("gives a character longer than the limit whole, so paging moves on", () => {
    expect(sliceLog(bytes(...euro), { want: 1, midFile: false, atEnd: true, final: true })).toEqual({ skipped: 0, kept: 3 });
  });
  test("skips continuation bytes at a start inside the file, not at its very start", () => {
    expect(sliceLog(bytes(0x82, 0xac, 0x61), { want: 3, midFile: true, atEnd: true, final: true })).toEqual({ skipped: 2, kept: 1 });
    expect(sliceLog(bytes(0x82, 0x61), { want: 2, midFile: false, atEnd: true, final: true })).toEqual({ skipped: 0, kept: 2 });
  });
  test("a truncated last character: held back while the job may still write, given as it is once it exited", () => {
    const tail = bytes(0x61, 0xe2, 0x82);
    expect(sliceLog(tail, { want: 3, midFile: false, atEnd: true, final: false })).toEqual({ skipped: 0, kept: 1 });
    expect(sliceLog(tail, { want: 3, midFile: false, atEnd: true, final: true })).toEqual({ skipped: 0, kept: 3 });
  });
});
