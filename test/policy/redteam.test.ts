// The red team's file-policy cases (issue "Policy that holds": 1, 4, 6, 7, 12's
// file side, 13's /proc side, 15), each replayed against a real server (the
// compiled binary when LMCP_BIN is set) by a hostile client with real links,
// FIFOs, hard links and a link flipped by another process during the calls.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { type StartedServer, callTool, connect, pidAlive, resultText, rpc, startServer, waitFor } from "../helpers/server.ts";

const FULL = "full-token-redteam-1";
const READER = "reader-token-redteam-2";

let root: string;
let home: string;
let server: StartedServer;
let full: Client;
let reader: Client;

beforeAll(async () => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "lmcp-redteam-")));
  home = join(root, "home");
  mkdirSync(join(home, ".config", "lmcp"), { recursive: true });
  mkdirSync(join(root, "outside"));
  mkdirSync(join(root, "elsewhere"));
  writeFileSync(join(root, "outside", "secret.txt"), "OUTSIDE-SECRET\n");
  writeFileSync(join(root, "elsewhere", "backend-b.token"), "BACKEND-TOKEN-B\n", { mode: 0o600 });
  // The hub's registry on this host names a backend token file outside lmcp's config dir.
  writeFileSync(join(home, ".config", "lmcp", "backends.toml"), `[[backend]]\nname = "b"\nurl = "http://127.0.0.1:1/mcp"\ntoken_file = ${JSON.stringify(join(root, "elsewhere", "backend-b.token"))}\n`);
  writeFileSync(join(home, ".config", "lmcp", "hub-token"), "HUB-TOKEN-SECRET\n", { mode: 0o600 });
  writeFileSync(join(home, "token"), `${FULL}\n${READER} read-only\n`, { mode: 0o600 });
  server = await startServer({ home, args: ["--token-file", join(home, "token")], noTokenFile: true });
  full = await connect(server, FULL);
  reader = await connect(server, READER);
});
afterAll(async () => {
  await full?.close();
  await reader?.close();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

const secretsIn = (text: string) => ["full-token-redteam", "reader-token-redteam", "HUB-TOKEN-SECRET", "BACKEND-TOKEN-B"].filter((s) => text.includes(s));

describe("case 1: secrets are never read, for any token", () => {
  test("the token file, hub-token, backends.toml and a backend's token file are refused to read_file, list_dir and search_files", async () => {
    linkSync(join(home, "token"), join(root, "outside", "hardlink-to-token"));
    symlinkSync(join(home, "token"), join(root, "outside", "symlink-to-token"));
    const targets = [
      join(home, "token"),
      join(home, ".config", "lmcp", "hub-token"),
      join(home, ".config", "lmcp", "backends.toml"),
      join(root, "elsewhere", "backend-b.token"),
      join(root, "outside", "hardlink-to-token"),
      join(root, "outside", "symlink-to-token"),
      `/proc/${server.proc.pid}/environ`,
      `/proc/${server.proc.pid}/mem`,
      `/proc/${server.proc.pid}/cmdline`,
      `/proc/${process.pid}/environ`, // another process of the same user (a hub keeps backend tokens in its environment)
    ];
    for (const client of [reader, full]) {
      for (const path of targets) {
        for (const encoding of ["utf8", "base64"]) {
          const r = await callTool(client, "read_file", { path, encoding });
          expect(r.isError, `${path} ${encoding}`).toBe(true);
          expect(secretsIn(JSON.stringify(r))).toEqual([]);
        }
      }
      const listed = await callTool(client, "list_dir", { path: join(home, ".config", "lmcp") });
      expect(listed.isError).toBe(true);
      const found = await callTool(client, "search_files", { path: root, pattern: "*", content: "TOKEN|token", all: true });
      expect(secretsIn(JSON.stringify(found))).toEqual([]);
    }
  });
  test("a refusal is audited as denied, with no secret in the audit line", async () => {
    const log = await waitFor("a denied read_file in the audit log", () => {
      const file = join(home, ".state", "lmcp", "audit.jsonl");
      if (!existsSync(file)) return undefined;
      const text = readFileSync(file, "utf8");
      return text.includes('"denied"') && text.includes("read_file") ? text : undefined;
    });
    expect(secretsIn(log)).toEqual([]);
  });
});

describe("case 1 through the hub: a backend on the hub's own host", () => {
  test("a read-only hub token cannot read hub-token, backends.toml or a backend token file through remote_read_file", async () => {
    const cfg = join(home, ".config", "lmcp");
    const registry = join(cfg, "backends.toml");
    const before = readFileSync(registry, "utf8");
    writeFileSync(join(root, "elsewhere", "self.token"), `${FULL}\n`, { mode: 0o600 });
    writeFileSync(registry, `${before}\n[[backend]]\nname = "self"\nurl = ${JSON.stringify(server.url)}\ntoken_file = ${JSON.stringify(join(root, "elsewhere", "self.token"))}\n`);
    writeFileSync(join(cfg, "hub-token"), "HUB-TOKEN-SECRET\nhub-reader-token read-only\n", { mode: 0o600 });
    // The backend picks up the edited registry within a second, as after `lmcp hub add`.
    await waitFor("the backend to notice the new registry entry", async () => {
      const r = await callTool(reader, "read_file", { path: join(root, "elsewhere", "self.token") });
      return r.isError ? true : undefined;
    });
    const hub = await startServer({ home, command: "hub", noTokenFile: true, args: ["--backends", registry, "--token-file", join(cfg, "hub-token")] });
    try {
      const c = await connect({ url: hub.url, token: "hub-reader-token" });
      try {
        for (const path of [join(cfg, "hub-token"), registry, join(root, "elsewhere", "self.token"), join(root, "elsewhere", "backend-b.token")]) {
          const r = await callTool(c, "remote_read_file", { host: "self", path });
          expect(r.isError, path).toBe(true);
          expect(secretsIn(JSON.stringify(r)), path).toEqual([]);
        }
        const ok = await callTool(c, "remote_read_file", { host: "self", path: join(root, "outside", "secret.txt") });
        expect(resultText(ok)).toContain("OUTSIDE-SECRET"); // the backend is up and answering: the refusals above are the policy's
      } finally {
        await c.close();
      }
    } finally {
      await hub.stop();
      writeFileSync(registry, before);
    }
  });
});

describe("case 4: writes through links and to files that do not exist yet", () => {
  test("a dangling symlink never creates its target outside allowed_paths or at a protected path", async () => {
    mkdirSync(join(home, "work"));
    symlinkSync(join(root, "outside", "planted"), join(home, "work", "dangling-out"));
    symlinkSync(join(home, ".ssh", "authorized_keys"), join(home, "work", "dangling-keys"));
    symlinkSync(join(home, ".config", "lmcp", "lmcp.toml"), join(home, "work", "dangling-config"));
    mkdirSync(join(home, ".ssh"));
    for (const name of ["dangling-keys", "dangling-config"]) {
      const r = await callTool(full, "write_file", { path: join(home, "work", name), content: "allowed_paths = []\n" });
      expect(r.isError, name).toBe(true);
    }
    for (const path of [join(home, ".ssh", "authorized_keys"), join(home, ".config", "lmcp", "lmcp.toml"), join(home, ".config", "lmcp", "token")]) {
      const w = await callTool(full, "write_file", { path, content: "ssh-ed25519 AAAA attacker\n" });
      expect(w.isError, path).toBe(true);
      const e = await callTool(full, "edit_file", { path, old_string: "", new_string: "x" });
      expect(e.isError, path).toBe(true);
    }
    expect(existsSync(join(home, ".ssh", "authorized_keys"))).toBe(false);
    expect(existsSync(join(home, ".config", "lmcp", "lmcp.toml"))).toBe(false);
    // The audit log and lmcp's state are never written either.
    const audit = await callTool(full, "write_file", { path: join(home, ".state", "lmcp", "audit.jsonl"), content: "{}\n" });
    expect(audit.isError).toBe(true);
  });
});

describe("case 7: shell_bg's log_path is checked where it is opened", () => {
  test("a relative log_path that lands on the token file is refused, and the token file is unchanged", async () => {
    const before = readFileSync(join(home, "token"), "utf8");
    const r = await callTool(full, "shell_bg", { command: "echo appended", cwd: home, log_path: "token" });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("secrets");
    const viaLink = await callTool(full, "shell_bg", { command: "echo appended", cwd: root, log_path: "outside/symlink-to-token" });
    expect(viaLink.isError).toBe(true);
    expect(readFileSync(join(home, "token"), "utf8")).toBe(before);
  });
});

describe("a job's log swapped for a link to a secret", () => {
  test("shell_bg_output and shell_bg_status refuse it, for the reader too", async () => {
    const log = join(root, "job.log");
    const started = await callTool(full, "shell_bg", { command: "echo job-ran", log_path: log });
    expect(started.isError).toBeFalsy();
    const jobId = (started.structuredContent as { job_id: string }).job_id;
    await waitFor("the job's output", () => (existsSync(log) && readFileSync(log, "utf8").includes("job-ran") ? true : undefined));
    rmSync(log);
    symlinkSync(join(home, "token"), log);
    for (const client of [full, reader]) {
      const out = await callTool(client, "shell_bg_output", { job_id: jobId });
      expect(out.isError).toBe(true);
      const status = await callTool(client, "shell_bg_status", { job_id: jobId });
      expect(secretsIn(JSON.stringify(out) + JSON.stringify(status))).toEqual([]);
    }
  });
});

describe("case 15: read_file never opens what is not a regular file, edit_file is bounded", () => {
  test("a FIFO's waiting writer is not released by read_file", async () => {
    const fifo = join(root, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const writer = Bun.spawn(["sh", "-c", `echo data > ${fifo}`], { stdout: "ignore", stderr: "ignore" });
    try {
      const r = await callTool(reader, "read_file", { path: fifo });
      expect(r.isError).toBe(true);
      expect(resultText(r)).toContain("not a regular file");
      // The writer still blocks in open(): nobody opened the FIFO's other end.
      expect(pidAlive(writer.pid) && writer.exitCode === null).toBe(true);
    } finally {
      writer.kill("SIGKILL");
      await writer.exited;
    }
  });
  test("edit_file refuses a file above its stated size limit without reading it", async () => {
    const big = join(root, "big.txt");
    writeFileSync(big, "x\n");
    truncateSync(big, 1024 * 1024 * 1024); // sparse: 1 GiB on paper, no disk
    const r = await callTool(full, "edit_file", { path: big, old_string: "x", new_string: "y" });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("16 MiB");
  });
});

describe("case 13: the server's token is not in its environment", () => {
  test("LMCP_TOKEN is blanked in /proc/PID/environ and absent from the agent's commands", async () => {
    const envHome = join(root, "envhome");
    mkdirSync(envHome);
    const token = "env-token-" + crypto.randomUUID();
    const s = await startServer({ home: envHome, noTokenFile: true, env: { LMCP_TOKEN: token } });
    try {
      const c = await connect({ url: s.url, token });
      try {
        expect(readFileSync(`/proc/${s.proc.pid}/environ`, "latin1")).not.toContain(token);
        const r = await callTool(c, "shell", { command: 'env; tr "\\0" "\\n" < /proc/$PPID/environ' });
        expect(r.isError).toBeFalsy();
        expect(resultText(r)).not.toContain(token);
      } finally {
        await c.close();
      }
    } finally {
      await s.stop();
    }
  });
});

describe("case 14: the Host check on every loopback spelling", () => {
  test("a listener given as 127.1 or [::ffff:127.0.0.1] refuses a foreign or malformed Host", async () => {
    for (const listen of ["127.1:0", "[::ffff:127.0.0.1]:0"]) {
      const s = await startServer({ args: ["--listen", listen] });
      try {
        const port = new URL(s.url).port;
        for (const host of ["evil.example", `evil.example:${port}`, `[::1]evil.com:${port}`, `localhost:${port}x`]) {
          const res = await rpc(s, { jsonrpc: "2.0", id: 1, method: "ping" }, { host });
          expect(res.status, `${listen} Host: ${host}`).toBe(403);
        }
        const ok = await rpc(s, { jsonrpc: "2.0", id: 1, method: "ping" }, { host: `localhost:${port}` });
        expect(ok.status).toBe(200);
      } finally {
        await s.stop();
      }
    }
  });
});

describe("case 6: a link flipped between check and use", () => {
  test("read_file and write_file never reach the outside file while another process flips the link", async () => {
    const allowedHome = join(root, "racehome");
    const inside = join(allowedHome, "srv");
    mkdirSync(inside, { recursive: true });
    writeFileSync(join(inside, "inside.txt"), "INSIDE\n");
    writeFileSync(join(root, "outside", "victim.txt"), "VICTIM-ORIGINAL\n");
    mkdirSync(join(inside, "dir"));
    const config = join(root, "race.toml");
    writeFileSync(config, `allowed_paths = [${JSON.stringify(inside)}]\n`);
    const s = await startServer({ home: allowedHome, args: ["--config", config] });
    // Another process flips srv/link between a file inside and one outside, and srv/d between a dir inside and outside.
    const flipper = Bun.spawn(
      [
        "bash",
        "-c",
        `end=$((SECONDS+20)); while [ $SECONDS -lt $end ]; do ln -sfn ${inside}/inside.txt ${inside}/link; ln -sfn ${root}/outside/secret.txt ${inside}/link; ln -sfn ${inside}/dir ${inside}/d; ln -sfn ${root}/outside ${inside}/d; done`,
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    const c = await connect(s);
    let leaks = 0;
    let reads = 0;
    try {
      const deadline = Date.now() + 4000;
      for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
        const r = await callTool(c, "read_file", { path: join(inside, "link") });
        reads++;
        if (resultText(r).includes("OUTSIDE-SECRET")) leaks++;
        if (i % 4 === 0) await callTool(c, "write_file", { path: join(inside, "d", "victim.txt"), content: "OVERWRITTEN\n" });
      }
    } finally {
      flipper.kill("SIGKILL");
      await flipper.exited;
      await c.close();
      await s.stop();
    }
    expect(reads).toBeGreaterThan(100);
    expect(leaks).toBe(0);
    expect(readFileSync(join(root, "outside", "victim.txt"), "utf8")).toBe("VICTIM-ORIGINAL\n");
  });
});
