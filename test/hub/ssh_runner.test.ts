import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { SshRunner, sshArgv, type SshTarget } from "../../src/hub/ssh/runner.ts";
import { b64Word, B64D_FUNCTION, shQuote } from "../../src/hub/ssh/quote.ts";
import { waitFor } from "../helpers/server.ts";
import { startSshd, freePort, type StartedSshd } from "../helpers/sshd.ts";

let sshd: StartedSshd;
/** Put on every ssh command line of this file (a no-op option), so `pgrep -f` finds any ssh the tests leave behind. */
const MARK = `LMCPTESTMARK_${randomBytes(6).toString("hex")}`;
let target: SshTarget;

beforeAll(async () => {
  sshd = await startSshd();
  target = { name: "local-sshd", ssh: sshd.target, ssh_port: sshd.port, ssh_options: [...sshd.sshOptions, "-o", `SendEnv=${MARK}`] };
});

afterAll(async () => {
  await sshd?.stop();
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Pids of processes whose command line holds `marker` (not this test's pgrep itself). */
async function pids(marker: string): Promise<number[]> {
  const p = Bun.spawn(["pgrep", "-f", marker], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out.split("\n").filter(Boolean).map(Number);
}

async function expectNoSshLeft(): Promise<void> {
  expect(await pids(MARK)).toEqual([]);
}

describe("ssh runner", () => {
  test("builds the fixed command line with the target after --", () => {
    expect(sshArgv({ name: "r", ssh: "ops@riemann.lan", ssh_port: 2222, ssh_options: ["-i", "/k"] })).toEqual([
      "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
      "-p", "2222", "-i", "/k", "--", "ops@riemann.lan", "bash -s",
    ]);
    expect(sshArgv({ name: "r", ssh: "h" }).slice(-3)).toEqual(["--", "h", "bash -s"]);
  });

  test("runs a script: exit status, stdout and stderr apart, markers stripped; exit 255 is not an ssh failure", async () => {
    const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 15_000 });
    const r = await runner.run(target, "echo out; echo err >&2; (exit 7)");
    expect(r).toMatchObject({ exitCode: 7, timedOut: false, cancelled: false, sshFailed: false, error: undefined });
    expect(text(r.stdout)).toBe("out\n");
    expect(text(r.stderr)).toBe("err\n");
    const r255 = await runner.run(target, "printf 'no newline' >&2; (exit 255)");
    expect(r255).toMatchObject({ exitCode: 255, sshFailed: false });
    expect(text(r255.stderr)).toBe("no newline");
    expect(runner.active).toBe(0);
    await expectNoSshLeft();
  }, 20_000);

  test("a command that reads stdin gets nothing of the script, and base64 data arrives byte for byte", async () => {
    const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 15_000 });
    const bytes = randomBytes(100_000);
    const r = await runner.run(target, `cat; echo after\n${B64D_FUNCTION}\nprintf '%s' ${b64Word(bytes)} | lmcp_b64d`);
    expect(r.exitCode).toBe(0);
    expect(text(r.stdout.subarray(0, 6))).toBe("after\n");
    expect(Buffer.compare(Buffer.from(r.stdout.subarray(6)), bytes)).toBe(0);
  }, 20_000);

  test("quoted values reach the remote shell exactly and nothing in them runs", async () => {
    const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 15_000 });
    const pwned = `/tmp/lmcp-pwned-${randomBytes(4).toString("hex")}`;
    const values = [`it's "quoted"`, `$(touch ${pwned})`, `\`touch ${pwned}\``, "line1\nline2\n", "ünï ☃", "; touch " + pwned];
    const script = values.map((v) => `printf '%s\\0' ${shQuote(v)}`).join("\n");
    const r = await runner.run(target, script);
    expect(text(r.stdout).split("\0").slice(0, -1)).toEqual(values);
    expect(await Bun.file(pwned).exists()).toBe(false);
  }, 20_000);

  test("a closed port fails fast with sshFailed and ssh's own words", async () => {
    const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 15_000 });
    const port = await freePort();
    const started = Date.now();
    const r = await runner.run({ ...target, ssh_port: port }, "echo never");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r).toMatchObject({ sshFailed: true, timedOut: false, exitCode: null, sshExitCode: 255 });
    expect(r.error).toContain("Connection refused");
    await expectNoSshLeft();
  }, 10_000);

  test("a login that is refused is an ssh failure with the reason", async () => {
    const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 15_000 });
    const noKey = ["-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", `SendEnv=${MARK}`];
    const r = await runner.run({ ...target, ssh_options: noKey }, "echo never");
    expect(r.sshFailed).toBe(true);
    expect(r.error).toContain("Permission denied");
  }, 10_000);

  test("the hard cap ends ssh when the server accepts TCP but never sends a banner", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 2000 });
      const started = Date.now();
      const r = await runner.run({ ...target, ssh_port: silent.port }, "echo never");
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(1900);
      expect(took).toBeLessThan(2000 + 3000);
      expect(r).toMatchObject({ timedOut: true, sshFailed: false, exitCode: null });
      expect(r.error).toContain("hard cap of 2 s");
      expect(runner.active).toBe(0);
      await expectNoSshLeft();
    } finally {
      silent.stop(true);
    }
  }, 10_000);

  test("the hard cap ends a remote command that hangs, and the remote command goes too", async () => {
    const runner = new SshRunner({ maxConcurrent: 4, hardTimeoutMs: 2000 });
    const remoteMark = `LMCPREMOTE_${randomBytes(6).toString("hex")}`;
    const started = Date.now();
    const r = await runner.run(target, `echo started; perl -e 'sleep 600' ${remoteMark}`);
    const took = Date.now() - started;
    expect(took).toBeLessThan(2000 + 3000);
    expect(r).toMatchObject({ timedOut: true, sshFailed: false, exitCode: null });
    expect(text(r.stdout)).toBe("started\n");
    expect(r.error).toContain("while the remote script ran");
    await expectNoSshLeft();
    // The script's lifeline (ssh's stdin) ended with ssh, so the remote side ended its process group.
    await waitFor("the remote command to end", async () => ((await pids(remoteMark)).length === 0 ? true : undefined), 5000);
  }, 15_000);

  test("an aborted signal ends ssh at once; a waiting call that aborts leaves the queue", async () => {
    const runner = new SshRunner({ maxConcurrent: 1, hardTimeoutMs: 15_000 });
    const running = new AbortController();
    const waiting = new AbortController();
    const first = runner.run(target, "sleep 600", { signal: running.signal });
    const second = runner.run(target, "echo never", { signal: waiting.signal });
    await waitFor("ssh to start", () => (runner.active === 1 && runner.queued === 1 ? true : undefined));
    waiting.abort();
    const r2 = await second;
    expect(r2).toMatchObject({ cancelled: true, sshFailed: false, exitCode: null });
    expect(runner.queued).toBe(0);
    const started = Date.now();
    running.abort();
    const r1 = await first;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(r1).toMatchObject({ cancelled: true, timedOut: false, sshFailed: false, exitCode: null });
    expect(runner.active).toBe(0);
    await expectNoSshLeft();
    // The slot is free again.
    expect((await runner.run(target, "echo ok")).exitCode).toBe(0);
  }, 20_000);

  test("no more than maxConcurrent ssh processes run at once; the rest wait their turn in order", async () => {
    const runner = new SshRunner({ maxConcurrent: 2, hardTimeoutMs: 15_000 });
    const order: number[] = [];
    const calls = Array.from({ length: 5 }, (_, i) =>
      runner.run(target, `sleep 1; echo ${i}`).then((r) => {
        order.push(i);
        return r;
      }),
    );
    await waitFor("the queue to fill", () => (runner.queued === 3 ? true : undefined));
    expect(runner.active).toBeLessThanOrEqual(2);
    const results = await Promise.all(calls);
    expect(results.map((r) => text(r.stdout))).toEqual(["0\n", "1\n", "2\n", "3\n", "4\n"]);
    expect(runner.peakActive).toBe(2);
    expect(runner.active).toBe(0);
    expect(order.indexOf(4)).toBeGreaterThanOrEqual(2);
    await expectNoSshLeft();
  }, 30_000);

  test("a background child holding the output open does not hold the call", async () => {
    const runner = new SshRunner({ maxConcurrent: 2, hardTimeoutMs: 10_000 });
    const remoteMark = `LMCPBG_${randomBytes(6).toString("hex")}`;
    const started = Date.now();
    const r = await runner.run(target, `perl -e 'sleep 30' ${remoteMark} & echo bg`);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r).toMatchObject({ exitCode: 0, timedOut: false });
    expect(text(r.stdout)).toBe("bg\n");
    await expectNoSshLeft();
    for (const pid of await pids(remoteMark)) process.kill(pid, "SIGKILL");
  }, 15_000);
});
