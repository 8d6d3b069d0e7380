import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { shell } from "../../src/tools/shell.ts";
import { cleanExpiredSpool, spoolDir } from "../../src/tools/spool.ts";
import type { ToolContext } from "../../src/tools/tool.ts";
import { scratch } from "../helpers/context.ts";
import { processGone } from "../helpers/server.ts";

const { setup, killAfter } = scratch();

async function runOk(args: Record<string, unknown>, ctx: ToolContext) {
  const r = await shell.run(shell.input.parse(args), ctx);
  if (!r.ok) throw new Error(`expected ok, got failure: ${r.error}`);
  return { data: shell.output.parse(r.data), text: r.text };
}


async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

async function readPid(file: string): Promise<number> {
  await waitFor(`pid in ${file}`, () => existsSync(file) && /^\d+\s*$/.test(readFileSync(file, "utf8")));
  const pid = Number(readFileSync(file, "utf8").trim());
  killAfter(pid);
  return pid;
}

describe("shell", () => {
  test("a non-zero exit is a normal result with stdout, stderr and the code", async () => {
    const { ctx } = setup();
    const { data, text } = await runOk({ command: "echo out; echo err >&2; exit 3" }, ctx);
    expect(data.exit_code).toBe(3);
    expect(data.signal).toBeNull();
    expect(data.stdout).toBe("out\n");
    expect(data.stderr).toBe("err\n");
    expect(data.timed_out).toBe(false);
    expect(data.truncated).toBe(false);
    expect(data.full_output_path).toBeUndefined();
    expect(text).toMatch(/^out\n\[stderr\]\nerr\n\[exit 3 · \d+ ms\]$/);
  });

  test("runs in the given cwd with extra env and stdin", async () => {
    const { ctx, dir } = setup();
    const { data } = await runOk({ command: 'pwd; echo "$GREETING"; cat', cwd: dir, env: { GREETING: "hi there" }, stdin: "from stdin" }, ctx);
    expect(data.stdout).toBe(`${realpathSync(dir)}\nhi there\nfrom stdin`);
    expect(data.exit_code).toBe(0);
  });

  test("defaults to the home dir, expands ~ and reads stdin from /dev/null", async () => {
    const { ctx } = setup();
    const plain = await runOk({ command: "pwd; cat; echo done" }, ctx);
    expect(plain.data.stdout).toBe(`${realpathSync(homedir())}\ndone\n`);
    const tilde = await runOk({ command: "pwd", cwd: "~" }, ctx);
    expect(tilde.data.stdout).toBe(`${realpathSync(homedir())}\n`);
  });

  test("a missing cwd is a failure that says what to do", async () => {
    const { ctx, dir } = setup();
    const r = await shell.run(shell.input.parse({ command: "true", cwd: join(dir, "nope") }), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("does not exist");
  });

  test("a timeout above the server's maximum is refused and points to shell_bg", async () => {
    const { ctx } = setup({ limits: { maxTimeoutS: 10 } });
    const r = await shell.run(shell.input.parse({ command: "true", timeout_s: 11 }), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/maximum of 10 s.*shell_bg/);
    expect(() => shell.input.parse({ command: "true", timeout_s: 0 })).toThrow();
  });

  test("a command killed by a signal has a null exit code and the signal name", async () => {
    const { ctx } = setup();
    const { data, text } = await runOk({ command: "kill -KILL $$" }, ctx);
    expect(data.exit_code).toBeNull();
    expect(data.signal).toBe("SIGKILL");
    expect(text).toContain("killed by SIGKILL");
  });

  test("on timeout the whole process group is killed and the call returns on time", async () => {
    const { ctx, dir } = setup();
    const pidFile = join(dir, "bg.pid");
    const t0 = Date.now();
    const { data, text } = await runOk({ command: `sleep 300 & echo $! > ${pidFile}; echo started; sleep 300`, timeout_s: 1 }, ctx);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(data.timed_out).toBe(true);
    expect(data.stdout).toBe("started\n");
    expect(text).toContain("[timed out after 1 s; process group killed");
    const bg = await readPid(pidFile);
    await waitFor("the background sleep to die", () => processGone(bg));
  });

  test("a group that ignores SIGTERM gets SIGKILL 2 s later", async () => {
    const { ctx } = setup();
    const t0 = Date.now();
    const { data } = await runOk({ command: "trap '' TERM; sleep 300", timeout_s: 0.5 }, ctx);
    const elapsed = Date.now() - t0;
    expect(data.timed_out).toBe(true);
    expect(data.signal).toBe("SIGKILL");
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    expect(elapsed).toBeLessThan(6000);
  });

  test("a background child holding the pipe does not keep the call waiting", async () => {
    const { ctx, dir } = setup();
    const pidFile = join(dir, "bg.pid");
    const t0 = Date.now();
    const first = await runOk({ command: `sleep 100 & echo $! > ${pidFile}; echo main done` }, ctx);
    const second = await runOk({ command: `(sleep 100 & echo $! > ${pidFile}2); echo sub done` }, ctx);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(first.data.stdout).toBe("main done\n");
    expect(first.data.exit_code).toBe(0);
    expect(second.data.stdout).toBe("sub done\n");
    // The user asked for those children: they are left running (and stopped by this test).
    const bg = await readPid(pidFile);
    await readPid(`${pidFile}2`);
    expect(processGone(bg)).toBe(false);
  });

  test("long output keeps head and tail with a marker, and the spool file holds every byte", async () => {
    const { ctx } = setup({ limits: { maxOutputBytes: 1024 } });
    const { data, text } = await runOk({ command: "printf BEGIN; yes 0123456789 | head -c 200000; printf END" }, ctx);
    expect(data.truncated).toBe(true);
    expect(data.stdout.startsWith("BEGIN0123456789\n")).toBe(true);
    expect(data.stdout.endsWith("0123456789\n012345678END")).toBe(true);
    const path = data.full_output_path!;
    expect(path.startsWith(spoolDir(ctx.stateDir))).toBe(true);
    expect(data.stdout).toContain(`bytes cut from the middle; full output: ${path}]`);
    const marker = /\[lmcp: (\d+) bytes cut/.exec(data.stdout)!;
    expect(Number(marker[1])).toBe(200_008 - 1024);
    expect(text).toContain(path);
    const expected = `BEGIN${"0123456789\n".repeat(Math.ceil(200000 / 11)).slice(0, 200000)}END`;
    expect(readFileSync(path, "utf8")).toBe(expected);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(spoolDir(ctx.stateDir)).mode & 0o777).toBe(0o700);
    expect(data.full_stderr_path).toBeUndefined();
  });

  test("a cut stderr gets its own spool file", async () => {
    const { ctx } = setup({ limits: { maxOutputBytes: 100 } });
    const { data } = await runOk({ command: "echo small; head -c 5000 /dev/zero | tr '\\0' e >&2" }, ctx);
    expect(data.stdout).toBe("small\n");
    expect(data.full_output_path).toBeUndefined();
    expect(data.stderr).toContain("bytes cut from the middle");
    expect(readFileSync(data.full_stderr_path!, "utf8")).toBe("e".repeat(5000));
  });

  test("huge output is streamed to the spool file with the reply still capped", async () => {
    const { ctx } = setup();
    const { data } = await runOk({ command: "head -c 30000000 /dev/zero" }, ctx);
    expect(statSync(data.full_output_path!).size).toBe(30_000_000);
    expect(data.stdout.length).toBeLessThan(ctx.limits.maxOutputBytes + 200);
  });

  test("non-UTF-8 output is decoded with replacement characters", async () => {
    const { ctx } = setup();
    const { data } = await runOk({ command: "printf '\\xff\\xfe ok'" }, ctx);
    expect(data.stdout).toBe("\uFFFD\uFFFD ok");
  });

  test("cancelling the call kills the process group", async () => {
    const ac = new AbortController();
    const { ctx, dir } = setup({ signal: ac.signal });
    const pidFile = join(dir, "bg.pid");
    const running = runOk({ command: `sleep 300 & echo $! > ${pidFile}; sleep 300` }, ctx);
    const bg = await readPid(pidFile);
    ac.abort();
    const { data, text } = await running;
    expect(data.cancelled).toBe(true);
    expect(data.timed_out).toBe(false);
    expect(text).toContain("cancelled");
    await waitFor("the background sleep to die", () => processGone(bg));
  });

  test("progress is reported every 5 s with the last output line", async () => {
    const { ctx, progressCalls } = setup();
    const { data } = await runOk({ command: "for i in $(seq 1 11); do echo line $i; sleep 1; done" }, ctx);
    expect(data.exit_code).toBe(0);
    expect(progressCalls.length).toBeGreaterThanOrEqual(2);
    expect(progressCalls[0]!.message).toMatch(/^running \d+s: line \d+$/);
    expect(progressCalls[1]!.progress).toBeGreaterThan(progressCalls[0]!.progress);
  }, 30_000);

  test("cleanExpiredSpool removes spool files older than 24 h and keeps newer ones", async () => {
    const { ctx } = setup({ limits: { maxOutputBytes: 10 } });
    const { data } = await runOk({ command: "echo 0123456789abcdef" }, ctx);
    const fresh = data.full_output_path!;
    const old = join(spoolDir(ctx.stateDir), "old.stdout");
    writeFileSync(old, "x");
    const dayAgo = (Date.now() - 25 * 3600 * 1000) / 1000;
    utimesSync(old, dayAgo, dayAgo);
    expect(await cleanExpiredSpool(ctx.stateDir)).toBe(1);
    expect(readdirSync(spoolDir(ctx.stateDir))).toEqual([fresh.split("/").at(-1)!]);
    expect(await cleanExpiredSpool(join(ctx.stateDir, "missing"))).toBe(0);
  });
});
