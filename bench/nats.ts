// The NATS fleet's bench rows (issue 15), run by bench/run.ts (`--only nats`):
// hub overhead over NATS against a direct-mode hub, remote_shell_many over
// 1,000 simulated hosts, the hub's RSS with them, and calls/s through one hub
// and through two behind HAProxy. Real nats-server and haproxy on loopback.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { haproxyMissing, startHaproxy, type StartedHaproxy } from "../test/helpers/haproxy.ts";
import { natsServerBin, startNatsCluster, type NatsCluster } from "../test/helpers/nats.ts";
import {
  type BenchContext,
  type EraCall,
  type Proc,
  type Stat,
  type WrkResult,
  bun,
  eraCall,
  fmt,
  freePort,
  measureWrk,
  pingReady,
  repoRoot,
  rounds as roundsOf,
  settledRssMB,
  signed,
  spread,
  startProcess,
  stat,
} from "./lib.ts";

const HOST_TOKEN = "bench-token";
const HUB_TOKEN = "hub-token";
const HOST = "bench-host";
const SIM_HOSTS = 1000;

/** Everything started here, stopped in natsRows' finally whatever happens. */
const procs: Proc[] = [];
const stoppers: (() => Promise<void>)[] = [];
const clusters: NatsCluster[] = [];

/** A process's own HOME-side dirs under the work dir: each gets its state dir (audit chains must not share a file). */
const envFor = (ctx: BenchContext, name: string, token: string) => ({
  HOME: ctx.work,
  XDG_CONFIG_HOME: join(ctx.work, "config"),
  LMCP_STATE_DIR: join(ctx.work, `state-${name}`),
  LMCP_TOKEN: token,
});

async function lmcp(ctx: BenchContext, name: string, argv: string[], token: string): Promise<{ url: string; p: Proc }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const p = await startProcess([ctx.binary, ...argv, "--listen", `127.0.0.1:${port}`], envFor(ctx, name, token), pingReady(url, token));
  procs.push(p);
  return { url, p };
}

/** `lmcp hub --nats`: no registry, and no approval asked for a fan-out to 1,000 hosts (nobody here to ask). */
async function natsHub(ctx: BenchContext, name: string, cluster: NatsCluster): Promise<{ url: string; p: Proc }> {
  const config = join(ctx.work, "nats-hub.toml");
  writeFileSync(config, "approve_above_hosts = 100000\n");
  return lmcp(ctx, name, ["hub", "--nats", cluster.urls, "--name", name, "--backends", join(ctx.work, "nats-no-backends.toml"), "--config", config], HUB_TOKEN);
}

/** One tools/call as a 2025-era client sends it; its structuredContent, or a thrown error. */
async function call(url: string, name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${HUB_TOKEN}`, "content-type": "application/json", accept: "application/json", "MCP-Protocol-Version": "2025-11-25" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
  });
  const body = (await r.json()) as { result?: { isError?: boolean; structuredContent?: Record<string, unknown>; content?: { text?: string }[] }; error?: { message: string } };
  if (body.error || !body.result || body.result.isError) throw new Error(`${name} on ${url}: ${body.error?.message ?? body.result?.content?.[0]?.text ?? r.status}`);
  return body.result.structuredContent ?? {};
}

/** Polls (bounded) until the hub lists `count` hosts up (with `tag`, if given). */
async function hostsUp(url: string, count: number, tag?: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sc = await call(url, "remote_list_hosts", tag ? { tag } : {});
    const up = (sc.hosts as { state: string }[]).filter((h) => h.state === "up").length;
    if (up >= count) return;
    if (Date.now() > deadline) throw new Error(`${url} lists ${up} hosts up, not ${count}, after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

const measure = (ctx: BenchContext, url: string, c: EraCall, connections: number) => measureWrk(url, HUB_TOKEN, c, ctx.seconds, connections);
const rounds = <K extends string>(ctx: BenchContext, targets: Record<K, () => Promise<WrkResult>>) => roundsOf(ctx.runs, targets);
const of = (rs: WrkResult[], key: "rps" | "p50_ms") => stat(rs.map((r) => r[key]));

const readCall = (path: string): EraCall =>
  eraCall("2026-07-28", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "remote_read_file", arguments: { host: HOST, path } } });

/** Rows 1 and 4: one `serve --nats` host, reached by a direct-mode hub over HTTP and by NATS hubs (alone, and two behind HAProxy). */
async function overheadAndBalancing(ctx: BenchContext): Promise<void> {
  const cluster = await startNatsCluster(1);
  clusters.push(cluster);
  const small = join(ctx.work, "nats-small.txt");
  writeFileSync(small, "hello from a small file\n");
  // One host process serves both paths: its HTTP listener (the direct-mode hub's backend) and its NATS link.
  const host = await lmcp(ctx, HOST, ["serve", "--nats", cluster.urls, "--name", HOST], HOST_TOKEN);
  const registry = join(ctx.work, "nats-direct.toml");
  writeFileSync(registry, `[[backend]]\nname = "${HOST}"\nurl = "${host.url}"\ntoken = "${HOST_TOKEN}"\n`);
  const direct = await lmcp(ctx, "direct-hub", ["hub", "--backends", registry], HUB_TOKEN);
  const [hubA, hubB] = [await natsHub(ctx, "nats-hub-a", cluster), await natsHub(ctx, "nats-hub-b", cluster)];
  await Promise.all([hostsUp(direct.url, 1), hostsUp(hubA.url, 1), hostsUp(hubB.url, 1)]);
  const c = readCall(small);

  const one = await rounds(ctx, { direct: () => measure(ctx, direct.url, c, 1), nats: () => measure(ctx, hubA.url, c, 1) });
  const [directP50, natsP50] = [of(one.direct, "p50_ms"), of(one.nats, "p50_ms")];
  const added = natsP50.median - directP50.median;
  ctx.row({
    what: "hub overhead via NATS: remote_read_file p50 (ms), 1 connection, 2026-07-28 era client",
    measured: `hub --nats ${spread(natsP50, 3)}`,
    reference: `direct-mode hub (backends.toml entry, HTTP to the same host's lmcp serve) ${spread(directP50, 3)}`,
    ratio: `${signed(added, 3)} ms`,
    target: "≤ +0.3 ms (goal)",
    pass: added <= 0.3,
  });

  if (haproxyMissing) {
    console.log(`SKIP  calls/s through one hub and two behind HAProxy: ${haproxyMissing}`);
    return;
  }
  const lbOne: StartedHaproxy = await startHaproxy([{ name: "hub-a", url: hubA.url }], { parentDir: ctx.work });
  stoppers.push(() => lbOne.stop());
  const lbTwo: StartedHaproxy = await startHaproxy([{ name: "hub-a", url: hubA.url }, { name: "hub-b", url: hubB.url }], { parentDir: ctx.work });
  stoppers.push(() => lbTwo.stop());
  const CONNECTIONS = 8;
  const r = await rounds(ctx, {
    hub: () => measure(ctx, hubA.url, c, CONNECTIONS),
    lbOne: () => measure(ctx, lbOne.url, c, CONNECTIONS),
    lbTwo: () => measure(ctx, lbTwo.url, c, CONNECTIONS),
  });
  const served = (await lbTwo.servers()).map((s) => `${s.name} ${s.ok}`).join(", ");
  const [hub, lb1, lb2] = [of(r.hub, "rps"), of(r.lbOne, "rps"), of(r.lbTwo, "rps")];
  ctx.row({
    what: `calls/s over NATS (remote_read_file, ${CONNECTIONS} connections, 1 host): two hubs behind HAProxy vs one (2xx per hub: ${served})`,
    measured: `2 hubs via HAProxy ${spread(lb2, 0)}`,
    reference: `1 hub via HAProxy ${spread(lb1, 0)}; 1 hub, no HAProxy ${spread(hub, 0)}`,
    ratio: `${fmt(lb2.median / lb1.median, 2)}× one hub via HAProxy`,
    target: "(information; 2 shared cores)",
    pass: true,
  });
}

/** The simulator (test/nats/simulator.ts): 1,000 hosts, one NATS connection each, in one process; resolves once all are up. */
async function simulate(cluster: NatsCluster): Promise<void> {
  const sim = Bun.spawn([bun, join(repoRoot, "test/nats/simulator.ts"), cluster.urls, String(SIM_HOSTS), "sim", "sim"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  stoppers.push(async () => {
    sim.kill("SIGTERM"); // goodbyes, then exit
    const t = setTimeout(() => sim.kill("SIGKILL"), 5000);
    await sim.exited;
    clearTimeout(t);
  });
  const reader = sim.stdout.getReader();
  const deadline = Date.now() + 60_000;
  let out = "";
  while (!out.includes(`ready ${SIM_HOSTS}`)) {
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => "late" as const)]);
    if (next === "late") throw new Error(`the simulator was not ready within 60 s: ${out}`);
    if (next.done) throw new Error(`the simulator exited: ${await new Response(sim.stderr).text()}`);
    out += new TextDecoder().decode(next.value);
  }
  reader.releaseLock();
}

/** Rows 2 and 3: a fresh cluster and hub, its RSS with no hosts, then with 1,000 simulated ones, and the fan-out. */
async function thousandHosts(ctx: BenchContext): Promise<void> {
  const cluster = await startNatsCluster(1);
  clusters.push(cluster);
  const hub = await natsHub(ctx, "nats-hub-1000", cluster);
  await call(hub.url, "remote_list_hosts", {});
  const idle = await settledRssMB(hub.p.proc.pid);
  await simulate(cluster);
  await hostsUp(hub.url, SIM_HOSTS, "sim");
  const present = await settledRssMB(hub.p.proc.pid);

  const fanOut = async () => {
    const t0 = performance.now();
    const sc = await call(hub.url, "remote_shell_many", { tag: "sim", command: "true" });
    const ms = performance.now() - t0;
    const counts = sc.counts as { ok: number; total: number };
    if (counts.ok !== SIM_HOSTS || counts.total !== SIM_HOSTS) throw new Error(`fan-out: ${JSON.stringify(counts)}`);
    return ms / 1000;
  };
  await fanOut(); // warm-up
  const walls: number[] = [];
  for (let i = 0; i < Math.max(ctx.runs, 3); i++) walls.push(await fanOut());
  const wall: Stat = stat(walls);
  const after = await settledRssMB(hub.p.proc.pid);
  ctx.row({
    what: `1,000-host fan-out: remote_shell_many over ${SIM_HOSTS} simulated hosts (one process, a NATS connection each, answering at once), wall clock (s)`,
    measured: spread(wall, 2),
    reference: `${walls.length} runs after a warm-up`,
    ratio: "-",
    target: "≤ 2 s",
    pass: wall.median <= 2,
  });
  ctx.row({
    what: `hub --nats RSS, settled (MB), with ${SIM_HOSTS} hosts present`,
    measured: `${fmt(present, 1)}; after ${walls.length + 1} fan-outs ${fmt(after, 1)}`,
    reference: `idle with 0 hosts ${fmt(idle, 1)}`,
    ratio: `${signed(present - idle, 1)} MB (${fmt(((present - idle) * 1024) / SIM_HOSTS, 1)} KB a host)`,
    target: "(information)",
    pass: true,
  });
}

/** Every NATS row; skipped, saying why, without nats-server. Stops all it started. */
export async function natsRows(ctx: BenchContext): Promise<void> {
  if (!natsServerBin) {
    console.log("SKIP  NATS rows: nats-server not found (/usr/sbin/nats-server): apt-get install nats-server");
    return;
  }
  try {
    await overheadAndBalancing(ctx);
  } finally {
    await stopAll();
  }
  try {
    await thousandHosts(ctx);
  } finally {
    await stopAll();
  }
}

async function stopAll(): Promise<void> {
  // Load balancers and the simulator first (they point at the rest), then lmcp, then NATS.
  for (const s of stoppers.splice(0).reverse()) await s().catch(() => {});
  await Promise.all(procs.splice(0).map((p) => p.stop().catch(() => {})));
  await Promise.all(clusters.splice(0).map((c) => c.stop()));
}
