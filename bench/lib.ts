// What the benchmark rows share: free ports, processes that announce their
// address, wrk (a C load generator) driven by a Lua script, and medians with spread.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";

export const benchDir = import.meta.dir;
export const repoRoot = resolve(benchDir, "..");
export const bun = process.execPath;

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const s = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export interface Proc {
  proc: Bun.Subprocess;
  stop(): Promise<void>;
}

/** Starts a process and waits (bounded) until `ready` answers true. */
export async function startProcess(argv: string[], env: Record<string, string>, ready: () => Promise<boolean>, timeoutMs = 15_000): Promise<Proc> {
  const proc = Bun.spawn(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "ignore", stderr: "ignore" });
  const deadline = Date.now() + timeoutMs;
  while (!(await ready().catch(() => false))) {
    if (proc.exitCode !== null) throw new Error(`${argv.join(" ")} exited with ${proc.exitCode}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${argv.join(" ")} did not become ready in ${timeoutMs} ms`);
    }
    await Bun.sleep(5);
  }
  return {
    proc,
    stop: async () => {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** True once POST url with this token answers a ping with 200. */
export const pingReady = (url: string, token: string) => async () =>
  (
    await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    })
  ).status === 200;

export const wrkMissing = "the bench drives its load with wrk, a C load generator, so the client does not cap the figures: apt-get install wrk";

/** Exits non-zero, saying how to get it, when wrk is not on PATH; call it before any work. */
export function requireWrk(): void {
  if (Bun.which("wrk")) return;
  console.error(`bench: wrk not found; ${wrkMissing}`);
  process.exit(1);
}

/** Lua that makes wrk POST one JSON body with a Bearer token and the headers an MCP client sends (plus `headers`). */
export function wrkPost(token: string, body: unknown, headers: Record<string, string> = {}): string {
  // JSON.stringify of a string is also a valid Lua string literal for the text we send (no control characters).
  const extra = Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`);
  return `wrk.method = "POST"
wrk.body = ${JSON.stringify(JSON.stringify(body))}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = ${JSON.stringify(`Bearer ${token}`)}
${extra.join("")}`;
}

/** The two protocol eras a server is measured in: 2025 (claim-less, the legacy path) and 2026-07-28 (native). */
export type Era = "2025" | "2026-07-28";
export const ERAS: readonly Era[] = ["2025", "2026-07-28"];

export interface ToolCall {
  jsonrpc: "2.0";
  id: number;
  method: "tools/call";
  params: { name: string; arguments: Record<string, unknown>; _meta?: Record<string, unknown> };
}

/** One request as a client of `era` sends it: its body and the headers beyond wrkPost's. */
export interface EraCall {
  era: Era;
  body: ToolCall;
  headers: Record<string, string>;
}

/**
 * A tools/call as each era's client sends it. 2025: a stateless client's call after initialize (no envelope,
 * `MCP-Protocol-Version: 2025-11-25`). 2026-07-28: the `_meta` envelope in params and the SEP-2243 headers.
 */
export function eraCall(era: Era, call: ToolCall): EraCall {
  if (era === "2025") return { era, body: call, headers: { "MCP-Protocol-Version": "2025-11-25" } };
  const _meta = {
    ...call.params._meta,
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": { name: "lmcp-bench", version: "1" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  return {
    era,
    body: { ...call, params: { ...call.params, _meta } },
    headers: { "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": call.method, "Mcp-Name": call.params.name },
  };
}

/** A done() hook that prints the run's latency percentiles (wrk keeps them in µs) for wrk() to read. */
export const wrkLatencyHook = `function done(summary, latency, requests)
  io.write(string.format("LATENCY_US p50=%d p99=%d\\n", latency:percentile(50), latency:percentile(99)))
end
`;

export interface WrkResult {
  requests: number;
  rps: number;
  /** From wrkLatencyHook; NaN when the script has another done() hook. */
  p50_ms: number;
  p99_ms: number;
  /** wrk's non-2xx and socket-error lines, "" when there were none. */
  errors: string;
  /** wrk's whole output, for lines a script's own done() hook prints. */
  out: string;
}

/** One closed-loop wrk run of `lua` against url: `connections` connections over at most 2 threads. */
export async function wrk(url: string, lua: string, opts: { seconds: number; connections?: number }): Promise<WrkResult> {
  if (!Bun.which("wrk")) throw new Error(wrkMissing);
  const connections = opts.connections ?? 8;
  const dir = mkdtempSync(join(benchDir, ".work-wrk-"));
  try {
    const script = join(dir, "request.lua");
    writeFileSync(script, lua);
    const argv = ["wrk", `-t${Math.min(2, connections)}`, `-c${connections}`, `-d${opts.seconds}s`, "-s", script, url];
    const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    if ((await p.exited) !== 0) throw new Error(`wrk against ${url} failed: ${err.trim() || out.trim()}`);
    const us = (name: string) => Number(new RegExp(`LATENCY_US.*\\b${name}=(\\d+)`).exec(out)?.[1] ?? NaN) / 1000;
    return {
      requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
      p50_ms: us("p50"),
      p99_ms: us("p99"),
      errors: (out.match(/^\s*(Non-2xx.*|Socket errors.*)$/gm) ?? []).map((l) => l.trim()).join("; "),
      out,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Fails unless one POST of the call answers 200 with a JSON-RPC result that is not a tool error (wrk counts only
 * statuses), served in the call's era: a 2026-07-28 result carries `resultType`, a 2025 one does not.
 */
export async function expectResult(url: string, token: string, call: EraCall): Promise<void> {
  const r = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", ...call.headers },
    body: JSON.stringify(call.body),
  });
  const text = await r.text();
  const ok = r.status === 200 && text.includes('"result"') && !text.includes('"isError":true');
  const eraOk = text.includes('"resultType":"complete"') === (call.era === "2026-07-28");
  if (!ok || !eraOk) throw new Error(`${url} answered ${r.status} to a ${call.era}-era call${ok ? " outside that era" : ""}: ${text.slice(0, 300)}`);
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export function stat(values: number[]): Stat {
  const xs = [...values].sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)]!, min: xs[0]!, max: xs[xs.length - 1]! };
}

export async function repeat(n: number, f: () => Promise<number>): Promise<Stat> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await f());
  return stat(xs);
}

export const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
/** A difference with its sign, "+0.22" or "−0.01". */
export const signed = (x: number, digits = 2) => (x < 0 ? `−${fmt(-x, digits)}` : `+${fmt(x, digits)}`);
export const spread = (s: Stat, digits = 2) => `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;

export function machineFacts(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpu}, ${cpus().length} cores, Bun ${Bun.version}, ${process.platform}-${process.arch}, ${new Date().toISOString().slice(0, 10)}`;
}

/** A `Key:   N kB` field of a /proc file, in MB. */
const procFieldMB = (text: string, key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN) / 1024;

export async function rssMB(pid: number): Promise<number> {
  return procFieldMB(await Bun.file(`/proc/${pid}/status`).text(), "VmRSS");
}

/** What RSS is made of: anonymous memory (the process's own) and pages of the binary it maps (shared, reclaimable). */
export async function memoryMB(pid: number): Promise<{ rss: number; anon: number; file: number; pss: number }> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const rollup = await Bun.file(`/proc/${pid}/smaps_rollup`).text();
  return { rss: procFieldMB(status, "VmRSS"), anon: procFieldMB(status, "RssAnon"), file: procFieldMB(status, "RssFile"), pss: procFieldMB(rollup, "Pss") };
}

/**
 * RSS once a server has gone quiet: from 2.5 s on (lmcp collects garbage 1 to 2 s after its last
 * request), polls until two readings 250 ms apart agree within 0.25 MB; at most 5 s.
 */
export async function settledRssMB(pid: number): Promise<number> {
  const started = performance.now();
  let last = await rssMB(pid);
  for (;;) {
    await Bun.sleep(250);
    const now = await rssMB(pid);
    const waited = performance.now() - started;
    if ((waited >= 2500 && Math.abs(now - last) <= 0.25) || waited >= 5000) return now;
    last = now;
  }
}

/** One line of the results table, as every bench module hands it to run.ts. */
export interface BenchRow {
  what: string;
  measured: string;
  reference: string;
  ratio: string;
  target: string;
  pass: boolean;
}

/** What run.ts gives a bench module that adds rows (bench/nats.ts, bench/console.ts). */
export interface BenchContext {
  /** The compiled lmcp. */
  binary: string;
  /** A bench/.work-* dir that run.ts removes afterwards. */
  work: string;
  runs: number;
  /** wrk seconds per run. */
  seconds: number;
  row(r: BenchRow): void;
}

/** One figure set for one endpoint: the call checked once, a 1 s wrk warm-up, then `seconds` under wrk; any failed request fails the bench. */
export async function measureWrk(url: string, token: string, call: EraCall, seconds: number, connections: number): Promise<WrkResult> {
  await expectResult(url, token, call);
  const lua = wrkPost(token, call.body, call.headers) + wrkLatencyHook;
  await wrk(url, lua, { seconds: 1, connections });
  const r = await wrk(url, lua, { seconds, connections });
  if (r.errors) throw new Error(`wrk against ${url} (${call.era} era): ${r.errors}`);
  return r;
}

/** `runs` rounds over the targets in turn, so drift on a shared machine hits each alike. */
export async function rounds<K extends string>(runs: number, targets: Record<K, () => Promise<WrkResult>>): Promise<Record<K, WrkResult[]>> {
  const names = Object.keys(targets) as K[];
  const out = Object.fromEntries(names.map((k) => [k, [] as WrkResult[]])) as Record<K, WrkResult[]>;
  for (let i = 0; i < runs; i++) for (const k of names) out[k].push(await targets[k]());
  return out;
}
