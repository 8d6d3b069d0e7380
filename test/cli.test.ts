// The `lmcp` command line as a user runs it: version, help, exit codes, token,
// client-config, call, and serve over stdio.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { serveTools } from "../src/tools/registry.ts";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type StartedServer, lmcpCommand, startServer } from "./helpers/server.ts";

let dir: string;
let server: StartedServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-cli-"));
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function lmcp(args: string[], env: Record<string, string> = {}, stdin?: string) {
  const r = Bun.spawnSync([...lmcpCommand(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), ...env },
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    timeout: 20_000,
  });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("version and help", () => {
  test("--version prints `lmcp X.Y.Z (commit, os-arch)`", () => {
    const r = lmcp(["--version"]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^lmcp \d+\.\d+\.\d+ \([\w.-]+, (linux|darwin)-(x64|arm64)\)$/);
  });
  test("every subcommand has --help, exit 0", () => {
    for (const c of ["serve", "token", "client-config", "call"]) {
      const r = lmcp([c, "--help"]);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toContain(`Usage: lmcp ${c}`);
    }
    expect(lmcp(["--help"]).out).toContain("Commands:");
  });
  test("an unknown command or flag exits 2 and names it", () => {
    const cmd = lmcp(["frobnicate"]);
    expect(cmd.code).toBe(2);
    expect(cmd.err).toContain("frobnicate");
    const flag = lmcp(["serve", "--lisen", "127.0.0.1:0"]);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain("--lisen");
  });
  test("a bad config file exits 2 naming the file, line and key", () => {
    const f = join(dir, "bad.toml");
    writeFileSync(f, 'name = "x"\nmax_timeout_s = "long"\n');
    const r = lmcp(["serve", "--config", f]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${f}:2: key "max_timeout_s"`);
  });
  test("a bad --listen exits 2 naming the flag", () => {
    const r = lmcp(["serve", "--listen", "nonsense", "--no-auth"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--listen");
  });
});

describe("token", () => {
  test("prints a fresh 32-byte base64url token each time", () => {
    const a = lmcp(["token"]).out.trim();
    const b = lmcp(["token"]).out.trim();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, "base64url").length).toBe(32);
    expect(a).not.toBe(b);
  });
  test("--out writes mode 0600, prints nothing to stdout, refuses to overwrite, --append adds a line", () => {
    const f = join(dir, "t", "token");
    const r = lmcp(["token", "--out", f]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("");
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const first = readFileSync(f, "utf8");
    expect(lmcp(["token", "--out", f]).code).toBe(2);
    expect(readFileSync(f, "utf8")).toBe(first);
    expect(lmcp(["token", "--out", f, "--append"]).code).toBe(0);
    expect(readFileSync(f, "utf8").trim().split("\n")).toHaveLength(2);
  });
});

describe("client-config", () => {
  test("prints the claude mcp add line and mcpServers JSON with the token from the file", () => {
    const r = lmcp(["client-config", "--url", server.url, "--token-file", server.tokenFile]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`claude mcp add --transport http 'lmcp' '${server.url}' --header 'Authorization: Bearer ${server.token}'`);
    const json = lmcp(["client-config", "--url", server.url, "--token-file", server.tokenFile, "--json"]);
    expect(JSON.parse(json.out)).toEqual({ mcpServers: { lmcp: { type: "http", url: server.url, headers: { Authorization: `Bearer ${server.token}` } } } });
  });
  test("without any token file it says where it looked and exits 2", () => {
    const r = lmcp(["client-config"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("no token found");
  });
});

describe("call", () => {
  const target = () => ["--url", server.url, "--token-file", server.tokenFile];
  test("runs a tool and prints its text; exit 0", () => {
    const r = lmcp(["call", "shell", '{"command":"echo hello-from-call"}', ...target()]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("hello-from-call");
  });
  test("--json prints structuredContent; arguments can come from stdin", () => {
    const r = lmcp(["call", "shell", "-", "--json", ...target()], {}, '{"command":"printf x"}');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).structuredContent.stdout).toBe("x");
  });
  test("a tool error exits 1; bad JSON exits 2; an unreachable server exits 1", () => {
    expect(lmcp(["call", "read_file", '{"path":"/nonexistent/x"}', ...target()]).code).toBe(1);
    const bad = lmcp(["call", "shell", "{nope", ...target()]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("not valid JSON");
    const down = lmcp(["call", "shell", '{"command":"true"}', "--url", "http://127.0.0.1:9/mcp", "--token-file", server.tokenFile]);
    expect(down.code).toBe(1);
    expect(down.err).toContain("127.0.0.1:9");
  });
  test("--list shows the tools", () => {
    const r = lmcp(["call", "--list", ...target()]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("read_file");
  });
});

describe("serve --stdio", () => {
  test("answers tools/list and a tool call over stdin/stdout", async () => {
    const [command, ...args] = lmcpCommand();
    const transport = new StdioClientTransport({
      command: command!,
      args: [...args, "serve", "--stdio"],
      env: { PATH: process.env.PATH ?? "", HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_STATE_HOME: join(dir, "state") },
      stderr: "pipe",
    });
    const client = new Client({ name: "stdio-test", version: "0" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.length).toBe(serveTools.length);
      const r = await client.callTool({ name: "shell", arguments: { command: "echo via-stdio" } });
      expect((r.structuredContent as { stdout: string }).stdout).toBe("via-stdio\n");
      expect(existsSync(join(dir, "config", "lmcp", "token"))).toBe(false);
    } finally {
      await client.close();
    }
  });
});
