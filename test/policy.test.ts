// Policy that holds: read-only tokens, allowed_paths on real paths, protected
// files, and the audit log, through a real server and client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { closeWriteTarget, openChecked, resolveWrite } from "../src/policy/open.ts";
import { makeFilePolicy, permissivePolicy, refusal } from "../src/policy/rules.ts";
import { type StartedServer, callTool, connect, resultText, rpc, startServer, waitFor } from "./helpers/server.ts";

let dir: string;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "lmcp-policy-")));
  mkdirSync(join(dir, "srv", "a"), { recursive: true });
  mkdirSync(join(dir, "srv", "a_evil"), { recursive: true });
  mkdirSync(join(dir, "etc"), { recursive: true });
  writeFileSync(join(dir, "etc", "secret"), "secret\n");
  writeFileSync(join(dir, "srv", "a", "ok.txt"), "fine\n");
  symlinkSync(join(dir, "etc"), join(dir, "srv", "a", "escape"));
  symlinkSync(join(dir, "etc", "secret"), join(dir, "srv", "a", "secret-link"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the file policy on real paths", () => {
  const policy = () =>
    makeFilePolicy({ allowedPaths: [join(dir, "srv", "a")], secretDirs: [], secretFiles: [join(dir, "srv", "a", "lmcp.toml")], writeProtectedDirs: [] });
  const decide = (p: string, access: "read" | "write") => {
    if (access === "read") {
      try {
        closeSync(openChecked(policy(), p, "file", () => undefined).fd);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    }
    try {
      closeWriteTarget(resolveWrite(policy(), p, true));
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };
  test("allows paths under an allowed root, existing or not", () => {
    expect(decide(join(dir, "srv", "a", "ok.txt"), "read")).toBeUndefined();
    expect(refusal(policy(), join(dir, "srv", "a", "new", "deep.txt"), "write")).toBeUndefined();
  });
  test("refuses .., prefix tricks, symlink escapes and a symlinked parent on write", () => {
    for (const [p, access] of [
      [join(dir, "srv", "a", "..", "a_evil", "x"), "write"],
      [join(dir, "srv", "a_evil", "x"), "write"],
      [join(dir, "srv", "a", "secret-link"), "read"],
      [join(dir, "srv", "a", "escape", "secret"), "read"],
      [join(dir, "srv", "a", "escape", "new-file"), "write"],
    ] as const) {
      expect(decide(p, access), p).toContain("outside this server's allowed_paths");
    }
  });
  test("never reads or writes secrets, never writes authorized_keys, whatever allowed_paths says", () => {
    expect(refusal(policy(), join(dir, "srv", "a", "lmcp.toml"), "write")).toContain("secrets");
    expect(refusal(policy(), join(dir, "srv", "a", "lmcp.toml"), "read")).toContain("secrets");
    expect(refusal(permissivePolicy, join(dir, "home", ".ssh", "authorized_keys"), "write")).toContain("protected");
  });
});

describe("a server with a policy", () => {
  let server: StartedServer;
  let full: Client;
  let reader: Client;
  const audit = () => join(dir, "audit.jsonl");
  beforeAll(async () => {
    const config = join(dir, "lmcp.toml");
    writeFileSync(config, `allowed_paths = [${JSON.stringify(join(dir, "srv", "a"))}]\naudit_log = ${JSON.stringify(audit())}\n`);
    server = await startServer({ args: ["--config", config], tokenFileText: "full-token-123 name=ops\nreader-token-456 read-only name=reader\n" });
    full = await connect(server, "full-token-123");
    reader = await connect(server, "reader-token-456");
  });
  afterAll(async () => {
    await full?.close();
    await reader?.close();
    await server?.stop();
  });

  test("a read-only token sees only read-only tools and cannot call the others", async () => {
    const { tools } = await reader.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(expect.arrayContaining(["list_dir", "read_file", "search_files"]));
    for (const t of tools) expect(t.annotations?.readOnlyHint, t.name).toBe(true);
    const res = await rpc({ url: server.url, token: "reader-token-456" }, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "shell", arguments: { command: "id" } } });
    const body = (await res.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toContain("read-only");
    const r = await callTool(reader, "read_file", { path: join(dir, "srv", "a", "ok.txt") });
    expect(r.isError).toBeFalsy();
  });
  test("file tools refuse paths outside allowed_paths, symlink escapes included", async () => {
    for (const [tool, args] of [
      ["read_file", { path: join(dir, "etc", "secret") }],
      ["read_file", { path: join(dir, "srv", "a", "secret-link") }],
      ["write_file", { path: join(dir, "srv", "a", "escape", "planted"), content: "x" }],
      ["list_dir", { path: join(dir, "srv", "a_evil") }],
    ] as const) {
      const r = await callTool(full, tool, args);
      expect(r.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
      expect(resultText(r)).toContain("allowed_paths");
    }
    expect(() => readFileSync(join(dir, "etc", "planted"))).toThrow();
  });
  test("search_files does not follow a symlink out of allowed_paths", async () => {
    const r = await callTool(full, "search_files", { path: join(dir, "srv", "a"), pattern: "*", content: "secret" });
    expect(JSON.stringify(r.structuredContent)).not.toContain("etc/secret");
    expect(r.structuredContent).toMatchObject({ outside_skipped: 2, count: 0 });
  });
  test("authorized_keys is never written, even inside allowed_paths", async () => {
    const r = await callTool(full, "write_file", { path: join(dir, "srv", "a", ".ssh", "authorized_keys"), content: "ssh-ed25519 AAAA attacker" });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("protected");
  });
  test("the audit log has one JSON line per changing call, with the token's name and never the token", async () => {
    const content = "written through lmcp\n";
    await callTool(full, "write_file", { path: join(dir, "srv", "a", "audited.txt"), content });
    await callTool(full, "shell", { command: "exit 7" });
    await callTool(full, "read_file", { path: join(dir, "srv", "a", "ok.txt") });
    const lines = await waitFor("three audit lines", () => {
      try {
        const l = readFileSync(audit(), "utf8").trim().split("\n");
        return l.length >= 3 ? l : undefined;
      } catch {
        return undefined;
      }
    });
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const write = entries.find((e) => e.tool === "write_file" && e.outcome === "ok")!;
    expect(write).toMatchObject({ token: "ops", path: join(dir, "srv", "a", "audited.txt"), bytes: content.length });
    expect(write.sha256).toBe(createHash("sha256").update(content).digest("hex"));
    expect(write.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(entries.find((e) => e.tool === "shell" && e.outcome === "ok")).toMatchObject({ command: "exit 7", exit_code: 7, outcome: "ok" });
    expect(entries.some((e) => e.outcome === "denied")).toBe(true);
    expect(entries.some((e) => e.tool === "read_file" && e.outcome !== "denied")).toBe(false);
    const text = readFileSync(audit(), "utf8");
    expect(text).not.toContain("full-token-123");
    expect(text).not.toContain("written through lmcp");
  });
  test("an unknown token option is a start-up error naming the line", async () => {
    const s = startServer({ tokenFileText: "tok1\ntok2 admin\n" });
    await expect(s).rejects.toThrow(/:2: unknown token option "admin"/);
  });
});
