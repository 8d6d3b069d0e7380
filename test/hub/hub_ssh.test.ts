// `lmcp hub` falling back to SSH, end to end: a real sshd on 127.0.0.1, an
// SSH-only host, a host whose lmcp is down, and SSH targets that wedge.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { closedPort, hungListener } from "../helpers/fixtures.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, pidAlive, resultText, startServer, waitFor, waitForPidFile } from "../helpers/server.ts";
import { type StartedSshd, startSshd } from "../helpers/sshd.ts";

let dir: string;
let sshd: StartedSshd;
let alpha: StartedServer;
let hung: ReturnType<typeof hungListener>;
let hub: StartedServer;
let client: Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-hubssh-"));
  // Started one after the other, so a failing sshd start leaves no server behind for afterAll to miss.
  sshd = await startSshd();
  alpha = await startServer();
  hung = hungListener();
  const ssh = { ssh: sshd.target, ssh_port: sshd.port, ssh_options: sshd.sshOptions };
  hub = await startHub(
    [
      { name: "alpha", url: alpha.url, token: alpha.token },
      { name: "sshonly", ...ssh, tags: ["ssh"] },
      { name: "lmcpdown", url: `http://127.0.0.1:${closedPort()}/mcp`, token: "x", ...ssh, tags: ["ssh"] },
      { name: "wedged", ssh: "root@127.0.0.1", ssh_port: hung.port, ssh_options: sshd.sshOptions },
    ],
    { registryDir: dir, env: { LMCP_HUB_PROBE_TIMEOUT: "1", LMCP_HUB_SSH_HARD_TIMEOUT: "3" } },
  );
  client = await connect(hub);
});
afterAll(async () => {
  await client?.close();
  await Promise.all([hub?.stop(), alpha?.stop(), sshd?.stop()]);
  hung?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const call = (name: string, args: Record<string, unknown>) => callTool(client, name, args);
const text = resultText;

describe("SSH fallback through the hub", () => {
  test("an SSH-only host runs shell over ssh and says so", async () => {
    const r = await call("remote_shell", { host: "sshonly", command: "echo over-ssh; echo err >&2; exit 4" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ host: "sshonly", via: "ssh", stdout: "over-ssh\n", stderr: "err\n", exit_code: 4 });
  });
  test("a host whose lmcp is down falls back to ssh for files, with the same result shape", async () => {
    const path = join(dir, "fallback.txt");
    const content = "it's \"quoted\" $(touch /tmp/pwned-lmcp) `x`\n";
    const w = await call("remote_write_file", { host: "lmcpdown", path, content });
    expect(w.structuredContent).toMatchObject({ via: "ssh", bytes_written: Buffer.byteLength(content) });
    expect(readFileSync(path, "utf8")).toBe("it's \"quoted\" $(touch /tmp/pwned-lmcp) `x`\n");
    const r = await call("remote_read_file", { host: "lmcpdown", path });
    expect(r.structuredContent).toMatchObject({ via: "ssh", content: "it's \"quoted\" $(touch /tmp/pwned-lmcp) `x`\n", total_lines: 1 });
    const l = await call("remote_list_dir", { host: "lmcpdown", path: dir });
    expect((r.structuredContent as { via: string }).via).toBe("ssh");
    expect(JSON.stringify(l.structuredContent)).toContain("fallback.txt");
    const s = await call("remote_search_files", { host: "lmcpdown", path: dir, pattern: "*.txt" });
    expect(s.structuredContent).toMatchObject({ via: "ssh", matches: [path] });
  });
  test("edit_file and shell_bg say they need lmcp on that host", async () => {
    for (const [tool, args] of [
      ["remote_edit_file", { path: "/tmp/x", old_string: "a", new_string: "b" }],
      ["remote_shell_bg", { command: "true" }],
    ] as const) {
      const r = await call(tool, { host: "sshonly", ...args });
      expect(r.isError, tool).toBe(true);
      expect(text(r), tool).toContain("needs lmcp on that host");
    }
  });
  test("a wedged ssh target is cut at the hard cap, and a healthy host answers meanwhile", async () => {
    const started = performance.now();
    const wedged = call("remote_shell", { host: "wedged", command: "true" });
    const healthy = await call("remote_shell", { host: "alpha", command: "echo fine" });
    expect((healthy.structuredContent as { stdout: string }).stdout).toBe("fine\n");
    const r = await wedged;
    const elapsed = performance.now() - started;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("before the remote side answered");
    expect(elapsed).toBeLessThan(3000 + 4000);
    expect(elapsed).toBeGreaterThan(2500);
  });
  test("cancelling a call over ssh kills the remote process group, not only the ssh client", async () => {
    const pidFile = join(dir, "ssh-cancel.pid");
    const abort = new AbortController();
    const pending = client
      .callTool({ name: "remote_shell", arguments: { host: "sshonly", command: `sleep 300 & echo $! > ${pidFile}; wait` } }, { signal: abort.signal })
      .catch((e: Error) => e);
    const pid = await waitForPidFile(pidFile);
    abort.abort("test cancels");
    expect(await pending).toBeInstanceOf(Error);
    await waitFor("the remote command to die", () => !pidAlive(pid) || undefined, 8000);
  });
  test("remote_shell_many mixes lmcp and ssh hosts", async () => {
    const r = await call("remote_shell_many", { hosts: ["alpha", "sshonly", "lmcpdown"], command: "echo hi" });
    const results = (r.structuredContent as { results: { host: string; via: string; stdout: string }[] }).results;
    expect(Object.fromEntries(results.map((x) => [x.host, [x.via, x.stdout]]))).toEqual({
      alpha: ["lmcp", "hi\n"],
      sshonly: ["ssh", "hi\n"],
      lmcpdown: ["ssh", "hi\n"],
    });
  });
  test("remote_list_hosts shows ssh-only hosts as unknown via ssh, never probed over ssh", async () => {
    const r = await call("remote_list_hosts", { force: true });
    const hosts = (r.structuredContent as { hosts: { name: string; state: string; via: string; next_probe: string | null }[] }).hosts;
    expect(hosts.find((h) => h.name === "sshonly")).toMatchObject({ state: "unknown", via: "ssh", next_probe: null });
    expect(hosts.find((h) => h.name === "lmcpdown")).toMatchObject({ state: "down", via: "ssh" });
  });
});
