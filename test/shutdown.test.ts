// An idle server exits at once on SIGTERM: with nothing in flight there is
// nothing to wait for (shutdown_grace_s applies to calls in flight only).
// Measured by the parent that waits for the exit, not by polling `kill -0`,
// which also counts the time until an orphan's zombie is reaped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "./helpers/server.ts";

/** The grace period the servers get: an exit well inside it did not wait for it. */
const GRACE_S = 60;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-shutdown-"));
  writeFileSync(join(dir, "lmcp.toml"), `shutdown_grace_s = ${GRACE_S}\n`);
  writeFileSync(join(dir, "hub.toml"), `shutdown_grace_s = ${GRACE_S}\n`);
  writeFileSync(join(dir, "backends.toml"), "");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("SIGTERM on an idle server", () => {
  for (const command of ["serve", "hub"] as const) {
    test(`lmcp ${command} with nothing in flight exits 0 without waiting for the grace period`, async () => {
      const config = join(dir, command === "hub" ? "hub.toml" : "lmcp.toml");
      const server = await startServer({ command, args: ["--config", config, ...(command === "hub" ? ["--backends", join(dir, "backends.toml")] : [])] });
      expect(server.logs()).not.toContain("error");
      const started = performance.now();
      const code = await server.stop("SIGTERM");
      expect(code).toBe(0);
      expect(performance.now() - started).toBeLessThan((GRACE_S / 10) * 1000);
      expect(server.logs()).toContain(`waiting up to ${GRACE_S}s for 0 call(s)`);
      expect(server.logs()).not.toContain("grace period over");
    });
  }
});
