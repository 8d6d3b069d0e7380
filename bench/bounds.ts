// `bun bench/bounds.ts [--binary B]`: memory and latency bounds under hostile
// load (issue "Policy that holds", case 8), on the compiled binary:
// - peak RSS (VmHWM) of the server while 8 clients each send a body just under
//   max_body_bytes (a write_file of ~16 MiB) at once (goal ≤ 300 MB);
// - /healthz latency while a batch of 20 list_dir calls runs over a directory
//   of 100,000 entries.
// Memory, not speed, is measured, so the clients are plain fetch calls here.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchDir, freePort, pingReady, repoRoot, startProcess } from "./lib.ts";

const { values } = parseArgs({ options: { binary: { type: "string" } } });
const binary = values.binary ?? join(repoRoot, "dist", `lmcp-${process.platform}-${process.arch}`);
const TOKEN = "bench-token";
const MAX_BODY = 16 * 1024 * 1024;
const work = mkdtempSync(join(benchDir, ".work-bounds-"));

const vmHwmMB = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
const post = (url: string, body: string) =>
  fetch(url, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", accept: "application/json" }, body });

const lines: string[] = [];
const report = (s: string) => {
  console.log(s);
  lines.push(s);
};

try {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const env = { HOME: work, XDG_CONFIG_HOME: join(work, "config"), XDG_STATE_HOME: join(work, "state"), LMCP_TOKEN: TOKEN, LMCP_AUDIT_LOG: "off" };
  const server = await startProcess([binary, "serve", "--listen", `127.0.0.1:${port}`], env, pingReady(url, TOKEN));
  const pid = server.proc.pid;
  try {
    const idle = vmHwmMB(pid);
    // 1. Eight maximal bodies at once.
    const content = "x".repeat(MAX_BODY - 512);
    const bodies = Array.from({ length: 8 }, (_, i) =>
      JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: "write_file", arguments: { path: join(work, `big-${i}.txt`), content } } }),
    );
    const statuses = await Promise.all(bodies.map((b) => post(url, b).then((r) => r.status)));
    const peak = vmHwmMB(pid);
    const counts = statuses.reduce<Record<number, number>>((m, s) => ({ ...m, [s]: (m[s] ?? 0) + 1 }), {});
    report(`| peak RSS, 8 concurrent bodies of ${(MAX_BODY / 1048576).toFixed(0)} MiB (write_file) | ${peak.toFixed(0)} MB (idle peak ${idle.toFixed(0)} MB; statuses ${JSON.stringify(counts)}) | ≤ 300 MB | ${peak <= 300 ? "pass" : "FAIL"} |`);

    // 2. /healthz during a batch of 20 list_dir calls over 100k entries.
    const big = join(work, "many");
    mkdirSync(big);
    for (let i = 0; i < 100_000; i++) writeFileSync(join(big, `f${i}`), "");
    const batch = JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: "list_dir", arguments: { path: big, max_entries: 100_000 } } })));
    let done = false;
    const started = performance.now();
    const batchDone = post(url, batch).then(async (r) => {
      const text = await r.text();
      done = true;
      return { status: r.status, bytes: text.length, ms: performance.now() - started };
    });
    const lat: number[] = [];
    let notOk = 0;
    for (let i = 0; i < 10_000 && !done; i++) {
      const t = performance.now();
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if ((await r.text()).trim() !== "ok") notOk++;
      lat.push(performance.now() - t);
    }
    const b = await batchDone;
    lat.sort((x, y) => x - y);
    const p99 = lat[Math.floor(lat.length * 0.99)] ?? NaN;
    report(`| /healthz during a 20-call list_dir batch over 100k entries | p50 ${(lat[Math.floor(lat.length / 2)] ?? NaN).toFixed(2)} ms, p99 ${p99.toFixed(1)} ms, max ${(lat.at(-1) ?? NaN).toFixed(1)} ms (${lat.length} probes, ${notOk} not ok; batch ${b.status}, ${(b.bytes / 1048576).toFixed(1)} MiB in ${(b.ms / 1000).toFixed(1)} s; peak RSS ${vmHwmMB(pid).toFixed(0)} MB) | | |`);
  } finally {
    await server.stop();
  }
  appendFileSync(join(benchDir, "results.md"), `\n## Bounds (bun bench/bounds.ts, ${new Date().toISOString().slice(0, 10)})\n\n| what | measured | goal | result |\n|---|---|---|---|\n${lines.join("\n")}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
