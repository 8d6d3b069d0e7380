// `bun bench/sessions.ts [--binary B] [--sends N]`: session_send → first echo
// latency on the compiled binary, over loopback HTTP with the SDK client. A
// session runs `cat` on a raw terminal (each byte echoed by cat as it arrives);
// per send, a session_read with wait_for on that character is already parked on
// the server, and the time runs from calling session_send to that read's answer.
// Reference: the same echo on a Bun PTY in this process, with no MCP in between.
// Prints the rows and puts them in bench/results.md under "Terminal sessions"
// (that section is replaced, the others are left alone).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type CallToolResult, Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { build } from "../build/build.ts";
import { benchDir, fmt, freePort, machineFacts, pingReady, repoRoot, startProcess } from "./lib.ts";

const { values } = parseArgs({ options: { binary: { type: "string" }, sends: { type: "string" } } });
const SENDS = Number(values.sends ?? 500);
const WARMUP = 50;
const host = `${process.platform}-${process.arch}`;
const binary = values.binary ?? join(repoRoot, "dist", `lmcp-${host}`);
if (!values.binary) await build([host]);
if (!existsSync(binary)) throw new Error(`no binary at ${binary}`);

const TOKEN = "bench-token";
const HEADING = "## Terminal sessions";
/** Raw mode without echo: cat writes each byte back itself, at once, and no line buffer fills up. */
const CAT = "stty raw -echo; exec cat";
const CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** The floor: write a byte to a Bun PTY running the same cat, time until its echo arrives. */
async function ptyFloor(n: number): Promise<number[]> {
  let waiting: ((text: string) => void) | undefined;
  const proc = Bun.spawn(["bash", "-c", CAT], { terminal: { cols: 80, rows: 24, data: (_t, d) => waiting?.(new TextDecoder().decode(d)) } });
  try {
    // The stty must have run before the first timed byte: wait for a probe's echo.
    await new Promise<void>((resolve) => {
      const probe = setInterval(() => proc.terminal!.write("."), 20);
      waiting = (t) => t.includes(".") && (clearInterval(probe), resolve());
    });
    const xs: number[] = [];
    for (let i = 0; i < n + WARMUP; i++) {
      const ch = CHARS[i % CHARS.length]!;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        waiting = (t) => t.includes(ch) && resolve();
        proc.terminal!.write(ch);
      });
      if (i >= WARMUP) xs.push(performance.now() - t0);
    }
    return xs;
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
    proc.terminal?.close();
  }
}

const work = mkdtempSync(join(benchDir, ".work-sessions-"));
const rows: string[] = [];
try {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const env = { HOME: work, XDG_CONFIG_HOME: join(work, "config"), XDG_STATE_HOME: join(work, "state"), LMCP_TOKEN: TOKEN };
  const server = await startProcess([binary, "serve", "--listen", `127.0.0.1:${port}`], env, pingReady(url, TOKEN));
  const client = new Client({ name: "lmcp-bench", version: "0.0.0" });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
    const call = async (name: string, args: Record<string, unknown>) => {
      const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
      if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.content)}`);
      return r.structuredContent as Record<string, unknown>;
    };
    const id = String((await call("session_start", { command: CAT })).session_id);
    try {
      // Until stty has run, a byte is echoed twice (by the terminal and by cat): settle on a probe first.
      await call("session_send", { session_id: id, input: "." });
      await call("session_read", { session_id: id, wait_for: ".", timeout_s: 10 });
      await call("session_read", { session_id: id, idle_ms: 200 });
      const parked: number[] = [];
      const sequential: number[] = [];
      for (let i = 0; i < SENDS + WARMUP; i++) {
        const ch = CHARS[i % CHARS.length]!;
        // Parked: the read is sent first, so what is timed is send → echo → the waiting read's answer.
        const reading = call("session_read", { session_id: id, wait_for: ch, timeout_s: 10 });
        const t0 = performance.now();
        await call("session_send", { session_id: id, input: ch });
        const r = await reading;
        const t1 = performance.now();
        if (r.woke_on !== "match") throw new Error(`echo of ${ch} not seen: ${JSON.stringify(r)}`);
        // What an agent does without parking: send, then read.
        const ch2 = ch.toUpperCase();
        const t2 = performance.now();
        await call("session_send", { session_id: id, input: ch2 });
        const r2 = await call("session_read", { session_id: id, wait_for: ch2, timeout_s: 10 });
        const t3 = performance.now();
        if (r2.woke_on !== "match") throw new Error(`echo of ${ch2} not seen: ${JSON.stringify(r2)}`);
        if (i >= WARMUP) {
          parked.push(t1 - t0);
          sequential.push(t3 - t2);
        }
      }
      const noop: number[] = [];
      for (let i = 0; i < SENDS + WARMUP; i++) {
        const t0 = performance.now();
        await call("session_list", {});
        if (i >= WARMUP) noop.push(performance.now() - t0);
      }
      const floor = await ptyFloor(SENDS);
      const p = (xs: number[]) => `p50 ${fmt(percentile(xs, 50), 3)}, p99 ${fmt(percentile(xs, 99), 3)}`;
      rows.push(`| session_send → first echo, read parked on the server (ms, ${SENDS} sends) | ${p(parked)} | PTY echo in process, no MCP: ${p(floor)} | +${fmt(percentile(parked, 50) - percentile(floor, 50), 3)} ms at p50 | (information) |`);
      rows.push(`| session_send, then session_read wait_for the echo (ms, ${SENDS} sends) | ${p(sequential)} | one session_list call (MCP round trip, no work): ${p(noop)} | two calls | (information) |`);
    } finally {
      await call("session_close", { session_id: id }).catch(() => undefined);
    }
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const section = [
  `${HEADING} (bun bench/sessions.ts, ${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${machineFacts()}; load average after the run ${load}. Binary: \`${binary.replace(`${repoRoot}/`, "")}\`; SDK client over loopback HTTP (2026-07-28 era); the session runs \`${CAT}\`.`,
  "",
  "| what | measured | reference | difference | result |",
  "|---|---|---|---|---|",
  ...rows,
  "",
].join("\n");
console.log(section);

const path = join(benchDir, "results.md");
const current = readFileSync(path, "utf8");
const start = current.indexOf(`\n${HEADING}`);
let next = start < 0 ? -1 : current.indexOf("\n## ", start + 1);
if (next < 0) next = current.length;
const updated = start < 0 ? `${current.replace(/\n*$/, "\n")}\n${section}` : `${current.slice(0, start)}\n${section}${current.slice(next)}`;
writeFileSync(path, updated);
console.log(`wrote the "${HEADING}" section of bench/results.md`);
