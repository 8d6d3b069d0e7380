// Claude Code's own CLI as one more real client: `claude mcp list` must show
// lmcp as Connected (it probes with server/discover, 2026-07-28), and must not
// with a wrong token. Runs where the CLI is installed: .ci/run installs
// @anthropic-ai/claude-code into .ci/clients and names it in CLAUDE_BIN.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type StartedServer, repoRoot, startServer } from "../helpers/server.ts";

/** The native claude binary: CLAUDE_BIN, else the one .ci/run installs. */
function claudeBinary(): string | undefined {
  const candidates = [
    process.env.CLAUDE_BIN,
    join(repoRoot, ".ci", "clients", "node_modules", "@anthropic-ai", `claude-code-${process.platform}-${process.arch}`, "claude"),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

const claude = claudeBinary();
if (!claude) console.warn("skipping the Claude Code client test: no claude binary (set CLAUDE_BIN, or run .ci/run, which installs it)");

describe.skipIf(!claude)("Claude Code's CLI as a client", () => {
  let server: StartedServer;
  let home: string;
  beforeAll(async () => {
    server = await startServer();
    home = mkdtempSync(join(tmpdir(), "lmcp-claude-"));
    mkdirSync(join(home, "project"));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  /** Runs claude with its own HOME, offline (no login, no telemetry), from the project dir. */
  async function run(args: string[]): Promise<{ code: number; out: string }> {
    const proc = Bun.spawn([claude!, ...args], {
      cwd: join(home, "project"),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, CLAUDE_CONFIG_DIR: join(home, ".claude"), DISABLE_TELEMETRY: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    clearTimeout(timer);
    return { code, out: out + err };
  }

  test("claude mcp list shows lmcp Connected, and a wrong token not Connected", async () => {
    const added = await run(["mcp", "add", "--transport", "http", "lmcp", server.url, "--header", `Authorization: Bearer ${server.token}`]);
    expect(added.code).toBe(0);
    const bad = await run(["mcp", "add", "--transport", "http", "lmcp-wrong-token", server.url, "--header", "Authorization: Bearer not-the-token"]);
    expect(bad.code).toBe(0);
    const listed = await run(["mcp", "list"]);
    const line = (name: string) => listed.out.split("\n").find((l) => l.startsWith(`${name}:`)) ?? "";
    expect(line("lmcp")).toContain("Connected");
    expect(line("lmcp-wrong-token")).not.toContain("✔ Connected");
    expect(line("lmcp-wrong-token")).not.toBe("");
    // It spoke 2026-07-28: the probe is server/discover, logged with the revision.
    expect(server.logs()).toMatch(/method=server\/discover protocol=2026-07-28 status=200/);
  }, 150_000);
});
