// `lmcp hub` end to end over lmcp: real backends, a hung listener, a closed
// port and a wrong token, through the SDK client. (SSH paths: ssh_fallback.test.ts.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { closedPort, hungListener, stuckBackend } from "../helpers/fixtures.ts";
import { type BackendSpec, registryText, startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, lmcpCommand, pidAlive, resultText, rpc, startServer, waitFor, waitForPidFile } from "../helpers/server.ts";

let dir: string;
let alpha: StartedServer;
let beta: StartedServer;
let hung: ReturnType<typeof hungListener>;
let closed: number;
let hub: StartedServer & { registry: string };
let client: Client;
let entries: BackendSpec[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-hub-test-"));
  [alpha, beta] = await Promise.all([startServer({ args: ["--name", "alpha"] }), startServer({ args: ["--name", "beta"] })]);
  hung = hungListener();
  closed = closedPort();
  entries = [
    { name: "alpha", url: alpha.url, token: alpha.token, tags: ["web", "all"] },
    { name: "beta", url: beta.url, token: beta.token, tags: ["all"] },
    { name: "hung", url: `http://127.0.0.1:${hung.port}/mcp`, token: "x", tags: ["all"] },
    { name: "closed", url: `http://127.0.0.1:${closed}/mcp`, token: "x", tags: ["all"] },
    { name: "wrongtoken", url: alpha.url, token: "not-alphas-token", tags: ["all"] },
  ];
  hub = await startHub(entries, { registryDir: dir, env: { LMCP_HUB_PROBE_TIMEOUT: "1" } });
  client = await connect(hub);
});
afterAll(async () => {
  await client?.close();
  await Promise.all([hub?.stop(), alpha?.stop(), beta?.stop()]);
  hung?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const call = (name: string, args: Record<string, unknown>) => callTool(client, name, args);
const text = resultText;
type Host = { name: string; state: string; via: string; backoff_s: number; error: string | null };

describe("tools", () => {
  test("offers remote_list_hosts, a remote_ version of every serve tool with `host`, and remote_shell_many", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    for (const n of ["shell", "shell_bg", "shell_bg_status", "shell_bg_wait", "shell_bg_output", "shell_bg_list", "shell_bg_kill", "read_file", "write_file", "edit_file", "list_dir", "search_files"]) {
      expect(names).toContain(`remote_${n}`);
    }
    expect(names).toContain("remote_list_hosts");
    expect(names).toContain("remote_shell_many");
    const readFile = tools.find((t) => t.name === "remote_read_file")!;
    expect(readFile.inputSchema.required).toEqual(expect.arrayContaining(["host", "path"]));
    expect(Object.keys(readFile.outputSchema?.properties ?? {})).toEqual(expect.arrayContaining(["content", "host", "via"]));
    expect(readFile.annotations?.readOnlyHint).toBe(true);
  });
});

describe("health", () => {
  test("probes every host in parallel: up, down (hung, closed) and auth_failed, within one probe timeout", async () => {
    const started = performance.now();
    const r = await call("remote_list_hosts", { force: true });
    const elapsed = performance.now() - started;
    const hosts = (r.structuredContent as { hosts: Host[] }).hosts;
    const state = Object.fromEntries(hosts.map((h) => [h.name, h.state]));
    expect(state).toEqual({ alpha: "up", beta: "up", hung: "down", closed: "down", wrongtoken: "auth_failed" });
    expect(hosts.find((h) => h.name === "hung")?.error).toContain("no answer within 1 s");
    expect(hosts.find((h) => h.name === "closed")?.backoff_s).toBe(60);
    // One 1 s probe timeout, not the sum of two hung probes.
    expect(elapsed).toBeLessThan(1900);
  });
  test("a tag selects hosts", async () => {
    const r = await call("remote_list_hosts", { tag: "web" });
    expect((r.structuredContent as { hosts: Host[] }).hosts.map((h) => h.name)).toEqual(["alpha"]);
  });
});

describe("routing over lmcp", () => {
  test("a call to an up host goes to its lmcp and says via lmcp", async () => {
    const r = await call("remote_shell", { host: "alpha", command: "echo from-alpha" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ host: "alpha", via: "lmcp", stdout: "from-alpha\n", exit_code: 0 });
  });
  test("file tools pass through with their structured results", async () => {
    const path = join(dir, "via-hub.txt");
    await call("remote_write_file", { host: "beta", path, content: "one\ntwo\n" });
    const r = await call("remote_read_file", { host: "beta", path, offset: 2 });
    expect(r.structuredContent).toMatchObject({ content: "two\n", host: "beta", via: "lmcp" });
    const e = await call("remote_edit_file", { host: "beta", path, old_string: "two", new_string: "three" });
    expect(e.structuredContent).toMatchObject({ replacements: 1, via: "lmcp" });
  });
  test("the caller's traceparent reaches the backend: its audit line carries it", async () => {
    const traceparent = `00-${crypto.randomUUID().replace(/-/g, "")}-00f067aa0ba902b7-01`;
    const r = (await client.callTool({ name: "remote_shell", arguments: { host: "alpha", command: "echo traced" }, _meta: { traceparent } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const audit = join(alpha.home, ".state", "lmcp", "audit.jsonl");
    const line = await waitFor("alpha's audit line with the traceparent", () =>
      existsSync(audit) ? readFileSync(audit, "utf8").split("\n").find((l) => l.includes(traceparent)) : undefined,
    );
    expect(JSON.parse(line)).toMatchObject({ tool: "shell", traceparent });
  });
  test("a backend's tool error comes back as an error naming the host", async () => {
    const r = await call("remote_read_file", { host: "alpha", path: join(dir, "nope") });
    expect(r.isError).toBe(true);
    expect(text(r)).toStartWith("alpha:");
  });
  test("a down host without ssh is a clear error, not a hang", async () => {
    const started = performance.now();
    const r = await call("remote_shell", { host: "closed", command: "true" });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("no ssh fallback");
    expect(performance.now() - started).toBeLessThan(1500);
  });
  test("a refused token is reported as such and not retried", async () => {
    const r = await call("remote_shell", { host: "wrongtoken", command: "true" });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("401");
  });
  test("an unknown host lists the known ones", async () => {
    const r = await call("remote_list_dir", { host: "nosuch", path: "/" });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("alpha");
  });
  test("edit_file and shell_bg on a host without lmcp say they need lmcp", async () => {
    const r = await call("remote_edit_file", { host: "closed", path: "/x", old_string: "a", new_string: "b" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/no ssh fallback|needs lmcp/);
  });
  test("remote_shell_many runs in parallel and reports a down host per host", async () => {
    const r = await call("remote_shell_many", { tag: "all", command: "echo many" });
    expect(r.isError).toBeFalsy();
    const results = (r.structuredContent as { results: { host: string; ok: boolean; stdout: string; error: string | null }[] }).results;
    const byHost = Object.fromEntries(results.map((x) => [x.host, x]));
    expect(byHost.alpha).toMatchObject({ ok: true, stdout: "many\n" });
    expect(byHost.beta).toMatchObject({ ok: true, stdout: "many\n" });
    expect(byHost.closed?.ok).toBe(false);
    expect(byHost.hung?.ok).toBe(false);
    expect(byHost.wrongtoken?.ok).toBe(false);
    expect((r.structuredContent as { summary: string }).summary).toBe("5 hosts: 2 ok, 0 failed, 3 unreachable");
    expect((r.structuredContent as { counts: unknown }).counts).toEqual({ ok: 2, failed: 0, unreachable: 3, total: 5 });
  });
  test("remote_shell_many groups identical results, cuts long output, caps concurrency and reports each host's end", async () => {
    const seen: { progress: number; total?: number; message?: string }[] = [];
    const r = (await client.callTool(
      { name: "remote_shell_many", arguments: { hosts: ["alpha", "beta", "closed"], command: "seq 1 20000; echo same >&2", max_concurrency: 1 } },
      { onprogress: (p) => void seen.push(p) },
    )) as CallToolResult;
    const sc = r.structuredContent as {
      groups: { hosts: string[]; exit_code: number | null; stdout: string }[];
      results: { host: string; stdout: string; duration_ms: number; via: string | null }[];
    };
    expect(sc.groups[0]?.hosts).toEqual(["alpha", "beta"]);
    expect(sc.groups[1]?.hosts).toEqual(["closed"]);
    const alphaOut = sc.results.find((x) => x.host === "alpha")!.stdout;
    expect(alphaOut).toStartWith("1\n2\n");
    expect(alphaOut).toEndWith("19999\n20000\n");
    expect(alphaOut).toContain("bytes cut");
    expect(Buffer.byteLength(alphaOut)).toBeLessThan(4096 + 200);
    expect(seen.map((p) => p.progress)).toEqual([1, 2, 3]);
    expect(seen[2]?.total).toBe(3);
    expect(text(r)).toStartWith("3 hosts: 2 ok, 0 failed, 1 unreachable\n--- alpha, beta (exit 0)");
  });
  test("remote_shell_many with an empty hosts list is refused", async () => {
    const r = await call("remote_shell_many", { hosts: [], command: "true" });
    expect(r.isError).toBe(true);
  });
});

describe("progress and cancellation through the hub", () => {
  test("remote_shell relays the backend's progress notifications", async () => {
    const seen: { message?: string }[] = [];
    const r = (await client.callTool(
      { name: "remote_shell", arguments: { host: "alpha", command: "for i in 1 2 3 4 5 6; do echo step-$i; sleep 1; done" } },
      { onprogress: (p) => void seen.push(p), timeout: 30_000 },
    )) as CallToolResult;
    expect((r.structuredContent as { exit_code: number }).exit_code).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]?.message).toMatch(/running \d+s: step-/);
  }, 20_000);
  test("cancelling remote_shell kills the command's process group on the backend", async () => {
    const pidFile = join(dir, "remote-cancel.pid");
    const abort = new AbortController();
    const pending = client
      .callTool({ name: "remote_shell", arguments: { host: "alpha", command: `sleep 300 & echo $! > ${pidFile}; wait` } }, { signal: abort.signal })
      .catch((e: Error) => e);
    const pid = await waitForPidFile(pidFile);
    abort.abort("test cancels");
    expect(await pending).toBeInstanceOf(Error);
    await waitFor("the backend's command to die", () => !pidAlive(pid) || undefined, 5000);
  });
});

describe("one caller's cancellation", () => {
  test("does not fail another caller's call to the same host, nor mark the host down", async () => {
    const pidFile = join(dir, "cancel-one.pid");
    const abort = new AbortController();
    const cancelled = client
      .callTool({ name: "remote_shell", arguments: { host: "alpha", command: `echo $$ > ${pidFile}; sleep 300` } }, { signal: abort.signal })
      .catch((e: Error) => e);
    const other = connect(hub).then(async (c) => {
      try {
        return await callTool(c, "remote_shell", { host: "alpha", command: "sleep 1; echo still-here" });
      } finally {
        await c.close();
      }
    });
    await waitForPidFile(pidFile);
    abort.abort("test cancels one call");
    expect(await cancelled).toBeInstanceOf(Error);
    const r = await other;
    expect(r.isError).toBeFalsy();
    expect((r.structuredContent as { stdout: string }).stdout).toBe("still-here\n");
    const hosts = ((await callTool(client, "remote_list_hosts", {})).structuredContent as { hosts: { name: string; state: string }[] }).hosts;
    expect(hosts.find((h) => h.name === "alpha")?.state).toBe("up");
  });
});

describe("isolation and tokens", () => {
  test("calls to a healthy host complete while calls to a hanging backend wait", async () => {
    // A backend that answers ping but never answers tools/call.
    const stuck = stuckBackend();
    const s = await startHub([...entries, { name: "stuck", url: `http://127.0.0.1:${stuck.port}/mcp`, token: "x" }], {
      registryDir: mkdtempSync(join(dir, "iso-")),
    });
    const c = await connect(s);
    try {
      const abort = new AbortController();
      const hanging = Array.from({ length: 20 }, () =>
        c.callTool({ name: "remote_shell", arguments: { host: "stuck", command: "true" } }, { signal: abort.signal }).catch(() => "aborted"),
      );
      for (let i = 0; i < 10; i++) {
        const r = await callTool(c, "remote_shell", { host: "alpha", command: `echo ${i}` });
        expect((r.structuredContent as { stdout: string }).stdout).toBe(`${i}\n`);
      }
      abort.abort();
      expect(await Promise.all(hanging)).toEqual(Array(20).fill("aborted"));
    } finally {
      await c.close();
      await s.stop();
      stuck.stop();
    }
  });
  test("the hub's token does not open a backend, and no token reaches the log", async () => {
    expect((await rpc({ url: alpha.url, token: hub.token }, { jsonrpc: "2.0", id: 1, method: "ping" })).status).toBe(401);
    await waitFor("hub log lines with host and via", () => /tool=remote_shell host=alpha via=lmcp/.test(hub.logs()) || undefined);
    for (const t of [hub.token, alpha.token, beta.token, "not-alphas-token"]) expect(hub.logs()).not.toContain(t);
  });
  test("a backend that goes away is marked down on the next call", async () => {
    const gamma = await startServer();
    const s = await startHub([{ name: "gamma", url: gamma.url, token: gamma.token }], { registryDir: mkdtempSync(join(dir, "gone-")) });
    const c = await connect(s);
    try {
      const ok = await callTool(c, "remote_list_dir", { host: "gamma", path: "/" });
      expect(ok.isError).toBeFalsy();
      await gamma.stop();
      const r = await callTool(c, "remote_list_dir", { host: "gamma", path: "/" });
      expect(r.isError).toBe(true);
      const hosts = (await callTool(c, "remote_list_hosts", {})).structuredContent as { hosts: Host[] };
      expect(hosts.hosts[0]).toMatchObject({ name: "gamma", state: "down", backoff_s: 60 });
    } finally {
      await c.close();
      await s.stop();
    }
  });
});

describe("registry reload and lmcp hosts", () => {
  test("SIGHUP re-reads backends.toml; a bad file keeps the old registry and says why", async () => {
    const s = await startHub([{ name: "alpha", url: alpha.url, token: alpha.token }], { registryDir: mkdtempSync(join(dir, "hup-")) });
    const c = await connect(s);
    const names = async () =>
      ((await callTool(c, "remote_list_hosts", {})).structuredContent as { hosts: Host[] }).hosts.map((h) => h.name);
    try {
      writeFileSync(s.registry, registryText([{ name: "alpha", url: alpha.url, token: alpha.token }, { name: "beta", url: beta.url, token: beta.token }]));
      s.proc.kill("SIGHUP");
      await waitFor("beta to appear", async () => ((await names()).includes("beta") ? true : undefined));
      writeFileSync(s.registry, '[[backend]]\nname = "x"\nssh = "-oProxyCommand=evil"\n');
      s.proc.kill("SIGHUP");
      await waitFor("the reload error in the log", () => s.logs().includes("kept the old registry") || undefined);
      expect(s.logs()).toContain('key "ssh"');
      expect(await names()).toEqual(["alpha", "beta"]);
    } finally {
      await c.close();
      await s.stop();
    }
  });
  test("`lmcp hosts` prints an aligned table without colour when not a TTY, and --json", async () => {
    const env = { PATH: process.env.PATH ?? "", HOME: dir };
    const r = Bun.spawnSync([...lmcpCommand(), "hosts", "--url", hub.url, "--token-file", hub.tokenFile], { env });
    expect(r.exitCode).toBe(0);
    const out = r.stdout.toString();
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+VIA\s+LATENCY\s+LAST PROBE\s+NEXT PROBE/);
    expect(out).not.toContain("\x1b[");
    const stateCol = lines[0]!.indexOf("STATE");
    expect(lines.find((l) => l.startsWith("alpha"))!.slice(stateCol)).toStartWith("up");
    const j = Bun.spawnSync([...lmcpCommand(), "hosts", "--json", "--url", hub.url, "--token-file", hub.tokenFile], { env });
    expect(JSON.parse(j.stdout.toString()).map((h: Host) => h.name)).toEqual(["alpha", "beta", "hung", "closed", "wrongtoken"]);
  });
  test("`lmcp hosts` finds the hub at its configured listen address (--listen, or LMCP_LISTEN), without --url", async () => {
    const env = { PATH: process.env.PATH ?? "", HOME: dir, XDG_CONFIG_HOME: join(dir, "no-config") };
    const listen = new URL(hub.url).host;
    const byFlag = Bun.spawnSync([...lmcpCommand(), "hosts", "--json", "--listen", listen, "--token-file", hub.tokenFile], { env });
    expect(byFlag.stderr.toString()).toBe("");
    expect(JSON.parse(byFlag.stdout.toString()).map((h: Host) => h.name)).toContain("alpha");
    const byEnv = Bun.spawnSync([...lmcpCommand(), "hosts", "--json", "--token-file", hub.tokenFile], { env: { ...env, LMCP_LISTEN: `0.0.0.0:${new URL(hub.url).port}` } });
    expect(byEnv.exitCode).toBe(0);
  });
});
