// GET /metrics end to end: off by default, behind its own token when one is
// set, checked by Debian's `promtool check metrics`, and scraped by a real
// Prometheus (Debian's `prometheus`) started on loopback by the test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedPort } from "../helpers/fixtures.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, startServer, waitFor } from "../helpers/server.ts";

const have = (tool: string) => Bun.which(tool) !== null;

let dir: string;
let server: StartedServer;
const metricsToken = `metrics-${crypto.randomUUID()}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-metrics-"));
  writeFileSync(join(dir, "metrics-token"), `${metricsToken}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "hello.txt"), "hello\n");
  writeFileSync(join(dir, "lmcp.toml"), `metrics = true\nmetrics_token_file = "${join(dir, "metrics-token")}"\n`);
  server = await startServer({ args: ["--config", join(dir, "lmcp.toml")] });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const scrape = (base: string, token?: string) => fetch(`${base}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("serve /metrics", () => {
  test("is off unless the config turns it on", async () => {
    const plain = await startServer();
    try {
      expect((await scrape(plain.base)).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });

  test("needs the metrics token (the agent's token does not open it), then counts calls by tool and outcome", async () => {
    expect((await scrape(server.base)).status).toBe(401);
    expect((await scrape(server.base, server.token)).status).toBe(401);
    const client = await connect(server);
    try {
      await callTool(client, "read_file", { path: join(dir, "hello.txt") });
      await callTool(client, "read_file", { path: join(dir, "absent") });
      await callTool(client, "read_file", { path: join(dir, "metrics-token") });
    } finally {
      await client.close();
    }
    const r = await scrape(server.base, metricsToken);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain");
    const text = await r.text();
    expect(text).toMatch(/lmcp_tool_calls_total\{tool="read_file",outcome="ok",role="serve"\} 1/);
    expect(text).toMatch(/lmcp_tool_calls_total\{tool="read_file",outcome="error",role="serve"\} 1/);
    expect(text).toMatch(/lmcp_tool_calls_total\{tool="read_file",outcome="denied",role="serve"\} 1/);
    expect(text).toContain("lmcp_tool_call_duration_seconds_bucket");
    expect(text).toContain("lmcp_tool_calls_in_flight");
    expect(text).toContain("lmcp_jobs_running");
    expect(text).toContain("lmcp_resident_memory_bytes");
    expect(text).not.toContain(server.token);
    expect(text).not.toContain(metricsToken);
  });

  test("a made-up tool name does not become a label", async () => {
    await fetch(server.url, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "made_up_tool_xyz", arguments: {} } }),
    });
    const text = await (await scrape(server.base, metricsToken)).text();
    expect(text).not.toContain("made_up_tool_xyz");
  });

  test.skipIf(!have("promtool"))("passes promtool check metrics", async () => {
    const text = await (await scrape(server.base, metricsToken)).text();
    const r = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new Blob([text]) });
    expect({ code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() }).toEqual({ code: 0, out: "" });
  });
});

describe.skipIf(!have("prometheus"))("a real Prometheus", () => {
  test("scrapes serve and hub: the call and the hub's hosts show up in its queries", async () => {
    const hubDir = join(dir, "hub");
    mkdirSync(hubDir);
    writeFileSync(join(hubDir, "hub.toml"), `metrics = true\nmetrics_token_file = "${join(dir, "metrics-token")}"\n`);
    const hub = await startHub([{ name: "alpha", url: server.url, token: server.token }], { registryDir: hubDir, args: ["--config", join(hubDir, "hub.toml")] });
    const promPort = closedPort();
    const promDir = join(dir, "prom");
    mkdirSync(promDir);
    const target = (base: string) => new URL(base).host;
    writeFileSync(
      join(promDir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, scrape_timeout: 1s }",
        "scrape_configs:",
        ...[["serve", server.base], ["hub", hub.base]].flatMap(([job, base]) => [
          `  - job_name: ${job}`,
          `    authorization: { credentials_file: ${join(dir, "metrics-token")} }`,
          `    static_configs: [{ targets: ["${target(base!)}"] }]`,
        ]),
        "",
      ].join("\n"),
    );
    const prom = Bun.spawn(["prometheus", `--config.file=${join(promDir, "prometheus.yml")}`, `--storage.tsdb.path=${join(promDir, "data")}`, `--web.listen-address=127.0.0.1:${promPort}`], {
      stdout: "ignore",
      stderr: "pipe",
    });
    try {
      const client = await connect(hub);
      await callTool(client, "remote_read_file", { host: "alpha", path: join(dir, "hello.txt") });
      await client.close();
      const query = async (q: string) => {
        const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
        if (!r?.ok) return undefined;
        const j = (await r.json()) as { data: { result: { value: [number, string] }[] } };
        return j.data.result.length > 0 ? Number(j.data.result[0]!.value[1]) : undefined;
      };
      const served = await waitFor("Prometheus to scrape serve's read_file count", () => query('lmcp_tool_calls_total{job="serve",tool="read_file",outcome="ok"}'), 30_000);
      expect(served).toBeGreaterThanOrEqual(2);
      const viaHub = await waitFor("the hub's remote_read_file count", () => query('lmcp_tool_calls_total{job="hub",tool="remote_read_file"}'), 30_000);
      expect(viaHub).toBe(1);
      const hosts = await waitFor("the hub's hosts gauge", () => query('sum(lmcp_hub_hosts{job="hub"})'), 30_000);
      expect(hosts).toBe(1);
    } finally {
      prom.kill("SIGTERM");
      await prom.exited;
      await hub.stop();
    }
  }, 60_000);
});
