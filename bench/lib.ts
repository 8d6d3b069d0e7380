// What the benchmark rows share: free ports, processes that announce their
// address, the load generator in its own process, and medians with spread.
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

export interface LoadResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
}

/** Runs bench/load.ts in its own process against one endpoint. */
export async function load(url: string, token: string, body: unknown, connections: number, seconds: number): Promise<LoadResult> {
  const p = Bun.spawn([bun, join(benchDir, "load.ts"), url, token, JSON.stringify(body), String(connections), String(seconds)], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`load generator failed against ${url}`);
  const r = JSON.parse(out) as LoadResult;
  if (r.errors > 0) throw new Error(`${r.errors} of ${r.requests} requests to ${url} failed`);
  return r;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export async function repeat(n: number, f: () => Promise<number>): Promise<Stat> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await f());
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)]!, min: xs[0]!, max: xs[xs.length - 1]! };
}

export const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
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
