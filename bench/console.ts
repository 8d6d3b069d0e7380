// The console's and metrics' bench rows (issue 16), run by bench/run.ts
// (`--only console`): read_file latency and throughput with the console and
// /metrics off, and on with a browser's live feed open; whether that feed keeps
// up under wrk's load (every call delivered, marker calls seen within 1 s);
// and idle RSS with both on. The load is wrk; the feed reader and the marker
// calls are one SSE stream and a few requests a second from this process.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BenchContext,
  type EraCall,
  type Proc,
  eraCall,
  fmt,
  freePort,
  measureWrk,
  pingReady,
  settledRssMB,
  signed,
  spread,
  startProcess,
  stat,
  wrk,
  wrkLatencyHook,
  wrkPost,
} from "./lib.ts";

const TOKEN = "bench-console-token";

interface Server {
  url: string;
  base: string;
  p: Proc;
}

async function serve(c: BenchContext, name: string, on: boolean): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const home = join(c.work, `console-${name}`);
  const env: Record<string, string> = {
    HOME: home,
    LMCP_STATE_DIR: join(home, "state"),
    XDG_CONFIG_HOME: join(home, "config"),
    LMCP_TOKEN: TOKEN,
    LMCP_CONSOLE: on ? "1" : "0",
    ...(on ? { LMCP_METRICS: "1" } : {}),
  };
  const p = await startProcess([c.binary, "serve", "--listen", `127.0.0.1:${port}`], env, pingReady(url, TOKEN));
  return { url, base: `http://127.0.0.1:${port}`, p };
}

/** Logs in as a browser would: the login form's CSRF token and cookie, then the token; returns the session cookie. */
async function login(base: string): Promise<string> {
  const form = await fetch(`${base}/ui`);
  const page = await form.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  const loginCookie = (form.headers.get("set-cookie") ?? "").split(";")[0];
  if (!csrf || !loginCookie) throw new Error("bench: the console's login form has no CSRF token");
  const r = await fetch(`${base}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: loginCookie, origin: base },
    body: new URLSearchParams({ csrf, token: TOKEN }),
  });
  const session = r.headers.getSetCookie().find((c) => !c.startsWith(loginCookie.split("=")[0]!))?.split(";")[0];
  if (r.status !== 303 || !session) throw new Error(`bench: console login answered ${r.status}`);
  return session;
}

/** An open live feed (GET /ui/events), counting `call` events and noting when each marker path first shows. */
class Feed {
  calls = 0;
  dropped = false;
  readonly seen = new Map<string, number>();
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  async open(base: string, cookie: string): Promise<void> {
    const r = await fetch(`${base}/ui/events`, { headers: { cookie, accept: "text/event-stream" }, signal: this.abort.signal });
    if (r.status !== 200 || !r.body) throw new Error(`bench: /ui/events answered ${r.status}`);
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    this.done = (async () => {
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i = buf.indexOf("\n\n");
          while (i !== -1) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (ev.includes("event: call")) {
              this.calls++;
              const m = /marker-(\d+)/.exec(ev);
              if (m && !this.seen.has(m[1]!)) this.seen.set(m[1]!, performance.now());
            }
            i = buf.indexOf("\n\n");
          }
        }
      } catch {
        if (!this.abort.signal.aborted) this.dropped = true;
        return;
      }
      if (!this.abort.signal.aborted) this.dropped = true;
    })();
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

function readCall(path: string): EraCall {
  return eraCall("2025", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "read_file", arguments: { path } } });
}

const measure = (url: string, call: EraCall, seconds: number, connections: number) => measureWrk(url, TOKEN, call, seconds, connections);

export async function consoleRows(c: BenchContext): Promise<void> {
  const small = join(c.work, "console-small.txt");
  writeFileSync(small, "hello from a small file\n");
  const call = readCall(small);
  const started: Proc[] = [];
  const feeds: Feed[] = [];
  try {
    // Idle RSS first, on fresh processes that have answered only their readiness ping.
    const off = await serve(c, "off", false);
    started.push(off.p);
    const on = await serve(c, "on", true);
    started.push(on.p);
    const [rssOff, rssOn] = await Promise.all([settledRssMB(off.p.proc.pid), settledRssMB(on.p.proc.pid)]);
    c.row({
      what: "idle RSS with the console and /metrics on (MB)",
      measured: fmt(rssOn, 1),
      reference: `both off ${fmt(rssOff, 1)}`,
      ratio: `${signed(rssOn - rssOff, 1)} MB`,
      target: "≤ 50 MB (prom-client and the console's pages load on first use)",
      pass: rssOn <= 50,
    });

    // Latency and throughput: both off against both on with nobody watching, then with a browser's feed open
    // (every call is then rendered and sent to it; the reading browser here is this process, on the same 2 cores).
    const p50 = { off: [] as number[], on: [] as number[] };
    const rps = { off: [] as number[], on: [] as number[], watched: [] as number[] };
    const feed = new Feed();
    feeds.push(feed);
    const cookie = await login(on.base);
    for (let i = 0; i < c.runs; i++) {
      for (const [k, s] of [["off", off], ["on", on]] as const) {
        p50[k].push((await measure(s.url, call, c.seconds, 1)).p50_ms);
        rps[k].push((await measure(s.url, call, c.seconds, 8)).rps);
      }
    }
    await feed.open(on.base, cookie);
    for (let i = 0; i < c.runs; i++) rps.watched.push((await measure(on.url, call, c.seconds, 8)).rps);
    await feed.close();
    const [p50Off, p50On, rpsOff, rpsOn, rpsWatched] = [stat(p50.off), stat(p50.on), stat(rps.off), stat(rps.on), stat(rps.watched)];
    c.row({
      what: "read_file p50 (ms), 1 conn, console + metrics on",
      measured: spread(p50On, 3),
      reference: `both off ${spread(p50Off, 3)}`,
      ratio: `${signed(p50On.median - p50Off.median, 3)} ms`,
      target: "≤ +0.02 ms (no measurable latency)",
      pass: p50On.median - p50Off.median <= 0.02,
    });
    c.row({
      what: "read_file req/s, 8 conn, console + metrics on",
      measured: spread(rpsOn, 0),
      reference: `both off ${spread(rpsOff, 0)}`,
      ratio: `${fmt((100 * rpsOn.median) / rpsOff.median, 1)} %`,
      target: "≥ 95 % of off",
      pass: rpsOn.median >= 0.95 * rpsOff.median,
    });
    c.row({
      what: "read_file req/s, 8 conn, with a live feed open (the reader shares the 2 cores)",
      measured: spread(rpsWatched, 0),
      reference: `nobody watching ${spread(rpsOn, 0)}`,
      ratio: `${fmt((100 * rpsWatched.median) / rpsOn.median, 1)} %`,
      target: "none: what watching costs",
      pass: true,
    });

    // The feed under load: wrk at full speed (far above 1,000 calls/s), markers every 100 ms, each timed to the feed.
    const live = new Feed();
    feeds.push(live);
    await live.open(on.base, await login(on.base));
    const before = live.calls;
    const answered = new Map<string, number>();
    let markers = 0;
    let stopMarkers = false;
    const markerLoop = (async () => {
      for (let i = 0; i < 10_000 && !stopMarkers; i++) {
        const id = String(i);
        const path = join(c.work, `marker-${id}`);
        await fetch(on.url, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", accept: "application/json, text/event-stream", ...call.headers },
          body: JSON.stringify(readCall(path).body),
        }).then((r) => r.arrayBuffer());
        answered.set(id, performance.now());
        markers++;
        await Bun.sleep(100);
      }
    })();
    const load = await wrk(on.url, wrkPost(TOKEN, call.body, call.headers) + wrkLatencyHook, { seconds: c.seconds, connections: 4 });
    stopMarkers = true;
    await markerLoop;
    // Let the feed deliver what is in flight (bounded wait), then compare.
    const expected = load.requests + markers;
    const deadline = performance.now() + 3000;
    while (live.calls - before < expected && performance.now() < deadline && !live.dropped) await Bun.sleep(20);
    const delivered = live.calls - before;
    const lags = [...answered].map(([id, t]) => (live.seen.get(id) ?? Infinity) - t);
    const lag = stat(lags);
    const rate = load.requests / c.seconds;
    c.row({
      what: `live feed under load: calls delivered to an open /ui/events while wrk ran ${fmt(rate, 0)} calls/s`,
      measured: `${delivered} of ${expected} (${fmt((100 * delivered) / expected, 1)} %)${live.dropped ? ", stream dropped" : ""}`,
      reference: `marker calls seen after their answer: median ${fmt(lag.median, 1)} ms, max ${fmt(lag.max, 1)} ms`,
      ratio: "",
      target: "≥ 1,000 calls/s, every call delivered, markers within 1 s",
      pass: rate >= 1000 && delivered >= expected && !live.dropped && lag.max <= 1000,
    });
  } finally {
    await Promise.all(feeds.map((f) => f.close()));
    await Promise.all(started.map((p) => p.stop()));
  }
}

/** `bun bench/console.ts [--runs N] [--seconds S]`: these rows alone, against dist/'s binary for this machine. */
if (import.meta.main) {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { parseArgs } = await import("node:util");
  const { benchDir, repoRoot } = await import("./lib.ts");
  const { values } = parseArgs({ options: { runs: { type: "string" }, seconds: { type: "string" } } });
  const work = mkdtempSync(join(benchDir, ".work-"));
  try {
    await consoleRows({
      binary: join(repoRoot, "dist", `lmcp-${process.platform}-${process.arch}`),
      work,
      runs: Number(values.runs ?? 1),
      seconds: Number(values.seconds ?? 3),
      row: (r) => console.log(`${r.pass ? "PASS" : "FAIL"}  ${r.what}: ${r.measured} vs ${r.reference} (${r.ratio}; target ${r.target})`),
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
