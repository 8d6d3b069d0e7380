// The file policy the remote program enforces over SSH, against a real sshd:
// authorized_keys is never written, secrets are never read, searched or
// written, and a backend's allowed_paths holds on real paths (links, dangling
// links, links swapped mid-call).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { sshFallbacks } from "../../src/hub/ssh/fallbacks.ts";
import type { RemotePolicy } from "../../src/hub/ssh/perl.ts";
import { SshRunner, type SshTarget } from "../../src/hub/ssh/runner.ts";
import { serveTools } from "../../src/tools/registry.ts";
import type { ToolOutcome } from "../../src/tools/tool.ts";
import { tempDir, testContext } from "../helpers/context.ts";
import { loginUser, startSshd, type StartedSshd } from "../helpers/sshd.ts";

let sshd: StartedSshd;
let runner: SshRunner;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  sshd = await startSshd();
  runner = new SshRunner({ maxConcurrent: 8, hardTimeoutMs: 20_000 });
});
afterAll(async () => {
  await sshd?.stop();
});
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(): string {
  const d = tempDir("lmcp-sshpol-");
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function target(policy: RemotePolicy): SshTarget {
  return { name: "polhost", ssh: sshd.target, ssh_port: sshd.port, ssh_options: sshd.sshOptions, policy };
}

async function call(name: string, policy: RemotePolicy, raw: Record<string, unknown>): Promise<ToolOutcome<unknown>> {
  const def = serveTools.find((d) => d.name === name)!;
  const t = testContext({});
  cleanups.push(t.cleanup);
  return await sshFallbacks[name]!(runner, target(policy), def.input.parse(raw) as Record<string, unknown>, t.ctx);
}

const open: RemotePolicy = { allowedPaths: undefined, secretPaths: [] };

function refusedWith(r: ToolOutcome<unknown>, words: string | RegExp): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error).toMatch(words);
  expect((r as { denied?: boolean }).denied).toBe(true);
}

describe("authorized_keys over ssh (case 5)", () => {
  test("is never written: by name, in any case, through a link, through a dangling link", async () => {
    const d = dir();
    mkdirSync(join(d, ".ssh"));
    writeFileSync(join(d, ".ssh", "authorized_keys"), "original\n");
    symlinkSync(join(d, ".ssh", "authorized_keys"), join(d, "innocent"));
    symlinkSync(join(d, ".ssh", "authorized_keys2"), join(d, "dangling"));
    for (const path of [join(d, ".ssh", "authorized_keys"), join(d, ".ssh", "AUTHORIZED_KEYS2"), join(d, "innocent"), join(d, "dangling"), join(d, "new", "authorized_keys")]) {
      refusedWith(await call("write_file", open, { path, content: "ssh-ed25519 AAAA attacker\n" }), /authorized_keys files/);
    }
    expect(readFileSync(join(d, ".ssh", "authorized_keys"), "utf8")).toBe("original\n");
    expect(existsSync(join(d, ".ssh", "authorized_keys2"))).toBe(false);
    expect(existsSync(join(d, ".ssh", "AUTHORIZED_KEYS2"))).toBe(false);
    expect(existsSync(join(d, "new"))).toBe(false);
    // Reading one is allowed (it is public keys), as lmcp allows it.
    expect((await call("read_file", open, { path: join(d, "innocent") })).ok).toBe(true);
  }, 30_000);
});

describe("secrets over ssh", () => {
  test("files the hub names are never read, written or found, by path, link or hard link", async () => {
    const d = dir();
    const secret = join(d, "hub-token");
    writeFileSync(secret, "tok-secret-value\n");
    symlinkSync(secret, join(d, "link"));
    linkSync(secret, join(d, "hard"));
    writeFileSync(join(d, "plain.txt"), "tok-plain\n");
    const policy: RemotePolicy = { allowedPaths: undefined, secretPaths: [secret] };
    for (const path of [secret, join(d, "link"), join(d, "hard")]) {
      refusedWith(await call("read_file", policy, { path }), /lmcp's own secrets/);
      refusedWith(await call("read_file", policy, { path, encoding: "base64" }), /lmcp's own secrets/);
      refusedWith(await call("write_file", policy, { path, content: "x" }), /lmcp's own secrets/);
    }
    expect(readFileSync(secret, "utf8")).toBe("tok-secret-value\n");
    const s = await call("search_files", policy, { path: d, pattern: "*", content: "tok-" });
    if (!s.ok) throw new Error(s.error);
    expect(JSON.stringify(s.data)).not.toContain("tok-secret-value");
    expect((s.data as { lines: string[] }).lines).toEqual([`${join(d, "plain.txt")}:1:tok-plain`]);
    const names = await call("search_files", policy, { path: d, pattern: "hub-token" });
    expect(names.ok && (names.data as { matches: string[] }).matches).toEqual([]);
  }, 30_000);

  test("/etc/lmcp, the user's lmcp config dir and the audit logs are refused before anything is opened", async () => {
    const home = loginUser().home;
    for (const path of ["/etc/lmcp/hub-token", "/etc/lmcp", "~/.config/lmcp/token", `${home}/.config/lmcp/backends.toml`, "~/.local/state/lmcp/audit.jsonl", "~/.local/state/lmcp/audit.jsonl.3"]) {
      refusedWith(await call("read_file", open, { path }), /lmcp's own secrets/);
    }
    refusedWith(await call("list_dir", open, { path: "/etc/lmcp" }), /lmcp's own secrets/);
    refusedWith(await call("search_files", open, { path: "~/.config/lmcp", pattern: "*" }), /lmcp's own secrets/);
    refusedWith(await call("write_file", open, { path: "~/.config/lmcp/lmcp.toml", content: "allowed_paths = []\n" }), /lmcp's own secrets/);
    refusedWith(await call("write_file", open, { path: "~/.local/state/lmcp/jobs/x", content: "x" }), /state directory/);
    refusedWith(await call("read_file", open, { path: "/proc/self/environ" }), /lmcp's own secrets/);
  }, 30_000);
});

describe("allowed_paths over ssh (case 3)", () => {
  function layout() {
    const root = dir();
    const inside = join(root, "inside");
    const outside = join(root, "outside");
    mkdirSync(inside);
    mkdirSync(outside);
    writeFileSync(join(inside, "ok.txt"), "needle inside\n");
    writeFileSync(join(outside, "secret.txt"), "needle outside\n");
    symlinkSync(join(outside, "secret.txt"), join(inside, "leak.txt"));
    symlinkSync(outside, join(inside, "outdir"));
    symlinkSync(join(outside, "created.txt"), join(inside, "dangling"));
    return { root, inside, outside, policy: { allowedPaths: [inside], secretPaths: [] } as RemotePolicy };
  }

  test("reads, lists and writes are refused outside, also through links inside; inside works", async () => {
    const { root, inside, outside, policy } = layout();
    expect(await call("read_file", policy, { path: join(inside, "ok.txt") })).toMatchObject({ ok: true, data: { content: "needle inside\n" } });
    refusedWith(await call("read_file", policy, { path: join(outside, "secret.txt") }), /outside polhost's allowed_paths/);
    refusedWith(await call("read_file", policy, { path: join(inside, "leak.txt") }), /allowed_paths/);
    refusedWith(await call("read_file", policy, { path: join(inside, "outdir", "secret.txt") }), /allowed_paths/);
    refusedWith(await call("read_file", policy, { path: join(inside, "..", "outside", "secret.txt") }), /allowed_paths/);
    refusedWith(await call("list_dir", policy, { path: join(inside, "outdir") }), /allowed_paths/);
    refusedWith(await call("list_dir", policy, { path: root }), /allowed_paths/);
    refusedWith(await call("write_file", policy, { path: join(inside, "dangling"), content: "planted" }), /allowed_paths/);
    refusedWith(await call("write_file", policy, { path: join(inside, "outdir", "new.txt"), content: "planted" }), /allowed_paths/);
    expect(existsSync(join(outside, "created.txt"))).toBe(false);
    expect(existsSync(join(outside, "new.txt"))).toBe(false);
    expect(await call("write_file", policy, { path: join(inside, "sub", "new.txt"), content: "fine" })).toMatchObject({ ok: true });
    expect(readFileSync(join(inside, "sub", "new.txt"), "utf8")).toBe("fine");
  }, 40_000);

  test("a search inside follows no link out: names and lines from outside never come back", async () => {
    const { inside, policy } = layout();
    const byName = await call("search_files", policy, { path: inside, pattern: "*" });
    if (!byName.ok) throw new Error(byName.error);
    // leak.txt, outdir and dangling lead outside: none of them, nor anything under outdir, is reported.
    expect((byName.data as { matches: string[] }).matches).toEqual([inside, join(inside, "ok.txt")]);
    const byContent = await call("search_files", policy, { path: inside, pattern: "*", content: "needle" });
    if (!byContent.ok) throw new Error(byContent.error);
    expect((byContent.data as { lines: string[] }).lines).toEqual([`${join(inside, "ok.txt")}:1:needle inside`]);
  }, 30_000);

  test("roots may be written relative to the ssh user's home, as on the host", async () => {
    const { inside, outside } = layout();
    const rel = relative(loginUser().home, inside);
    const policy: RemotePolicy = { allowedPaths: [`~/${rel}`], secretPaths: [] };
    expect((await call("read_file", policy, { path: join(inside, "ok.txt") })).ok).toBe(true);
    refusedWith(await call("read_file", policy, { path: join(outside, "secret.txt") }), /allowed_paths/);
  }, 20_000);

  test("a link flipped between inside and outside during reads never lets the outside file out", async () => {
    const { root, inside, outside, policy } = layout();
    writeFileSync(join(inside, "a.txt"), "inside-a\n");
    const flip = join(inside, "flip");
    symlinkSync(join(inside, "a.txt"), flip);
    // A child flips the link as fast as it can: rename(2) swaps it atomically between the two targets.
    const flipper = Bun.spawn(
      ["perl", "-e", `my ($l,$a,$b,$t)=@ARGV; for (my $i=0;;$i++) { symlink(($i%2)?$b:$a, $t) or next; rename($t, $l) }`, flip, join(inside, "a.txt"), join(outside, "secret.txt"), join(root, "tmp-link")],
      { stdout: "ignore", stderr: "ignore" },
    );
    cleanups.push(() => flipper.kill("SIGKILL"));
    let leaks = 0;
    let answered = 0;
    const deadline = Date.now() + 20_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 25 && Date.now() < deadline; i++) {
          const r = await call("read_file", policy, { path: flip });
          answered++;
          if (JSON.stringify(r).includes("needle outside")) leaks++;
        }
      }),
    );
    flipper.kill("SIGKILL");
    await flipper.exited;
    expect(answered).toBeGreaterThan(20);
    expect(leaks).toBe(0);
  }, 40_000);
});
