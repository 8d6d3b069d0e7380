// search_files against a real server: a catastrophic regex answers at once
// (RE2), a long search answers at its time budget, /healthz and read_file stay
// prompt while four long searches run, and cancelling a search ends its work.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { type StartedServer, callTool, connect, resultText, startServer, waitFor } from "../helpers/server.ts";
import { redosCorpus, redosHitLines, redosText } from "../reliability/redos_corpus.ts";

const linux = process.platform === "linux";
let server: StartedServer;
let client: Client;
let textDir: string;
let fanTop: string;
let small: string;

/** 50 x 50 symlinks to one directory holding a 1 MB file: 2.5 GB of lines to grep, minutes of work. */
function fanOut(root: string): string {
  for (const d of ["leaf", "mid", "top"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "leaf", "big.txt"), `match me\n${"other line\n".repeat(100_000)}`);
  for (let i = 0; i < 50; i++) {
    symlinkSync(join(root, "leaf"), join(root, "mid", `m${i}`));
    symlinkSync(join(root, "mid"), join(root, "top", `t${i}`));
  }
  return join(root, "top");
}

/** The server's CPU time so far (user + system), in ms, from /proc. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in USER_HZ (100 on Linux)
}

async function healthzMs(): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(10_000) });
  await res.text();
  expect(res.status).toBe(200);
  return performance.now() - started;
}

const longSearch = (timeout_s: number) => ({ path: fanTop, pattern: "*.txt", content: "^match", max_results: 100_000, timeout_s });

beforeAll(async () => {
  server = await startServer();
  client = await connect(server);
  textDir = join(server.home, "redos");
  mkdirSync(textDir);
  writeFileSync(join(textDir, "text.txt"), redosText(redosCorpus[0]!));
  fanTop = fanOut(join(server.home, "fan"));
  small = join(server.home, "small.txt");
  writeFileSync(small, "hello\n");
}, 30_000);

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

describe("search_files under load", () => {
  test("the red team's pattern over a 674-line file answers with the right lines, inside its budget", async () => {
    const r = await callTool(client, "search_files", { path: textDir, pattern: "*.txt", content: "^(\\w+\\s?)*$", timeout_s: 60 });
    expect(r.isError).toBeFalsy();
    const data = r.structuredContent as { lines: string[]; timed_out?: boolean };
    expect(data.lines).toEqual(redosHitLines().map((n) => `${join(textDir, "text.txt")}:${n}:just some words`));
    expect(data.timed_out).toBeUndefined();
  }, 30_000);

  test("a search past its budget answers at the budget with what it found so far", async () => {
    const started = performance.now();
    const r = await callTool(client, "search_files", longSearch(1));
    const data = r.structuredContent as { count: number; timed_out?: boolean };
    expect(data.timed_out).toBe(true);
    expect(data.count).toBeGreaterThan(0);
    expect(resultText(r)).toContain("time budget");
    // Budget 1 s plus the stop grace (2 s) plus slack; the whole search would take minutes.
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 30_000);

  test("/healthz and read_file stay prompt while 4 long searches run", async () => {
    let running = 4;
    const searches = Array.from({ length: 4 }, () =>
      callTool(client, "search_files", longSearch(3)).finally(() => {
        running--;
      }),
    );
    const reader = await connect(server);
    try {
      // A call on another session is served while all four run.
      const read = await callTool(reader, "read_file", { path: small });
      expect(resultText(read)).toContain("hello");
      expect(running).toBe(4);
      const latencies: number[] = [];
      for (let i = 0; i < 2000 && running > 0; i++) {
        latencies.push(await healthzMs());
        await Bun.sleep(20);
      }
      expect(latencies.length).toBeGreaterThan(5);
      expect(Math.max(...latencies)).toBeLessThan(1000);
    } finally {
      await reader.close();
    }
    for (const r of await Promise.all(searches)) expect((r.structuredContent as { timed_out?: boolean }).timed_out).toBe(true);
  }, 30_000);

  test.skipIf(!linux)("cancelling a search ends its work, and the next call is served", async () => {
    const pid = server.proc.pid;
    const before = cpuMs(pid);
    const controller = new AbortController();
    const call = client.callTool({ name: "search_files", arguments: longSearch(120) }, { signal: controller.signal });
    const settled = call.then(
      () => "answered",
      () => "rejected",
    );
    await waitFor("the search to be using CPU", () => cpuMs(pid) - before > 300, 20_000);
    controller.abort();
    expect(await settled).toBe("rejected");
    // Had the search gone on, the server would burn a core: wait for a quarter second with almost none.
    await waitFor(
      "the server to go idle after the cancel",
      async () => {
        const start = cpuMs(pid);
        const t = performance.now();
        await Bun.sleep(250);
        const used = cpuMs(pid) - start;
        return used < 0.4 * (performance.now() - t) ? true : undefined;
      },
      5_000,
    );
    const next = await callTool(client, "search_files", { path: textDir, pattern: "*.txt" });
    expect((next.structuredContent as { matches: string[] }).matches).toEqual([join(textDir, "text.txt")]);
  }, 30_000);
});
