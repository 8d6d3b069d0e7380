// Fuzzes one real `lmcp serve` and one real `lmcp hub` (whose registry holds that
// serve) with over 10,000 malformed or hostile requests generated from a fixed
// seed, over raw sockets and fetch, 16 at a time. Every reply must be a
// well-formed HTTP/1.1 response with an acceptable status; no request may go
// unanswered past its deadline; after every batch both processes must be alive,
// answer /healthz and an authenticated ping, and stay under an RSS bound; no log
// line may hold a token.
//
// LMCP_FUZZ_ROUNDS=N repeats the plan N times (a soak run for memory growth);
// LMCP_FUZZ_REPORT=FILE writes the summary, every problem and the non-request log lines there.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/context.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, rpc, startServer } from "../helpers/server.ts";
import { categories } from "./fuzz_cases.ts";
import { type Fixtures, type Target, type TargetInfo, type ToolInfo, type Wire, SENTINEL_TOKEN, resetIds, rpcMessages } from "./fuzz_wire.ts";
import { type Outcome, header, rawExchange } from "./http_raw.ts";
import { mulberry32 } from "./prng.ts";

const SEED = 0x0f022ed5;
/** RSS comes from /proc/PID/status and several path tricks are /proc files: Linux only. */
const linux = process.platform === "linux";
const CONCURRENCY = 16;
/** A request not settled by then counts as a hang. */
const DEADLINE_MS = 10_000;
const BATCH = 500;
const RSS_LIMIT_MB = 300;
/** The median RSS of the second half of the batches may exceed the first half's by this much before it counts as climbing. */
const RSS_GROWTH_MB = 64;
/** Client-chosen values (method, tool, host) are cut in the log, so no request line grows past this. */
const MAX_LOG_LINE = 2000;
/** A ping on another connection while a slow client trickles must answer within this. */
const PROMPT_MS = 1500;

let serve: StartedServer;
let hub: StartedServer;
let registryDir: string;
let fx: Fixtures;

beforeAll(async () => {
  if (!linux) return;
  serve = await startServer();
  const dir = join(serve.home, "fuzz");
  fx = {
    dir,
    small: join(dir, "small.txt"),
    fifo: join(dir, "fifo"),
    sub: join(dir, "sub"),
    loop: join(dir, "loop"),
    writeDir: join(dir, "w"),
    editFile: join(dir, "w", "edit.txt"),
  };
  mkdirSync(fx.sub, { recursive: true });
  mkdirSync(fx.writeDir, { recursive: true });
  writeFileSync(fx.small, "hello\nworld\nalpha\n");
  writeFileSync(join(fx.sub, "inner.txt"), "inner hello\n");
  writeFileSync(fx.editFile, "alpha beta alpha\n");
  symlinkSync(fx.loop, fx.loop);
  const mkfifo = Bun.spawnSync(["mkfifo", fx.fifo]);
  if (mkfifo.exitCode !== 0) throw new Error(`mkfifo failed: ${mkfifo.stderr.toString()}`);
  registryDir = tempDir("lmcp-fuzz-registry-");
  hub = await startHub([{ name: "backend", url: serve.url, token: serve.token }], { registryDir });
});

afterAll(async () => {
  await hub?.stop();
  await serve?.stop();
  if (registryDir) rmSync(registryDir, { recursive: true, force: true });
});

async function toolsOf(s: StartedServer): Promise<ToolInfo[]> {
  const r = (await (await rpc(s, { jsonrpc: "2.0", id: 1, method: "tools/list" })).json()) as {
    result: { tools: { name: string; inputSchema: { properties?: ToolInfo["properties"]; required?: string[] } }[] };
  };
  return r.result.tools.map((t) => ({ name: t.name, properties: t.inputSchema.properties ?? {}, required: t.inputSchema.required ?? [] }));
}

const portOf = (s: StartedServer) => Number(new URL(s.url).port);

function rssMb(s: StartedServer): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.proc.pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** An authenticated ping; returns what is wrong (error, status, or too slow), or undefined. */
async function pingProblem(s: StartedServer, limitMs: number): Promise<string | undefined> {
  const started = performance.now();
  try {
    const r = await fetch(s.url, {
      method: "POST",
      headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json", accept: "application/json" },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      signal: AbortSignal.timeout(DEADLINE_MS),
    });
    const text = await r.text();
    const ms = performance.now() - started;
    if (r.status !== 200 || !text.includes('"result":{}')) return `ping answered ${r.status} ${text.slice(0, 200)}`;
    if (ms > limitMs) return `ping took ${ms.toFixed(0)} ms (limit ${limitMs})`;
    return undefined;
  } catch (err) {
    return `ping failed: ${(err as Error).message}`;
  }
}

async function fetchExchange(port: number, w: Extract<Wire, { via: "fetch" }>): Promise<Outcome> {
  const started = performance.now();
  const signal = AbortSignal.timeout(DEADLINE_MS);
  try {
    const r = await fetch(`http://127.0.0.1:${port}${w.path}`, { method: w.method, headers: w.headers, ...(w.body ? { body: new Uint8Array(w.body) } : {}), signal });
    const body = Buffer.from(await r.arrayBuffer());
    return { kind: "response", response: { status: r.status, headers: [...r.headers.entries()], body }, ms: performance.now() - started };
  } catch (err) {
    if (signal.aborted) return { kind: "hang", ms: performance.now() - started };
    return { kind: "closed", error: (err as Error).message, ms: performance.now() - started };
  }
}

interface Planned {
  n: number;
  target: Target;
  category: string;
  seed: number;
}

interface Tally {
  requests: number;
  /** Closes without a response, by the reason the case gave for allowing one. */
  closed: Map<string, number>;
  statuses: Map<string, number>;
  problems: string[];
  maxMs: number;
  via: { raw: number; fetch: number };
}

/** What is wrong with one exchange, judged by the case's expectations; an empty list when nothing is. */
function judge(w: Wire, outcome: Outcome, meanwhile: string | undefined, answeredFromHead: boolean | undefined): string[] {
  const problems: string[] = [];
  if (meanwhile) problems.push(`while this client was slow, ${meanwhile}`);
  if (w.fromHead && answeredFromHead !== true) problems.push("not answered from the request head alone: the server waited for the body it should refuse unread");
  if (outcome.kind === "hang") problems.push(`HANG: no response and no close within ${DEADLINE_MS} ms`);
  else if (outcome.kind === "malformed") problems.push(`malformed reply: ${outcome.why}`);
  else if (outcome.kind === "closed") {
    if (!w.closeOk) problems.push(`closed without a response (${outcome.error ?? "clean close"})`);
  } else {
    const { status, body } = outcome.response;
    const ct = (header(outcome.response, "content-type") ?? "").toLowerCase();
    if (status === 500) problems.push(`500 internal error: ${body.toString().slice(0, 300)}`);
    if (w.expect && !w.expect.includes(status)) problems.push(`status ${status}, expected ${w.expect.join("/")}: ${body.toString().slice(0, 300)}`);
    else if (w.check) {
      const p = w.check(status, ct, body);
      if (p) problems.push(p);
    }
    if ((ct.startsWith("application/json") || ct.startsWith("text/event-stream")) && body.length > 0) {
      const ms = rpcMessages(ct, body);
      if (typeof ms === "string") problems.push(ms);
    }
  }
  return problems;
}

/** The start of what a case sends, for problem reports. */
function describeWire(w: Wire): string {
  const bytes = w.via === "raw" ? Buffer.concat(w.raw.parts.slice(0, 2)) : Buffer.concat([Buffer.from(`${w.method} ${w.path} (fetch) `), w.body ?? Buffer.alloc(0)]);
  const text = bytes.subarray(0, 400).toString("latin1");
  const at = text.indexOf("\r\n\r\n");
  return JSON.stringify(at >= 0 ? `${text.slice(0, text.indexOf("\r\n"))} … ${text.slice(at + 4, at + 200)}` : text.slice(0, 200));
}

const outcomeLabel = (o: Outcome) => (o.kind === "response" ? String(o.response.status) : o.kind);

test.skipIf(!linux)("over 10,000 malformed and hostile requests to serve and hub: no crash, no hang, every reply well-formed HTTP, RSS bounded, no token logged", async () => {
  const started = performance.now();
  const infoOf: Record<Target, TargetInfo> = {
    serve: { target: "serve", port: portOf(serve), token: serve.token, otherToken: hub.token, tools: await toolsOf(serve), fx },
    hub: { target: "hub", port: portOf(hub), token: hub.token, otherToken: serve.token, tools: await toolsOf(hub), fx },
  };
  const procs: Record<Target, StartedServer> = { serve, hub };
  const slowPings: string[] = [];
  const cats = categories((target) => async () => {
    const p = await pingProblem(procs[target], PROMPT_MS);
    slowPings.push(p ?? "ok");
    return p;
  });
  const genOf = new Map(cats.map((c) => [c.name, c.gen]));

  // The plan is fixed by the seed: which case, against which target, with which per-case seed, in which order.
  const master = mulberry32(SEED);
  const plan: Planned[] = [];
  for (const c of cats) {
    for (const target of ["serve", "hub"] as const) {
      for (let i = 0; i < c.count[target]; i++) plan.push({ n: 0, target, category: `${target}/${c.name}`, seed: master.int(0, 2 ** 31 - 1) });
    }
  }
  master.shuffle(plan).forEach((p, i) => (p.n = i));
  expect(plan.length).toBeGreaterThanOrEqual(10_000);
  const once = plan.length;
  for (let r = 1; r < Number(process.env.LMCP_FUZZ_ROUNDS ?? 1); r++) plan.push(...plan.slice(0, once).map((p) => ({ ...p, n: p.n + r * once })));

  const tallies = new Map<string, Tally>();
  const tally = (category: string): Tally => {
    let t = tallies.get(category);
    if (!t) tallies.set(category, (t = { requests: 0, closed: new Map(), statuses: new Map(), problems: [], maxMs: 0, via: { raw: 0, fetch: 0 } }));
    return t;
  };
  const rss: Record<Target, number[]> = { serve: [], hub: [] };
  const healthProblems: string[] = [];
  let hangs = 0;

  async function runCase(p: Planned): Promise<void> {
    const info = infoOf[p.target];
    resetIds();
    const w = genOf.get(p.category.slice(p.category.indexOf("/") + 1))!(info, mulberry32(p.seed));
    const { outcome, meanwhile, answeredFromHead } = w.via === "raw" ? await rawExchange(info.port, w.raw, DEADLINE_MS) : { outcome: await fetchExchange(info.port, w), meanwhile: undefined, answeredFromHead: undefined };
    const t = tally(p.category);
    t.requests++;
    t.via[w.via]++;
    const label = outcomeLabel(outcome);
    t.statuses.set(label, (t.statuses.get(label) ?? 0) + 1);
    t.maxMs = Math.max(t.maxMs, outcome.ms);
    if (outcome.kind === "hang") hangs++;
    if (outcome.kind === "closed" && w.closeOk) t.closed.set(w.closeOk, (t.closed.get(w.closeOk) ?? 0) + 1);
    for (const problem of judge(w, outcome, meanwhile, answeredFromHead)) t.problems.push(`#${p.n} (seed ${p.seed}, ${w.via}): ${problem}; sent ${describeWire(w)}`);
  }

  for (let from = 0; from < plan.length; from += BATCH) {
    const batch = plan.slice(from, from + BATCH);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < batch.length) await runCase(batch[next++]!);
      }),
    );
    for (const target of ["serve", "hub"] as const) {
      const s = procs[target];
      if (s.proc.exitCode !== null) {
        healthProblems.push(`${target} exited with ${s.proc.exitCode} during batch ${from / BATCH}`);
        continue;
      }
      const health = await fetch(`${s.base}/healthz`, { signal: AbortSignal.timeout(5000) }).then(
        async (r) => (r.status === 200 && (await r.text()) === "ok\n" ? undefined : `healthz answered ${r.status}`),
        (err: Error) => `healthz failed: ${err.message}`,
      );
      const ping = await pingProblem(s, 2000);
      for (const p of [health, ping]) if (p) healthProblems.push(`${target} after batch ${from / BATCH}: ${p}`);
      rss[target].push(rssMb(s));
    }
    if (healthProblems.length > 0) break;
  }
  const elapsed = (performance.now() - started) / 1000;

  // Logs: no token (the real ones, or the wrong one the fuzzer sent), and no handler that threw.
  const logs = { serve: serve.logs(), hub: hub.logs() };
  const logProblems: string[] = [];
  for (const [name, text] of Object.entries(logs)) {
    for (const [what, secret] of [["serve token", serve.token], ["hub token", hub.token], ["sentinel token", SENTINEL_TOKEN]] as const) {
      if (text.includes(secret)) logProblems.push(`${name} log holds the ${what}`);
    }
    const threw = text.split("\n").filter((l) => / error: /.test(l));
    if (threw.length > 0) logProblems.push(`${name} logged ${threw.length} error line(s), first: ${threw[0]!.slice(0, 300)}`);
    const long = text.split("\n").filter((l) => l.length > MAX_LOG_LINE);
    if (long.length > 0) logProblems.push(`${name} logged ${long.length} line(s) over ${MAX_LOG_LINE} chars, first: ${long[0]!.slice(0, 200)}…`);
  }

  // The summary table.
  const rows = [...tallies.entries()].sort(([a], [b]) => a.localeCompare(b));
  const total = rows.reduce((n, [, t]) => n + t.requests, 0);
  const problemCount = rows.reduce((n, [, t]) => n + t.problems.length, 0);
  const statusText = (t: Tally) => [...t.statuses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}×${v}`).join(" ");
  const maxRss = (xs: number[]) => Math.max(...xs);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
  const half = (xs: number[], second: boolean) => xs.slice(second ? Math.floor(xs.length / 2) : 0, second ? xs.length : Math.floor(xs.length / 2));
  const closedWhy = new Map<string, number>();
  for (const [, t] of tallies) for (const [why, n] of t.closed) closedWhy.set(why, (closedWhy.get(why) ?? 0) + n);
  const lines = [
    `fuzz (seed ${SEED}): ${total} requests in ${elapsed.toFixed(1)} s, ${CONCURRENCY} at a time; problems ${problemCount}, hangs ${hangs}, health problems ${healthProblems.length}`,
    `${"category".padEnd(26)} ${"reqs".padStart(5)} ${"raw/fetch".padStart(9)} ${"max ms".padStart(7)}  statuses (closed = no response, allowed only where noted)`,
    ...rows.map(([name, t]) => `${name.padEnd(26)} ${String(t.requests).padStart(5)} ${`${t.via.raw}/${t.via.fetch}`.padStart(9)} ${t.maxMs.toFixed(0).padStart(7)}  ${statusText(t)}${t.problems.length ? `  PROBLEMS ${t.problems.length}` : ""}`),
    "closed without a response, each allowed because the request is broken at the HTTP level:",
    ...[...closedWhy.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([why, n]) => `  ${String(n).padStart(4)}  ${why}`),
    ...(["serve", "hub"] as const).map((k) => `RSS MB ${k}: first ${rss[k][0]?.toFixed(0)}, median of first/second half ${median(half(rss[k], false)).toFixed(0)}/${median(half(rss[k], true)).toFixed(0)}, max ${maxRss(rss[k]).toFixed(0)}, last ${rss[k].at(-1)?.toFixed(0)}`),
    `RSS MB per batch, serve: ${rss.serve.map((x) => x.toFixed(0)).join(" ")}; hub: ${rss.hub.map((x) => x.toFixed(0)).join(" ")}`,
    `slow-client pings: ${slowPings.length}, all within ${PROMPT_MS} ms: ${slowPings.every((p) => p === "ok")}; log lines: serve ${logs.serve.split("\n").length}, hub ${logs.hub.split("\n").length}`,
  ];
  console.log(lines.join("\n"));
  const allProblems = [...healthProblems, ...logProblems, ...rows.flatMap(([name, t]) => t.problems.map((p) => `${name} ${p}`))];
  if (allProblems.length > 0) console.log(`problems (first 40 of ${allProblems.length}):\n${allProblems.slice(0, 40).join("\n")}`);
  if (process.env.LMCP_FUZZ_REPORT) writeFileSync(process.env.LMCP_FUZZ_REPORT, `${lines.join("\n")}\n${allProblems.join("\n")}\n--- serve log errors\n${logs.serve.split("\n").filter((l) => !/ client=/.test(l)).join("\n")}\n--- hub log errors\n${logs.hub.split("\n").filter((l) => !/ client=/.test(l)).join("\n")}\n`);

  expect(total).toBeGreaterThanOrEqual(10_000);
  expect(serve.proc.exitCode).toBeNull();
  expect(hub.proc.exitCode).toBeNull();
  expect(hangs).toBe(0);
  expect(allProblems).toEqual([]);
  for (const target of ["serve", "hub"] as const) {
    expect(maxRss(rss[target])).toBeLessThan(RSS_LIMIT_MB);
    expect(median(half(rss[target], true))).toBeLessThan(median(half(rss[target], false)) + RSS_GROWTH_MB);
  }
}, 240_000);

/**
 * A steady diet of cheap requests (half of them answered as SSE streams, the path that once leaked ~6 KB a call)
 * must not raise the RSS floor: a leak of a few KB per request hides in the fuzz run's noise, not here. The
 * floor (the lowest of several samples) ignores garbage waiting for the collector; a leak lifts it.
 */
test.skipIf(!linux)("RSS floor stays flat over 12,000 cheap requests after 6,000 to warm up, on serve and hub", async () => {
  const WARMUP = 6000;
  const SEGMENT = 2000;
  const SEGMENTS = 6;
  // The hub keeps warming up (JIT, heap sizing) for ~20,000 requests before it plateaus near 130 MB, so its
  // bound is looser; the endpoint code that leaked is the same in both, and serve's tight bound catches it.
  // On SDK v2 serve's floor settles ~16 MB higher under a loaded CI machine and then plateaus (135 139 146 152
  // 154 152); its JS heap is flat over 30k in-process calls (10.6 → 10.7 MB), so that is the allocator, not a
  // leak. A leak of the kind this test caught (kilobytes per request) grows far past 24 MB in 12,000 requests.
  const FLOOR_GROWTH_MB: Record<Target, number> = { serve: 24, hub: 32 };
  const mix = (s: StartedServer, target: Target): { body: string; accept: string; token: string }[] => {
    const call = (name: string, args: Record<string, unknown>) =>
      JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: target === "hub" ? `remote_${name}` : name, arguments: target === "hub" ? { host: "backend", ...args } : args } });
    const bodies = [
      '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      '{"jsonrpc":"2.0","id":"x","method":"tools/list"}',
      '{"jsonrpc":"2.0","id":2,"method":"no/such"}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":3,"meth',
      call("read_file", { path: fx.small }),
      call("list_dir", { path: fx.dir }),
    ];
    return bodies.flatMap((body) => [
      { body, accept: "application/json", token: s.token },
      { body, accept: "text/event-stream", token: s.token },
      { body, accept: "text/event-stream", token: s.token },
      { body, accept: "text/event-stream", token: s.token },
      { body, accept: "application/json", token: SENTINEL_TOKEN },
    ]);
  };
  async function drive(s: StartedServer, target: Target, count: number, offset: number): Promise<void> {
    const items = mix(s, target);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) {
          const item = items[(offset + next++) % items.length]!;
          const r = await fetch(s.url, {
            method: "POST",
            headers: { authorization: `Bearer ${item.token}`, "content-type": "application/json", accept: item.accept },
            body: item.body,
            signal: AbortSignal.timeout(DEADLINE_MS),
          });
          await r.arrayBuffer();
        }
      }),
    );
  }
  const results = await Promise.all(
    (["serve", "hub"] as const).map(async (target) => {
      const s = target === "serve" ? serve : hub;
      await drive(s, target, WARMUP, 0);
      const samples: number[] = [];
      for (let i = 0; i < SEGMENTS; i++) {
        await drive(s, target, SEGMENT, WARMUP + i * SEGMENT);
        samples.push(rssMb(s));
      }
      const floor = (xs: number[]) => Math.min(...xs);
      return { target, samples, growth: floor(samples.slice(SEGMENTS / 2)) - floor(samples.slice(0, SEGMENTS / 2)) };
    }),
  );
  console.log(`steady-state RSS MB every ${SEGMENT} requests: ${results.map((r) => `${r.target} ${r.samples.map((x) => x.toFixed(0)).join(" ")} (floor +${r.growth.toFixed(0)})`).join("; ")}`);
  for (const r of results) expect(r.growth).toBeLessThan(FLOOR_GROWTH_MB[r.target]);
  expect(serve.proc.exitCode).toBeNull();
  expect(hub.proc.exitCode).toBeNull();
}, 120_000);
