// The audit log through a real server: on by default in the state dir, checked by
// `lmcp audit verify`, which finds an edited line; journald and "off" as configured.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, fstatSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveAuditLog } from "../../src/config/server.ts";
import { type StartedServer, callTool, connect, lmcpCommand, startServer, waitFor } from "../helpers/server.ts";

let server: StartedServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** Runs `lmcp audit ARGS` with the server's HOME and XDG dirs, so its defaults are the server's. */
function lmcpAudit(s: StartedServer, args: string[], stdin?: string, extraEnv: Record<string, string> = {}) {
  const env = { ...extraEnv, PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: s.home, XDG_CONFIG_HOME: join(s.home, ".config"), XDG_STATE_HOME: join(s.home, ".state"), LANG: "C.UTF-8" };
  const r = Bun.spawnSync([...lmcpCommand(), "audit", ...args], { env, stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const auditFile = (s: StartedServer) => join(s.home, ".state", "lmcp", "audit.jsonl");
const lines = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean);

describe("lmcp serve's audit log", () => {
  test("is on by default in the state dir, verifies, and an edited line makes verify exit 1 naming it", async () => {
    server = await startServer();
    const client = await connect(server);
    for (const n of [1, 2, 3]) {
      const r = await callTool(client, "write_file", { path: join(server.home, `f${n}.txt`), content: `content ${n}\n` });
      expect(r.isError).toBeFalsy();
    }
    await client.close();
    const file = auditFile(server);
    await waitFor("three audit lines", () => (existsSync(file) && lines(file).length >= 3 ? true : undefined));
    expect(readFileSync(file, "utf8")).not.toContain(server.token);
    const second = JSON.parse(lines(file)[1]!) as Record<string, unknown>;
    expect(second).toMatchObject({ seq: 2, tool: "write_file", path: join(server.home, "f2.txt"), outcome: "ok", bytes: 10 });

    const ok = lmcpAudit(server, ["verify"]);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.out).toStartWith("ok: 3 entries");
    expect(lmcpAudit(server, ["verify", file]).code).toBe(0);

    const edited = lines(file);
    edited[1] = edited[1]!.replace("f2.txt", "f9.txt");
    writeFileSync(file, edited.map((l) => `${l}\n`).join(""));
    const bad = lmcpAudit(server, ["verify"]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`broken: ${file} line 3: its prev is not the sha256 of ${file} line 2`);
  });

  test("goes to stderr as `audit {…}` lines for journald, which verify reads from stdin", async () => {
    server = await startServer({ env: { LMCP_AUDIT_LOG: "journald" } });
    const client = await connect(server);
    await callTool(client, "write_file", { path: join(server.home, "j.txt"), content: "x\u2028y" });
    await callTool(client, "shell", { command: "echo \u0085 \u009b" });
    await client.close();
    const logs = await waitFor("two audit lines on stderr", () => {
      const found = server!.logs().split("\n").filter((l) => l.startsWith("audit "));
      return found.length >= 2 ? server!.logs() : undefined;
    });
    expect(existsSync(auditFile(server))).toBe(false);
    expect(logs).toContain('"command":"echo \\u0085 \\u009b"');
    const r = lmcpAudit(server, ["verify", "-"], logs);
    expect(r.out).toStartWith("ok: 2 entries");
    expect(r.code).toBe(0);
  });

  test('is off with audit_log = "off"', async () => {
    server = await startServer({ env: { LMCP_AUDIT_LOG: "off" } });
    const client = await connect(server);
    await callTool(client, "write_file", { path: join(server.home, "o.txt"), content: "x" });
    await client.close();
    expect(existsSync(auditFile(server))).toBe(false);
    expect(server.logs()).not.toContain("audit {");
    const r = lmcpAudit(server, ["verify"], undefined, { LMCP_AUDIT_LOG: "off" });
    expect(r.code).toBe(2);
    expect(r.err).toContain("the audit log is off");
  });
});

describe("resolveAuditLog", () => {
  test("defaults to journald only when stderr is the journal stream JOURNAL_STREAM names", () => {
    const saved = process.env.JOURNAL_STREAM;
    try {
      const st = fstatSync(2, { bigint: true });
      process.env.JOURNAL_STREAM = `${st.dev}:${st.ino}`;
      expect(resolveAuditLog("serve", undefined, "/state")).toBe("journald");
      expect(resolveAuditLog("serve", "off", "/state")).toBeUndefined();
      process.env.JOURNAL_STREAM = "8:12345"; // inherited from some service, not our stderr
      expect(resolveAuditLog("serve", undefined, "/state")).toBe("/state/audit.jsonl");
      delete process.env.JOURNAL_STREAM;
      expect(resolveAuditLog("hub", undefined, "/state")).toBe("/state/hub-audit.jsonl");
      expect(resolveAuditLog("serve", "rel/a.jsonl", "/state")).toBe(join(process.cwd(), "rel/a.jsonl"));
    } finally {
      if (saved === undefined) delete process.env.JOURNAL_STREAM;
      else process.env.JOURNAL_STREAM = saved;
    }
  });
});
