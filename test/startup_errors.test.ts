// What a new user meets when a start goes wrong: a busy address names itself and
// the flag that changes it; an empty registry starts the hub with a warning.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lmcpCommand, startServer, waitFor } from "./helpers/server.ts";

const dir = mkdtempSync(join(tmpdir(), "lmcp-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("start-up errors", () => {
  test("a busy address is a usage error naming the address and --listen", async () => {
    const first = await startServer();
    try {
      const busy = new URL(first.url).host;
      const p = Bun.spawn([...lmcpCommand(), "serve", "--listen", busy], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LMCP_TOKEN: "t", LMCP_AUDIT_LOG: "off" },
        stdout: "ignore",
        stderr: "pipe",
      });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect(code).toBe(2);
      expect(err).toContain(`cannot listen on ${busy}: the address is already in use`);
      expect(err).toContain("--listen");
    } finally {
      await first.stop();
    }
  });
  test("a NATS creds or CA file that cannot be used stops serve before it listens, naming the file", async () => {
    const notCreds = join(dir, "not.creds");
    writeFileSync(notCreds, "hello\n");
    for (const [flag, file, says] of [
      ["--nats-creds", join(dir, "missing.creds"), "cannot read the NATS credentials"],
      ["--nats-creds", notCreds, "is not a NATS credentials file"],
      ["--nats-ca", notCreds, "is not a PEM certificate"],
    ] as const) {
      const p = Bun.spawn([...lmcpCommand(), "serve", "--listen", "127.0.0.1:0", "--nats", "tls://127.0.0.1:1", flag, file], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LMCP_TOKEN: "t", LMCP_AUDIT_LOG: "off" },
        stdout: "ignore",
        stderr: "pipe",
      });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect(code).toBe(2);
      expect(err).toContain(says);
      expect(err).toContain(file);
      expect(err).not.toContain("listening on");
    }
  });
  test("a hub whose registry names no hosts starts, and warns how to add one", async () => {
    const registry = join(dir, "backends.toml");
    writeFileSync(registry, "# no hosts yet\n");
    const hub = await startServer({ command: "hub", args: ["--backends", registry] });
    try {
      const line = await waitFor("the warning", () => hub.logs().split("\n").find((l) => l.includes("names no hosts")));
      expect(line).toContain("[[backend]]");
    } finally {
      await hub.stop();
    }
  });
});
