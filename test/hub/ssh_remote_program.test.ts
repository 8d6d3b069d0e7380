// The program the SSH fallback runs on a backend: perl accepts it, and a
// request carries every value in its here-document, none on a command line.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { netstrings, remoteProgram, remoteProgramText, requestFields } from "../../src/hub/ssh/perl.ts";
import { repoRoot } from "../helpers/server.ts";

describe("the remote program", () => {
  test("perl -c accepts it", () => {
    const file = join(repoRoot, "src/hub/ssh/remote/lmcp_remote.pl");
    const r = Bun.spawnSync(["perl", "-c", file], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toContain("syntax OK");
    expect(r.exitCode).toBe(0);
    // The text import is that file, so what perl checked here is what the hub sends.
    expect(remoteProgramText).toBe(readFileSync(file, "utf8"));
  });

  test("requests are netstrings: the op, the policy, then the arguments, any bytes intact", () => {
    const fields = requestFields("read_file", { allowedPaths: ["/srv", "~/x"], secretPaths: ["/etc/lmcp/hub-token"] }, ["a:b\n", 7, new Uint8Array([0, 255])]);
    expect(fields).toEqual(["read_file", 2, "/srv", "~/x", 1, "/etc/lmcp/hub-token", "a:b\n", 7, new Uint8Array([0, 255])]);
    expect(Buffer.from(netstrings(["", "é", 12, new Uint8Array([0])])).toString("latin1")).toBe("0:2:\xc3\xa92:121:\0");
    expect(requestFields("shell", { allowedPaths: undefined, secretPaths: [] }, [])).toEqual(["shell", "", 0]);
  });

  test("the script holds values only in a quoted here-document, and perl runs it with them", () => {
    const marker = "cmd-MARK-$(touch /tmp/never)-'q'";
    const script = remoteProgram("read_file", { allowedPaths: undefined, secretPaths: [] }, [marker, "utf8", 100, 0, "", 100]);
    expect(script).toStartWith("perl - <<'LMCP_REQUEST_");
    expect(script).not.toContain(marker);
    const r = Bun.spawnSync(["bash", "-c", script], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home" } });
    // The path does not exist: the program answers err ENOENT with the path, so it got the value intact.
    expect(r.stdout.toString()).toContain(`err6:ENOENT${Buffer.byteLength(`/nonexistent-home/${marker}`)}:/nonexistent-home/${marker}`);
  });
});
