// The compiled binary as a user gets it: built for this machine's target (or
// taken from LMCP_BIN), run with no Bun, no node_modules and an empty PATH
// apart from the system's, and checked from outside with the SDK client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { serveTools } from "../src/tools/registry.ts";
import { build } from "../build/build.ts";
import { type StartedServer, connect, repoRoot, rpc, startServer } from "./helpers/server.ts";

const hostTarget = `${process.platform}-${process.arch}`;
let binary: string;
let server: StartedServer;
let dir: string;

beforeAll(async () => {
  binary = process.env.LMCP_BIN ?? join(repoRoot, "dist", `lmcp-${hostTarget}`);
  if (!process.env.LMCP_BIN) await build([hostTarget]);
  dir = mkdtempSync(join(tmpdir(), "lmcp-bin-"));
  server = await startServer({ binary, env: { PATH: "/usr/bin:/bin" } });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the compiled binary", () => {
  test("--version names version, commit and platform", () => {
    const r = Bun.spawnSync([binary, "--version"], { env: { PATH: "/usr/bin:/bin" } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(new RegExp(`^lmcp \\d+\\.\\d+\\.\\d+ \\([\\w-]+, ${hostTarget}\\)\\n$`));
  });
  test("serves every tool to the SDK client over HTTP", async () => {
    const client = await connect(server);
    try {
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(serveTools.length);
      const path = join(dir, "hello.txt");
      await client.callTool({ name: "write_file", arguments: { path, content: "héllo\r\nwörld\r\n" } });
      const read = (await client.callTool({ name: "read_file", arguments: { path } })) as CallToolResult;
      expect((read.structuredContent as { content: string }).content).toBe("héllo\r\nwörld\r\n");
      const edit = (await client.callTool({ name: "edit_file", arguments: { path, old_string: "wörld", new_string: "welt" } })) as CallToolResult;
      expect(edit.isError).toBeFalsy();
      expect(readFileSync(path, "utf8")).toBe("héllo\r\nwelt\r\n");
      const sh = (await client.callTool({ name: "shell", arguments: { command: "echo $((6*7))" } })) as CallToolResult;
      expect((sh.structuredContent as { stdout: string }).stdout).toBe("42\n");
    } finally {
      await client.close();
    }
  });
  test("refuses a missing token with 401 and serves /healthz", async () => {
    expect((await rpc({ url: server.url, token: "nope" }, { jsonrpc: "2.0", id: 1, method: "ping" })).status).toBe(401);
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
  });
  test("`lmcp call` against the running server", () => {
    const r = Bun.spawnSync([binary, "call", "list_dir", JSON.stringify({ path: dir }), "--url", server.url, "--token-file", server.tokenFile], {
      env: { PATH: "/usr/bin:/bin", HOME: dir },
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toContain("hello.txt");
  });
  test("mints its token on first start with no configuration", async () => {
    const home = mkdtempSync(join(tmpdir(), "lmcp-bin-home-"));
    try {
      const s = await startServer({ binary, noTokenFile: true, home });
      expect(existsSync(join(home, ".config", "lmcp", "token"))).toBe(true);
      const cfg = Bun.spawnSync([binary, "client-config", "--url", s.url, "--json"], { env: { PATH: "/usr/bin:/bin", HOME: home, XDG_CONFIG_HOME: join(home, ".config") } });
      const { mcpServers } = JSON.parse(cfg.stdout.toString());
      const token = readFileSync(join(home, ".config", "lmcp", "token"), "utf8").trim();
      expect(mcpServers.lmcp.headers.Authorization).toBe(`Bearer ${token}`);
      await s.stop();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
  test("ignores a .env file in its working directory", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "lmcp-dotenv-"));
    writeFileSync(join(cwd, ".env"), "LMCP_NAME=from-dotenv\nLMCP_TOKEN=from-dotenv\n");
    const p = Bun.spawn([binary, "serve", "--listen", "127.0.0.1:0", "--no-auth"], { cwd, env: { PATH: "/usr/bin:/bin", HOME: cwd }, stderr: "pipe" });
    try {
      const reader = p.stderr.getReader();
      let line = "";
      while (!line.includes("listening on")) {
        const { value, done } = await reader.read();
        if (done) break;
        line += new TextDecoder().decode(value);
      }
      expect(line).toContain("listening on");
      expect(line).not.toContain("from-dotenv");
    } finally {
      p.kill();
      await p.exited;
      rmSync(cwd, { recursive: true, force: true });
    }
  });
  test("a bad config exits 2", () => {
    const f = join(dir, "bad.toml");
    writeFileSync(f, "nonsense = 1\n");
    const r = Bun.spawnSync([binary, "serve", "--config", f], { env: { PATH: "/usr/bin:/bin", HOME: dir } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toContain('unknown key "nonsense"');
  });
});
