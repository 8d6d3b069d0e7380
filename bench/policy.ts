// `bun bench/policy.ts [--binary B] [--baseline OLD_BINARY] [--seconds N]`:
// the file policy's figures, load from wrk (C, not JS on the same cores).
// - symlink-race leaks: wrk hammers read_file on a link that a bash loop flips
//   between a file inside allowed_paths and one outside; a Lua response hook
//   counts replies that carry the outside file's marker (goal: 0);
// - read_file req/s at 8 connections, for this binary and, when given, a baseline.
// Prints a table and appends it to bench/results.md under "File policy".
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchDir, freePort, pingReady, repoRoot, wrk as runWrk, startProcess } from "./lib.ts";

const { values } = parseArgs({ options: { binary: { type: "string" }, baseline: { type: "string" }, seconds: { type: "string" }, runs: { type: "string" } } });
const binary = values.binary ?? join(repoRoot, "dist", `lmcp-${process.platform}-${process.arch}`);
const SECONDS = Number(values.seconds ?? 15);
const RUNS = Number(values.runs ?? 3);
const TOKEN = "bench-token";
const work = mkdtempSync(join(benchDir, ".work-policy-"));

const inside = join(work, "srv");
mkdirSync(inside);
mkdirSync(join(work, "outside"));
writeFileSync(join(inside, "inside.txt"), "INSIDE\n");
writeFileSync(join(work, "outside", "secret.txt"), "OUTSIDE-SECRET\n");
writeFileSync(join(inside, "small.txt"), "hello from a small file\n");
symlinkSync(join(inside, "inside.txt"), join(inside, "link"));

const luaFor = (path: string, countMarker: boolean) => {
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "read_file", arguments: { path } } });
  return `wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
${
  countMarker
    ? `leaks = 0 -- a global: thread:get() reads only globals
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) leaks = 0 end
function response(status, headers, body) if string.find(body, "OUTSIDE%-SECRET") then leaks = leaks + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("leaks") end
  io.write(string.format("LEAKS %d\\n", total))
end`
    : ""
}`;
};

async function wrk(url: string, lua: string, seconds: number, connections = 8): Promise<{ requests: number; rps: number; leaks: number; errors: string }> {
  const r = await runWrk(url, lua, { seconds, connections });
  return { ...r, leaks: Number(/LEAKS (\d+)/.exec(r.out)?.[1] ?? NaN) };
}

/** Every process this bench starts, stopped in `finally` whatever fails. */
const started: { stop(): Promise<void> }[] = [];

async function serve(bin: string, args: string[]) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const env = { HOME: work, XDG_CONFIG_HOME: join(work, "config"), XDG_STATE_HOME: join(work, "state"), LMCP_TOKEN: TOKEN, LMCP_AUDIT_LOG: "off" };
  const p = await startProcess([bin, "serve", "--listen", `127.0.0.1:${port}`, ...args], env, pingReady(url, TOKEN));
  started.push(p);
  return { url, p };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const lines: string[] = [];
const report = (s: string) => {
  console.log(s);
  lines.push(s);
};

try {
  // 1. The race, with allowed_paths so the outside file must never come back.
  const config = join(work, "race.toml");
  writeFileSync(config, `allowed_paths = [${JSON.stringify(inside)}]\n`);
  const race = await serve(binary, ["--config", config]);
  const flipper = Bun.spawn(
    ["bash", "-c", `end=$((SECONDS+${SECONDS + 5})); while [ $SECONDS -lt $end ]; do ln -sfn ${inside}/inside.txt ${inside}/link; ln -sfn ${work}/outside/secret.txt ${inside}/link; done`],
    { stdout: "ignore", stderr: "ignore" },
  );
  started.push({ stop: async () => void (flipper.kill("SIGKILL"), await flipper.exited) });
  const r = await wrk(race.url, luaFor(join(inside, "link"), true), SECONDS);
  flipper.kill("SIGKILL");
  await flipper.exited;
  await race.p.stop();
  report(`| symlink-race leaks (read_file on a link flipped by another process) | ${r.leaks} of ${r.requests} calls in ${SECONDS} s | goal 0 | ${r.leaks === 0 ? "pass" : "FAIL"} |`);

  // 2. read_file throughput: both servers up at once, runs interleaved so drift on a shared machine hits both alike.
  const builds = [["this build", binary], ...(values.baseline ? [["baseline", values.baseline]] : [])] as const;
  const servers = [];
  for (const [, bin] of builds) servers.push(await serve(bin, []));
  const lua = luaFor(join(inside, "small.txt"), false);
  for (const s of servers) await wrk(s.url, lua, 2); // warm-up
  const rps: number[][] = builds.map(() => []);
  for (let i = 0; i < RUNS; i++) for (const [k, s] of servers.entries()) rps[k]!.push((await wrk(s.url, lua, 5)).rps);
  for (const s of servers) await s.p.stop();
  for (const [k, [name]] of builds.entries()) {
    report(`| read_file req/s, 8 connections (wrk), ${name} | ${median(rps[k]!).toFixed(0)} (runs: ${rps[k]!.map((x) => x.toFixed(0)).join(", ")}) | | |`);
  }
  if (rps.length === 2) {
    const change = (100 * (median(rps[0]!) - median(rps[1]!))) / median(rps[1]!);
    report(`| read_file req/s change against the baseline | ${change >= 0 ? "+" : ""}${change.toFixed(1)} % | ≥ −5 % | ${change >= -5 ? "pass" : "FAIL"} |`);
  }
  appendFileSync(join(benchDir, "results.md"), `\n## File policy (bun bench/policy.ts, ${new Date().toISOString().slice(0, 10)})\n\n| what | measured | goal | result |\n|---|---|---|---|\n${lines.join("\n")}\n`);
} finally {
  for (const p of started.reverse()) await p.stop().catch(() => undefined); // stopping twice is harmless
  rmSync(work, { recursive: true, force: true });
}
