import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { sshFallbacks } from "../../src/hub/ssh/fallbacks.ts";
import { SshRunner, type SshTarget } from "../../src/hub/ssh/runner.ts";
import { serveTools } from "../../src/tools/registry.ts";
import type { ToolLimits, ToolOutcome } from "../../src/tools/tool.ts";
import { tempDir, testContext } from "../helpers/context.ts";
import { waitFor } from "../helpers/server.ts";
import { loginUser, startSshd, type StartedSshd } from "../helpers/sshd.ts";

let sshd: StartedSshd;
let target: SshTarget;
let runner: SshRunner;
const MARK = `LMCPTESTMARK_${randomBytes(6).toString("hex")}`;
/** The ssh user's home, from the passwd entry as sshd sees it; $HOME here may be another directory. */
const home = loginUser().home;

/** A path as the remote side resolves it (`~` and relative paths from the ssh user's home), for the local tool to get the same file. */
function onHost(p: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return join(home, p.slice(2));
  return isAbsolute(p) ? p : join(home, p);
}

/** The same call for the local tool: paths and cwd resolved as on the host, so the test passes whatever $HOME is. */
function localArgs(name: string, raw: Record<string, unknown>): Record<string, unknown> {
  if (name === "shell") return { ...raw, cwd: onHost(typeof raw.cwd === "string" ? raw.cwd : "~") };
  return typeof raw.path === "string" ? { ...raw, path: onHost(raw.path) } : raw;
}

/** The local tool names its own $HOME where the ssh side names the ssh user's. */
const sameHome = <T>(o: T): T => (homedir() === home ? o : JSON.parse(JSON.stringify(o).replaceAll(`run in ${homedir()}`, `run in ${home}`)));

beforeAll(async () => {
  sshd = await startSshd();
  target = { name: "local-sshd", ssh: sshd.target, ssh_port: sshd.port, ssh_options: [...sshd.sshOptions, "-o", `SendEnv=${MARK}`] };
  runner = new SshRunner({ maxConcurrent: 8, hardTimeoutMs: 20_000 });
});

afterAll(async () => {
  await sshd?.stop();
  const p = Bun.spawn(["pgrep", "-f", MARK], { stdout: "pipe" });
  const left = await new Response(p.stdout).text();
  expect(left.trim()).toBe("");
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(): string {
  const d = tempDir("lmcp-sshfb-");
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function context(limits: Partial<ToolLimits> = {}, signal?: AbortSignal) {
  const t = testContext({ limits, ...(signal ? { signal } : {}) });
  cleanups.push(t.cleanup);
  return t.ctx;
}

function tool(name: string) {
  const def = serveTools.find((d) => d.name === name);
  if (!def) throw new Error(`no tool ${name}`);
  return def;
}

/** Both answers for the same input: the local lmcp tool's, then the SSH fallback's (whose data must parse with the tool's output schema). */
async function both(name: string, raw: Record<string, unknown>, limits: Partial<ToolLimits> = {}) {
  const def = tool(name);
  const args = def.input.parse(raw) as Record<string, unknown>;
  const ctx = context(limits);
  const local = sameHome((await def.run(def.input.parse(localArgs(name, raw)) as never, ctx)) as ToolOutcome<unknown>);
  const viaSsh = await sshFallbacks[name]!(runner, target, args, ctx);
  if (viaSsh.ok) expect(() => def.output.parse(viaSsh.data)).not.toThrow();
  return { local, viaSsh };
}

/** The fallback answers exactly as lmcp does (for shell: all but the timing). */
async function expectSame(name: string, raw: Record<string, unknown>, limits: Partial<ToolLimits> = {}) {
  const { local, viaSsh } = await both(name, raw, limits);
  if (name === "shell" && local.ok && viaSsh.ok) {
    const strip = (o: { data: unknown; text: string }) => ({
      data: { ...(o.data as Record<string, unknown>), duration_ms: 0 },
      text: o.text.replace(/ · \d+ ms\]$/, " · N ms]"),
    });
    expect(strip(viaSsh)).toEqual(strip(local));
  } else {
    expect(viaSsh).toEqual(local);
  }
  return viaSsh;
}

describe("shell over ssh", () => {
  test("matches lmcp: exit code, both streams, cwd (~, relative, absolute), env, stdin", async () => {
    const d = dir();
    const rel = relative(home, d);
    await expectSame("shell", { command: "echo out; echo err >&2; pwd; exit 3", cwd: d });
    await expectSame("shell", { command: "pwd", cwd: rel });
    await expectSame("shell", { command: "pwd" });
    await expectSame("shell", { command: "pwd", cwd: "~" });
    await expectSame("shell", { command: `cat; printf '%s|%s' "$FOO" "$WEIRD"`, stdin: "line one\nline 'two' $(x)\n", env: { FOO: "b'a\"r $(touch /tmp/no)", WEIRD: "x\ny" } });
    await expectSame("shell", { command: "kill -9 $$" });
    await expectSame("shell", { command: "printf 'bad \\377\\376 bytes'; printf '\\377' >&2" });
  }, 30_000);

  test("matches lmcp on bad cwd and timeout_s limits", async () => {
    const d = dir();
    writeFileSync(join(d, "f"), "x");
    await expectSame("shell", { command: "true", cwd: join(d, "missing") });
    await expectSame("shell", { command: "true", cwd: join(d, "f") });
    await expectSame("shell", { command: "true", timeout_s: 99 }, { maxTimeoutS: 10 });
  }, 30_000);

  test("timeout_s ends the remote process group like lmcp does", async () => {
    const started = Date.now();
    const r = await expectSame("shell", { command: "echo before; sleep 30 & sleep 30; echo never", timeout_s: 0.5 });
    expect(Date.now() - started).toBeLessThan(6000);
    if (!r.ok) throw new Error(r.error);
    expect(r.data).toMatchObject({ timed_out: true, signal: "SIGTERM", stdout: "before\n" });
  }, 20_000);

  test("output over the limit is cut to head and tail with the same marker text, minus the spool file", async () => {
    const cmd = "seq 1 20000; seq 1 5000 >&2";
    const { local, viaSsh } = await both("shell", { command: cmd }, { maxOutputBytes: 1000 });
    if (!local.ok || !viaSsh.ok) throw new Error("expected success");
    const l = local.data as Record<string, string | boolean>;
    const s = viaSsh.data as Record<string, string | boolean>;
    expect(s.truncated).toBe(true);
    const cut = (t: string) => t.replace(/\[lmcp: (\d+) bytes cut from the middle; [^\]]*\]/, "[cut $1]");
    expect(cut(s.stdout as string)).toBe(cut(l.stdout as string));
    expect(cut(s.stderr as string)).toBe(cut(l.stderr as string));
    expect(s.stdout).toContain("full output not kept: the SSH fallback keeps no spool file");
    expect(s.full_output_path).toBeUndefined();
  }, 20_000);

  test("the hub's hard cap ends a command whose timeout_s is longer, and says so", async () => {
    const short = new SshRunner({ maxConcurrent: 2, hardTimeoutMs: 2000 });
    const started = Date.now();
    const r = await sshFallbacks.shell!(short, target, tool("shell").input.parse({ command: "echo hi; sleep 600", timeout_s: 600 }), context());
    expect(Date.now() - started).toBeLessThan(5000);
    if (!r.ok) throw new Error(r.error);
    expect(r.data).toMatchObject({ timed_out: true, exit_code: null, stdout: "hi\n" });
    expect(r.text).toContain("hard cap of 2 s");
    expect(() => tool("shell").output.parse(r.data)).not.toThrow();
  }, 15_000);

  test("a cancelled call ends the remote command and reports cancelled", async () => {
    const ac = new AbortController();
    const started = Date.now();
    const pending = sshFallbacks.shell!(runner, target, tool("shell").input.parse({ command: "echo hi; sleep 600" }), context({}, ac.signal));
    await waitFor("ssh to start", () => (runner.active > 0 ? true : undefined));
    ac.abort();
    const r = await pending;
    expect(Date.now() - started).toBeLessThan(5000);
    if (!r.ok) throw new Error(r.error);
    expect(r.data).toMatchObject({ cancelled: true, timed_out: false, exit_code: null });
  }, 15_000);

  test("an unreachable host is a failure that says where to look", async () => {
    const r = await sshFallbacks.shell!(runner, { ...target, ssh_port: 1 }, tool("shell").input.parse({ command: "true" }), context());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^ssh to local-sshd failed: .*Connection refused; check ssh\/ssh_options for this backend in backends\.toml$/);
    const noKey = ["-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"];
    const denied = await sshFallbacks.read_file!(runner, { ...target, ssh_options: noKey }, tool("read_file").input.parse({ path: "/etc/hostname" }), context());
    expect(denied.ok).toBe(false);
    if (!denied.ok) expect(denied.error).toMatch(/^ssh to local-sshd failed: .*Permission denied \(publickey\); check ssh\/ssh_options/);
  }, 10_000);
});

describe("read_file over ssh", () => {
  test("matches lmcp for text paging, reply cap, long lines, empty files and offsets past the end", async () => {
    const d = dir();
    const p = join(d, "lines.txt");
    writeFileSync(p, Array.from({ length: 3000 }, (_, i) => `line ${i + 1} ünï\r\n`).join(""));
    writeFileSync(join(d, "empty"), "");
    writeFileSync(join(d, "long"), `${"x".repeat(5000)}\nshort\n`);
    writeFileSync(join(d, "nonl"), "a\nb");
    await expectSame("read_file", { path: p });
    await expectSame("read_file", { path: p, offset: 2990 });
    await expectSame("read_file", { path: p, offset: 10, limit: 5 });
    await expectSame("read_file", { path: p, offset: 5000 });
    await expectSame("read_file", { path: p, limit: 500 }, { maxReadBytes: 1000 });
    await expectSame("read_file", { path: join(d, "empty") });
    await expectSame("read_file", { path: join(d, "long") }, { maxReadBytes: 1000 });
    await expectSame("read_file", { path: join(d, "nonl") });
    await expectSame("read_file", { path: relative(home, p), limit: 1 });
    await expectSame("read_file", { path: `~/${relative(home, p)}`, limit: 1 });
  }, 30_000);

  test("matches lmcp for binary files, base64 paging and errors", async () => {
    const d = dir();
    const bin = join(d, "blob");
    writeFileSync(bin, randomBytes(50_000));
    const latin = join(d, "latin1.txt");
    writeFileSync(latin, Buffer.from("caf\xe9\n", "latin1"));
    await expectSame("read_file", { path: bin });
    await expectSame("read_file", { path: latin });
    await expectSame("read_file", { path: bin, encoding: "base64" });
    await expectSame("read_file", { path: bin, encoding: "base64", offset: 49_990 });
    await expectSame("read_file", { path: bin, encoding: "base64", offset: 100, limit: 10 });
    await expectSame("read_file", { path: bin, encoding: "base64", offset: 60_000 });
    await expectSame("read_file", { path: bin, encoding: "base64" }, { maxReadBytes: 1000 });
    await expectSame("read_file", { path: d });
    await expectSame("read_file", { path: join(d, "missing") });
    await expectSame("read_file", { path: join(d, "blob", "x") });
  }, 30_000);

  test("a text read of a file over 64 MiB says how to read it in parts; base64 ranges of it still work", async () => {
    const d = dir();
    const big = join(d, "big.log");
    writeFileSync(big, "head line\n");
    Bun.spawnSync(["truncate", "-s", String(65 * 1024 * 1024), big]);
    const r = await sshFallbacks.read_file!(runner, target, tool("read_file").input.parse({ path: big }), context());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/68157440 bytes.*64 MiB.*"base64".*shell/);
    await expectSame("read_file", { path: big, encoding: "base64", limit: 12 });
    await expectSame("read_file", { path: big, encoding: "base64", offset: 65 * 1024 * 1024 - 5 });
  }, 20_000);
});

describe("write_file over ssh", () => {
  const readBack = (p: string) => readFileSync(p);

  test("random binary content round-trips exactly, atomically, into new directories", async () => {
    const d = dir();
    const bytes = randomBytes(300_000);
    const p = join(d, "new", "deeper", "blob.bin");
    const r = await sshFallbacks.write_file!(runner, target, tool("write_file").input.parse({ path: p, content: bytes.toString("base64"), encoding: "base64" }), context());
    expect(r).toEqual({ ok: true, data: { path: p, bytes_written: bytes.length, created: true }, text: `created ${p}: ${bytes.length} bytes` });
    expect(Buffer.compare(readBack(p), bytes)).toBe(0);
    expect(statSync(p).mode & 0o7777).toBe(0o644);
    expect(Bun.spawnSync(["sh", "-c", `ls -a ${d}/new/deeper | grep lmcp-tmp || true`]).stdout.toString()).toBe("");
  }, 20_000);

  test("answers as lmcp does: text with quotes and $(...), mode, an existing file keeping its mode, symlinks, refusals", async () => {
    const a = dir();
    const b = dir();
    const content = `it's "x" $(touch ${a}/pwned) \`touch ${a}/pwned2\`\nline2\n`;
    const cases: [Record<string, unknown>, (d: string) => void][] = [
      [{ path: "f.txt", content }, () => {}],
      [{ path: "f.txt", content: "new", mode: "0600" }, () => {}],
      [{ path: "exec.sh", content: "echo", }, (d) => { writeFileSync(join(d, "exec.sh"), "old"); chmodSync(join(d, "exec.sh"), 0o751); }],
      [{ path: "link", content: "through" }, (d) => { writeFileSync(join(d, "real"), "old"); symlinkSync("real", join(d, "link")); }],
      [{ path: "sub", content: "x" }, (d) => mkdirSync(join(d, "sub"))],
      [{ path: "no/parent.txt", content: "x", create_dirs: false }, () => {}],
      [{ path: "file/child", content: "x" }, (d) => writeFileSync(join(d, "file"), "")],
      [{ path: "bad", content: "%%%", encoding: "base64" }, () => {}],
    ];
    for (const [args, prepare] of cases) {
      prepare(a);
      prepare(b);
      const def = tool("write_file");
      const ctx = context();
      const local = await def.run(def.input.parse({ ...args, path: join(a, String(args.path)) }), ctx);
      const viaSsh = await sshFallbacks.write_file!(runner, target, def.input.parse({ ...args, path: join(b, String(args.path)) }), ctx);
      const norm = (o: ToolOutcome<unknown>, d: string) => JSON.parse(JSON.stringify(o).replaceAll(d, "DIR"));
      expect(norm(viaSsh, b)).toEqual(norm(local, a));
    }
    for (const name of ["f.txt", "exec.sh", "real", "link"]) {
      expect(readFileSync(join(b, name), "utf8")).toBe(readFileSync(join(a, name), "utf8"));
      expect(statSync(join(b, name)).mode).toBe(statSync(join(a, name)).mode);
    }
    expect(existsSync(join(a, "pwned")) || existsSync(join(b, "pwned")) || existsSync(join(b, "pwned2"))).toBe(false);
  }, 40_000);
});

describe("list_dir over ssh", () => {
  test("matches lmcp entry for entry: types, sizes, times, modes, link targets, dot files, max_entries", async () => {
    const d = dir();
    writeFileSync(join(d, "b.txt"), "hello");
    writeFileSync(join(d, "A.txt"), "x");
    writeFileSync(join(d, ".hidden"), "");
    mkdirSync(join(d, "sub"));
    chmodSync(join(d, "sub"), 0o2755);
    symlinkSync("b.txt", join(d, "ln"));
    symlinkSync("/nonexistent/target", join(d, "broken"));
    Bun.spawnSync(["mkfifo", join(d, "fifo")]);
    writeFileSync(join(d, "it's $(x) `y`\nz"), "q");
    writeFileSync(join(d, "ünï"), "");
    await expectSame("list_dir", { path: d });
    await expectSame("list_dir", { path: d, all: true });
    await expectSame("list_dir", { path: d, max_entries: 3 });
    await expectSame("list_dir", { path: relative(home, d) });
    await expectSame("list_dir", { path: join(d, "b.txt") });
    await expectSame("list_dir", { path: join(d, "fifo") });
    await expectSame("list_dir", { path: join(d, "missing") });
  }, 30_000);
});

describe("search_files over ssh", () => {
  function tree(): string {
    const root = dir();
    const d = join(root, "proj");
    mkdirSync(join(d, "src", "deep", "deeper"), { recursive: true });
    mkdirSync(join(d, ".git"));
    mkdirSync(join(d, "a.b"));
    writeFileSync(join(d, "src", "main.ts"), "import x\nconst Foo = 1;\r\nfoo()\n");
    writeFileSync(join(d, "src", "view.tsx"), "<Foo/>\n");
    writeFileSync(join(d, "src", "deep", "util.ts"), "export const foo = 2\n");
    writeFileSync(join(d, "src", "deep", "deeper", "x.lua"), "print('foo')\n");
    writeFileSync(join(d, "a.b", "z.ts"), "foo\n");
    writeFileSync(join(d, ".git", "HEAD.ts"), "foo\n");
    writeFileSync(join(d, ".env.ts"), "foo\n");
    writeFileSync(join(d, "bin.ts"), Buffer.from([0x66, 0x6f, 0x6f, 0, 1, 2]));
    writeFileSync(join(d, "it's $(x).ts"), "foo\n");
    symlinkSync(join(d, "src"), join(d, "src-link"));
    symlinkSync("..", join(d, "src", "up")); // a loop back to an ancestor
    symlinkSync("/nonexistent", join(d, "dangling.ts"));
    symlinkSync(d, join(root, "start-link"));
    return root;
  }

  test("matches lmcp by name: globs with braces, depth, dot files, loops, broken links, max_results", async () => {
    const root = tree();
    const d = join(root, "proj");
    const first = await expectSame("search_files", { path: d, pattern: "*.ts" });
    expect(first.ok && (first.data as { cycles_skipped: number }).cycles_skipped).toBe(2);
    await expectSame("search_files", { path: d, pattern: "*.{ts,tsx}" });
    await expectSame("search_files", { path: d, pattern: "*", all: true });
    await expectSame("search_files", { path: d, pattern: "*", max_depth: 1 });
    await expectSame("search_files", { path: d, pattern: "*", max_depth: 0 });
    await expectSame("search_files", { path: d, pattern: "proj" });
    await expectSame("search_files", { path: d, pattern: "*.ts", max_results: 2 });
    await expectSame("search_files", { path: d, pattern: "nothing-like-this" });
    await expectSame("search_files", { path: join(d, "src", "main.ts"), pattern: "*.ts" });
    await expectSame("search_files", { path: join(d, "missing"), pattern: "*" });
  }, 40_000);

  test("follows a symlinked start directory like find -L", async () => {
    const root = tree();
    const r = await expectSame("search_files", { path: join(root, "start-link"), pattern: "*.lua" });
    if (!r.ok) throw new Error(r.error);
    expect((r.data as { matches: string[] }).matches).toContain(join(root, "start-link", "src", "deep", "deeper", "x.lua"));
    await expectSame("search_files", { path: join(root, "start-link"), pattern: "*.ts", max_depth: 2 });
  }, 20_000);

  test("matches lmcp with a content regex: lines, case, binary files, max_results", async () => {
    const root = tree();
    const d = join(root, "proj");
    await expectSame("search_files", { path: d, pattern: "*.ts", content: "foo" });
    await expectSame("search_files", { path: d, pattern: "*", content: "^(export|import)\\s\\w+" });
    await expectSame("search_files", { path: d, pattern: "*.{ts,tsx,lua}", content: "foo", ignore_case: true });
    await expectSame("search_files", { path: d, pattern: "*.ts", content: "foo", max_results: 2 });
    await expectSame("search_files", { path: d, pattern: "*.ts", content: "\\u0046oo" });
    await expectSame("search_files", { path: d, pattern: "*.ts", content: "(unclosed" });
  }, 40_000);
});

describe("hostile names and commands over ssh", () => {
  test("quotes, $(...), backticks, newlines in paths and commands run nothing and round-trip", async () => {
    const d = dir();
    const pwned = `/tmp/lmcp-pwned-${randomBytes(4).toString("hex")}`;
    const name = `q'"$(touch ${pwned})\`touch ${pwned}\`\n; touch ${pwned}`;
    const p = join(d, name);
    const w = await sshFallbacks.write_file!(runner, target, tool("write_file").input.parse({ path: p, content: name }), context());
    expect(w.ok).toBe(true);
    expect(readFileSync(p, "utf8")).toBe(name);
    await expectSame("read_file", { path: p });
    await expectSame("list_dir", { path: d });
    await expectSame("search_files", { path: d, pattern: "q*", content: "touch" });
    await expectSame("shell", { command: `printf '%s' ${JSON.stringify(name).replaceAll("$", "\\$").replaceAll("`", "\\`")}`, cwd: d });
    expect(existsSync(pwned)).toBe(false);
  }, 30_000);

  test("non-UTF-8 bytes: names are listed (shown as node decodes them) and found as lmcp finds them; contents round-trip exactly", async () => {
    const d = dir();
    const raw = Buffer.concat([Buffer.from(`${d}/name-`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(".dat")]);
    const bytes = Buffer.from([0, 0xff, 0xfe, 0x80, 0x0a, 0x27, 0x22, 0x60, 0x24, 0x28]);
    writeFileSync(raw, bytes);
    // lmcp's own list_dir drops such a name (it cannot lstat the U+FFFD form node gives it); over ssh it is listed, its name shown as node decodes it.
    const { local, viaSsh } = await both("list_dir", { path: d });
    expect(local.ok && (local.data as { total: number }).total).toBe(0);
    if (!viaSsh.ok) throw new Error(viaSsh.error);
    expect(viaSsh.data).toMatchObject({ total: 1, entries: [{ name: raw.subarray(d.length + 1).toString("utf8"), size: bytes.length, type: "file" }] });
    await expectSame("search_files", { path: d, pattern: "name-*" });
    const p = join(d, "exact.bin");
    const w = await sshFallbacks.write_file!(runner, target, tool("write_file").input.parse({ path: p, content: bytes.toString("base64"), encoding: "base64" }), context());
    expect(w.ok).toBe(true);
    expect(Buffer.compare(readFileSync(p), bytes)).toBe(0);
    await expectSame("read_file", { path: p, encoding: "base64" });
    await expectSame("shell", { command: `cat ${JSON.stringify(p)} | od -An -tx1` });
  }, 30_000);
});
