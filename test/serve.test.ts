// `lmcp serve` end to end through the SDK's real client: the tool list, every
// tool over HTTP, concurrency, progress, cancellation, signals and auth set-up.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { serveTools } from "../src/tools/registry.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { type StartedServer, callTool, connect, pidAlive, rpc, startServer, waitFor, waitForPidFile } from "./helpers/server.ts";

let server: StartedServer;
let client: Client;
let dir: string;
beforeAll(async () => {
  server = await startServer({ args: ["--name", "test-box"] });
  client = await connect(server);
  dir = mkdtempSync(join(tmpdir(), "lmcp-serve-test-"));
});
afterAll(async () => {
  await client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const call = (name: string, args: Record<string, unknown>) => callTool(client, name, args);
const structured = <T = Record<string, unknown>>(r: CallToolResult) => r.structuredContent as T;

describe("initialize and tools/list", () => {
  test("serverInfo carries the instance name and the version", () => {
    const info = client.getServerVersion();
    expect(info?.name).toBe("test-box");
    expect(info?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(client.getInstructions()).toContain("test-box");
  });
  test("lists every serve tool, each with an output schema and the right hints", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(serveTools.map((t) => t.name).sort());
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["shell", "shell_bg", "read_file", "write_file", "edit_file", "list_dir", "search_files", "session_start", "session_read"]));
    for (const t of tools) {
      expect(t.outputSchema?.type, t.name).toBe("object");
      expect(t.description?.length, t.name).toBeGreaterThan(20);
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const ro of ["read_file", "list_dir", "search_files", "shell_bg_status", "shell_bg_wait", "shell_bg_output", "shell_bg_list"]) expect(byName[ro]?.annotations?.readOnlyHint, ro).toBe(true);
    for (const w of ["write_file", "edit_file", "shell"]) expect(byName[w]?.annotations?.destructiveHint, w).toBe(true);
  });
  test("schemas use no type arrays (strict clients call them not portable): a nullable field is an anyOf", async () => {
    const { tools } = await client.listTools();
    for (const t of tools) {
      const text = JSON.stringify([t.inputSchema, t.outputSchema]);
      expect(text, t.name).not.toMatch(/"type":\[/);
    }
    const shell = tools.find((t) => t.name === "shell")!;
    expect((shell.outputSchema?.properties as Record<string, unknown>).signal).toMatchObject({ anyOf: [{ type: "string" }, { type: "null" }] });
  });
});

describe("every tool over HTTP", () => {
  test("write, read, edit, list and search a file", async () => {
    const path = join(dir, "notes.txt");
    const w = await call("write_file", { path, content: "alpha\nbeta\n" });
    expect(w.isError).toBeFalsy();
    expect(structured(w).bytes_written).toBe(11);
    const r = await call("read_file", { path });
    expect(structured(r).content).toBe("alpha\nbeta\n");
    expect(structured(r).total_lines).toBe(2);
    const e = await call("edit_file", { path, old_string: "beta", new_string: "gamma" });
    expect(structured(e).replacements).toBe(1);
    expect(readFileSync(path, "utf8")).toBe("alpha\ngamma\n");
    const l = await call("list_dir", { path: dir });
    expect(structured<{ entries: { name: string }[] }>(l).entries.map((x) => x.name)).toContain("notes.txt");
    const s = await call("search_files", { path: dir, pattern: "*.txt" });
    expect(structured<{ matches: string[] }>(s).matches).toEqual([path]);
  });
  test("a failing tool returns isError with advice, and the server keeps serving", async () => {
    const r = await call("read_file", { path: join(dir, "missing.txt") });
    expect(r.isError).toBe(true);
    expect((r.content[0] as { text: string }).text).toContain("missing.txt");
    const d = await call("read_file", { path: dir });
    expect(d.isError).toBe(true);
    expect((d.content[0] as { text: string }).text).toMatch(/list_dir/);
  });
  test("shell returns exit code, stdout and stderr", async () => {
    const r = await call("shell", { command: "echo out; echo err >&2; exit 3" });
    expect(r.isError).toBeFalsy();
    expect(structured(r)).toMatchObject({ exit_code: 3, stdout: "out\n", stderr: "err\n", timed_out: false });
  });
  test("50 concurrent calls all get their own correct answers", async () => {
    for (let i = 0; i < 25; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`);
    const calls = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0
        ? call("read_file", { path: join(dir, `f${i / 2}.txt`) }).then((r) => structured(r).content === `file ${i / 2}\n`)
        : call("shell", { command: `echo call-${i}` }).then((r) => structured(r).stdout === `call-${i}\n`),
    );
    expect(await Promise.all(calls)).toEqual(Array(50).fill(true));
  });
});

describe("progress and cancellation", () => {
  test("a 12 s shell call sends progress at least every 5 s, with elapsed time and the last line", async () => {
    const seen: { progress: number; message?: string }[] = [];
    const r = (await client.callTool(
      { name: "shell", arguments: { command: "for i in $(seq 1 12); do echo tick-$i; sleep 1; done" } }, { onprogress: (p) => void seen.push(p), timeout: 30_000 },
    )) as CallToolResult;
    expect(structured(r).exit_code).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[0]?.message).toMatch(/^running [45]s: tick-[3-6]$/);
    expect(seen[1]!.progress).toBeGreaterThan(seen[0]!.progress);
  }, 30_000);
  test("cancelling a call kills its process group", async () => {
    const pidFile = join(dir, "cancel.pid");
    const abort = new AbortController();
    const pending = client
      .callTool({ name: "shell", arguments: { command: `sleep 300 & echo $! > ${pidFile}; wait` } }, { signal: abort.signal })
      .catch((e: Error) => e);
    const pid = await waitForPidFile(pidFile);
    expect(pidAlive(pid)).toBe(true);
    abort.abort("test cancels");
    expect(await pending).toBeInstanceOf(Error);
    await waitFor("the cancelled command's child to die", () => !pidAlive(pid) || undefined, 5000);
  });
  test("a client that hangs up mid-call has its command killed", async () => {
    const pidFile = join(dir, "hangup.pid");
    const abort = new AbortController();
    const res = fetch(server.url, {
      method: "POST",
      signal: abort.signal,
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 10, method: "tools/call", params: { name: "shell", arguments: { command: `sleep 300 & echo $! > ${pidFile}; wait` } } }),
    }).catch((e: Error) => e);
    const pid = await waitForPidFile(pidFile);
    abort.abort();
    await res;
    await waitFor("the abandoned command's child to die", () => !pidAlive(pid) || undefined, 5000);
  });
});

describe("process lifecycle", () => {
  test("SIGTERM lets a call in flight finish, then exits 0", async () => {
    const s = await startServer();
    const c = await connect(s);
    const marker = join(dir, "sigterm.started");
    const pending = callTool(c, "shell", { command: `touch ${marker}; sleep 1; echo finished` });
    await waitFor("the call to start", () => existsSync(marker) || undefined);
    s.proc.kill("SIGTERM");
    const r = await pending;
    expect(structured(r).stdout).toBe("finished\n");
    expect(await s.stop()).toBe(0);
  });
  test("SIGHUP re-reads the token file: a new token works, a removed one stops working", async () => {
    const s = await startServer({ tokenFileText: "old-token\n" });
    const ping = (token: string) => rpc({ url: s.url, token }, { jsonrpc: "2.0", id: 1, method: "ping" }).then((r) => r.status);
    expect(await ping("old-token")).toBe(200);
    writeFileSync(s.tokenFile, "# rotated\nnew-token\n");
    s.proc.kill("SIGHUP");
    await waitFor("the new token to work", async () => ((await ping("new-token")) === 200 ? true : undefined));
    expect(await ping("old-token")).toBe(401);
    expect(s.logs()).not.toContain("new-token");
    await s.stop();
  });
  test("with no token configured, serve mints one (0600, never printed) and reuses it", async () => {
    const home = mkdtempSync(join(tmpdir(), "lmcp-mint-"));
    try {
      const s = await startServer({ noTokenFile: true, home });
      const minted = join(home, ".config", "lmcp", "token");
      expect(statSync(minted).mode & 0o777).toBe(0o600);
      const token = readFileSync(minted, "utf8").trim();
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(s.logs()).toContain(minted);
      expect(s.logs()).toContain("lmcp client-config");
      expect(s.logs()).not.toContain(token);
      expect(await rpc({ url: s.url, token }, { jsonrpc: "2.0", id: 1, method: "ping" }).then((r) => r.status)).toBe(200);
      await s.stop();
      const again = await startServer({ noTokenFile: true, home });
      expect(readFileSync(minted, "utf8").trim()).toBe(token);
      expect(await rpc({ url: again.url, token }, { jsonrpc: "2.0", id: 1, method: "ping" }).then((r) => r.status)).toBe(200);
      await again.stop();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
  test("LMCP_TOKEN wins over the token file", async () => {
    const s = await startServer({ env: { LMCP_TOKEN: "env-token" } });
    expect(await rpc({ url: s.url, token: "env-token" }, { jsonrpc: "2.0", id: 1, method: "ping" }).then((r) => r.status)).toBe(200);
    expect(await rpc(s, { jsonrpc: "2.0", id: 1, method: "ping" }).then((r) => r.status)).toBe(401);
    await s.stop();
  });
  test("--no-auth accepts requests without a token and warns", async () => {
    const s = await startServer({ noTokenFile: true, args: ["--no-auth"] });
    expect(await rpc({ url: s.url, token: "" }, { jsonrpc: "2.0", id: 1, method: "ping" }, { authorization: "" }).then((r) => r.status)).toBe(200);
    expect(s.logs()).toContain("WARNING: auth is off");
    await s.stop();
  });
  test("a shell_bg job survives a server restart and is found by the new server", async () => {
    const home = mkdtempSync(join(tmpdir(), "lmcp-restart-"));
    try {
      const s1 = await startServer({ home });
      const c1 = await connect(s1);
      const started = structured<{ job_id: string; pid: number }>(await callTool(c1, "shell_bg", { command: "sleep 120" }));
      await c1.close();
      await s1.stop();
      expect(pidAlive(started.pid)).toBe(true);
      const s2 = await startServer({ home });
      const c2 = await connect(s2);
      const status = structured(await callTool(c2, "shell_bg_status", { job_id: started.job_id }));
      expect(status.state).toBe("running");
      await c2.callTool({ name: "shell_bg_kill", arguments: { job_id: started.job_id, signal: "KILL" } });
      await waitFor("the job to end", () => !pidAlive(started.pid) || undefined);
      await c2.close();
      await s2.stop();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
