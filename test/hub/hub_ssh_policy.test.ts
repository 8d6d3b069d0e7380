// The hub's SSH fallback under the backend's policy, end to end through
// `lmcp hub` and a real sshd: read-only tokens stay read-only (case 1/3), the
// registry's allowed_paths and lmcp's secrets hold over SSH (cases 1, 3, 5),
// no value of a call is on any command line and ssh inherits no token (13),
// and one slow host does not hold up another's calls (10).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { closedPort } from "../helpers/fixtures.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, resultText, waitFor, waitForPidFile } from "../helpers/server.ts";
import { type StartedSshd, startSshd } from "../helpers/sshd.ts";

let dir: string;
let inside: string;
let outside: string;
let sshd: StartedSshd;
let hub: StartedServer & { registry: string };
let full: Client;
let readOnly: Client;
const fullToken = `full-${crypto.randomUUID()}`;
const readOnlyToken = `ro-${crypto.randomUUID()}`;
const backendSecret = `backend-secret-${crypto.randomUUID()}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-hubsshpol-"));
  inside = join(dir, "inside");
  outside = join(dir, "outside");
  mkdirSync(inside);
  mkdirSync(outside);
  writeFileSync(join(inside, "ok.txt"), "inside\n");
  writeFileSync(join(outside, "private.txt"), "outside-only\n");
  const tokenFile = join(dir, "down.token");
  writeFileSync(tokenFile, `${backendSecret}\n`, { mode: 0o600 });
  sshd = await startSshd();
  const ssh = { ssh: sshd.target, ssh_port: sshd.port, ssh_options: sshd.sshOptions };
  const down = `http://127.0.0.1:${closedPort()}/mcp`;
  hub = await startHub(
    [
      { name: "confined", url: down, token_file: tokenFile, ...ssh, allowed_paths: [inside] },
      { name: "open", ...ssh },
      { name: "slow", ...ssh },
      { name: "byenv", url: down, token_env: "LMCP_TEST_BACKEND_TOKEN", ...ssh },
    ],
    {
      registryDir: dir,
      tokenFileText: `${fullToken}\n${readOnlyToken} read-only\n`,
      env: { LMCP_HUB_PROBE_TIMEOUT: "1", LMCP_HUB_SSH_HARD_TIMEOUT: "60", LMCP_TEST_BACKEND_TOKEN: backendSecret },
    },
  );
  full = await connect(hub, fullToken);
  readOnly = await connect(hub, readOnlyToken);
});
afterAll(async () => {
  await Promise.all([full?.close(), readOnly?.close()]);
  await Promise.all([hub?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A call's result, or the JSON-RPC error the server answered with (as text, isError). */
async function attempt(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  try {
    return await callTool(client, name, args);
  } catch (err) {
    return { content: [{ type: "text", text: (err as Error).message }], isError: true };
  }
}

describe("read-only tokens over the SSH fallback", () => {
  test("cannot run remote_shell, remote_shell_many or remote_write_file on a host whose lmcp is down", async () => {
    const planted = join(dir, "planted-by-read-only");
    for (const [tool, args] of [
      ["remote_shell", { host: "confined", command: `touch ${planted}` }],
      ["remote_shell", { host: "open", command: `touch ${planted}` }],
      ["remote_shell_many", { hosts: ["open", "confined"], command: `touch ${planted}` }],
      ["remote_write_file", { host: "confined", path: join(inside, "ro.txt"), content: "x" }],
      ["remote_write_file", { host: "open", path: planted, content: "x" }],
    ] as const) {
      const r = await attempt(readOnly, tool, args);
      expect(r.isError, tool).toBe(true);
      expect(resultText(r), tool).toContain("read-only");
    }
    expect(existsSync(planted)).toBe(false);
    expect(existsSync(join(inside, "ro.txt"))).toBe(false);
    // The same calls with the full token go through over ssh, so the refusals above were the token's scope.
    const w = await callTool(full, "remote_write_file", { host: "confined", path: join(inside, "full.txt"), content: "x" });
    expect(w.structuredContent).toMatchObject({ via: "ssh", bytes_written: 1 });
  });

  test("may read over ssh, but never the hub's token, registry or a backend's token file (case 1)", async () => {
    const ok = await callTool(readOnly, "remote_read_file", { host: "confined", path: join(inside, "ok.txt") });
    expect(ok.structuredContent).toMatchObject({ via: "ssh", content: "inside\n" });
    for (const path of [hub.tokenFile, hub.registry, join(dir, "down.token")]) {
      for (const client of [readOnly, full]) {
        const r = await callTool(client, "remote_read_file", { host: "open", path });
        expect(r.isError, path).toBe(true);
        expect(resultText(r)).toContain("lmcp's own secrets");
        for (const t of [fullToken, readOnlyToken, backendSecret]) expect(resultText(r)).not.toContain(t);
      }
    }
    const s = await callTool(readOnly, "remote_search_files", { host: "open", path: dir, pattern: "*", content: "secret|ro-|full-" });
    for (const t of [fullToken, readOnlyToken, backendSecret]) expect(JSON.stringify(s)).not.toContain(t);
  });
});

describe("the registry's allowed_paths over ssh (case 3)", () => {
  test("a file outside the backend's allowed_paths is refused with why; inside works", async () => {
    const r = await callTool(readOnly, "remote_read_file", { host: "confined", path: join(outside, "private.txt") });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("outside confined's allowed_paths");
    expect(resultText(r)).not.toContain("outside-only");
    const l = await callTool(readOnly, "remote_list_dir", { host: "confined", path: outside });
    expect(l.isError).toBe(true);
    const s = await callTool(readOnly, "remote_search_files", { host: "confined", path: dir, pattern: "*" });
    expect(s.isError).toBe(true);
    // Another host without allowed_paths reads it: the limit is that backend's.
    const o = await callTool(readOnly, "remote_read_file", { host: "open", path: join(outside, "private.txt") });
    expect(o.structuredContent).toMatchObject({ via: "ssh", content: "outside-only\n" });
  });
});

describe("authorized_keys over ssh through the hub (case 5)", () => {
  test("remote_write_file refuses it and creates nothing", async () => {
    const target = join(dir, "home", ".ssh", "authorized_keys");
    const r = await callTool(full, "remote_write_file", { host: "open", path: target, content: "ssh-ed25519 AAAA attacker\n" });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("authorized_keys");
    expect(existsSync(join(dir, "home"))).toBe(false);
  });
});

/** Pids of processes whose parent is `ppid` and whose name is `comm`. */
function children(ppid: number, comm: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (name === comm && Number(fields[1]) === ppid) out.push(Number(e));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Every process's command line that holds `needle` (NULs shown as spaces). */
function cmdlinesWith(needle: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const line = readFileSync(`/proc/${e}/cmdline`, "latin1").replaceAll("\0", " ");
      if (line.includes(needle)) found.push(`${e}: ${line.slice(0, 200)}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

describe("secrets off command lines and out of ssh's environment (case 13)", () => {
  test("while a command runs over ssh, no command line holds its text, env values or stdin, and ssh's environment holds no token", async () => {
    const mark = `MARK${crypto.randomUUID().replaceAll("-", "")}`;
    const pidFile = join(dir, "cmdline.pid");
    const gate = join(dir, "cmdline.gate");
    const pending = callTool(full, "remote_shell", {
      host: "byenv",
      command: `echo $$ > ${pidFile}; while [ ! -e ${gate} ]; do sleep 0.05; done; echo "cmd-${mark}" "$VALUE"; cat`,
      env: { VALUE: `env-${mark}` },
      stdin: `stdin-${mark}\n`,
      timeout_s: 30,
    });
    await waitForPidFile(pidFile);
    try {
      expect(cmdlinesWith(mark)).toEqual([]);
      const ssh = children(hub.proc.pid, "ssh");
      expect(ssh.length).toBeGreaterThan(0);
      for (const pid of ssh) {
        const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
        expect(environ).toContain("PATH=");
        for (const secret of [fullToken, readOnlyToken, backendSecret, "LMCP_TOKEN=", "LMCP_TEST_BACKEND_TOKEN="]) expect(environ).not.toContain(secret);
      }
    } finally {
      writeFileSync(gate, "");
    }
    const r = await pending;
    expect(r.structuredContent).toMatchObject({ via: "ssh", exit_code: 0, stdout: `cmd-${mark} env-${mark}\nstdin-${mark}\n` });
  }, 30_000);

  test("a hub given its token in LMCP_TOKEN starts ssh without it", async () => {
    const envToken = `env-token-${crypto.randomUUID()}`;
    const regDir = mkdtempSync(join(dir, "envhub-"));
    const h = await startHub([{ name: "open", ssh: sshd.target, ssh_port: sshd.port, ssh_options: sshd.sshOptions }], {
      registryDir: regDir,
      env: { LMCP_TOKEN: envToken, LMCP_HUB_SSH_HARD_TIMEOUT: "30" },
    });
    const c = await connect(h, envToken);
    const pidFile = join(regDir, "run.pid");
    const gate = join(regDir, "gate");
    try {
      const pending = callTool(c, "remote_shell", { host: "open", command: `echo $$ > ${pidFile}; while [ ! -e ${gate} ]; do sleep 0.05; done`, timeout_s: 20 });
      await waitForPidFile(pidFile);
      const ssh = children(h.proc.pid, "ssh");
      expect(ssh.length).toBeGreaterThan(0);
      for (const pid of ssh) {
        const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
        expect(environ).toContain("PATH=");
        expect(environ).not.toContain(envToken);
        expect(environ).not.toContain("LMCP_TOKEN=");
      }
      writeFileSync(gate, "");
      expect((await pending).structuredContent).toMatchObject({ via: "ssh", exit_code: 0 });
    } finally {
      writeFileSync(gate, "");
      await c.close();
      await h.stop();
    }
  }, 30_000);

  test("a write's content is on no command line either", async () => {
    const mark = `WMARK${crypto.randomUUID().replaceAll("-", "")}`;
    const path = join(inside, "content.txt");
    // Big enough that the remote side is still reading it while we look.
    const content = `${mark}\n`.repeat(200_000);
    const pending = callTool(full, "remote_write_file", { host: "confined", path, content });
    const seen: string[] = [];
    await waitFor("the write to finish", async () => {
      seen.push(...cmdlinesWith(mark));
      return Bun.file(path).size === content.length || undefined;
    }, 30_000);
    expect((await pending).structuredContent).toMatchObject({ via: "ssh", bytes_written: content.length });
    expect(seen).toEqual([]);
  }, 40_000);
});

describe("a fair SSH queue (case 10)", () => {
  test("64 calls waiting on one slow host do not hold up another host's remote_read_file", async () => {
    const gate = join(dir, "slow.gate");
    const started = join(dir, "slow-started");
    mkdirSync(started);
    const slow = Array.from({ length: 64 }, (_, i) =>
      attempt(full, "remote_shell", { host: "slow", command: `touch ${started}/${i}; while [ ! -e ${gate} ]; do sleep 0.05; done; echo done`, timeout_s: 50 }),
    );
    try {
      // The slow host holds its share of the ssh slots (8 of the default 32), and the rest of its calls wait.
      await waitFor("the slow host's calls to start", () => readdirSync(started).length >= 8 || undefined, 20_000);
      const r = await callTool(full, "remote_read_file", { host: "open", path: join(inside, "ok.txt") });
      expect(r.structuredContent).toMatchObject({ via: "ssh", content: "inside\n" });
      // None of the slow calls could finish: the other host's read did not wait for them.
      expect(existsSync(gate)).toBe(false);
      expect(readdirSync(started).length).toBeLessThan(64);
    } finally {
      writeFileSync(gate, "");
    }
    const results = await Promise.all(slow);
    expect(results.filter((x) => (x.structuredContent as { stdout?: string } | undefined)?.stdout === "done\n").length).toBe(64);
  }, 120_000);
});
