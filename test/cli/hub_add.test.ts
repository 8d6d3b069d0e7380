// `lmcp hub add` through the real CLI: what it writes (kept text, mode, owner,
// symlinks, no temp files left), and a clear exit-2 error for every bad input.
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadRegistry } from "../../src/hub/registry.ts";
import { scratch } from "../helpers/context.ts";
import { lmcpCommand } from "../helpers/server.ts";

const { freshDir } = scratch();

/** Runs `lmcp ARGS` with HOME and XDG_CONFIG_HOME inside `home`; bounded by a 20 s kill. */
async function lmcp(args: string[], home: string, env: Record<string, string> = {}) {
  const p = Bun.spawn([...lmcpCommand(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_CONFIG_HOME: join(home, "xdg"), LANG: "C.UTF-8", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

/** A home with a token file for a backend, and where the default registry goes. */
function home() {
  const h = freshDir("lmcp-home-");
  const token = join(h, "alpha.token");
  writeFileSync(token, "alpha-secret-token\n", { mode: 0o600 });
  return { h, token, registry: join(h, "xdg", "lmcp", "backends.toml") };
}

describe("lmcp hub add writes the registry", () => {
  test("creates the default registry (dir 0700, file 0600) with a table the hub loads, and says how a running hub reloads", async () => {
    const { h, token, registry } = home();
    const r = await lmcp(["hub", "add", "alpha", "--url", "http://127.0.0.1:8765/mcp", "--token-file", token, "--ssh", "ops@alpha.lan", "--tag", "web", "--tag", "linux"], h);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`created ${registry} with host "alpha"`);
    expect(r.out).toContain("systemctl reload lmcp-hub");
    expect(r.out).toContain("kill -HUP");
    expect(r.out).not.toContain("alpha-secret-token");
    expect(statSync(registry).mode & 0o777).toBe(0o600);
    expect(statSync(join(h, "xdg", "lmcp")).mode & 0o777).toBe(0o700);
    expect(loadRegistry(registry)).toEqual([
      { name: "alpha", url: "http://127.0.0.1:8765/mcp", token: "alpha-secret-token", ssh: "ops@alpha.lan", ssh_port: undefined, ssh_options: [], tags: ["web", "linux"], tokenFile: token, allowedPaths: undefined },
    ]);
  });
  test("appends to an existing file keeping its text and comments, mode and owner, leaving no temp file", async () => {
    const { h, token } = home();
    const dir = freshDir();
    const registry = join(dir, "backends.toml");
    const before = '# the fleet\n\n[[backend]]   # first\nname = "old"\nssh = "old.lan"  # no lmcp there\n# trailing comment, no newline';
    writeFileSync(registry, before);
    chmodSync(registry, 0o640);
    // As root, give the file to another owner: a root-run add must not take it over (the hub's user must still read it).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(registry, 65534, 65534);
    const r = await lmcp(["hub", "add", "new-1", "--url", "http://127.0.0.1:1/mcp", "--token-file", token, "--backends", registry], h);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`added host "new-1" to ${registry}`);
    const after = readFileSync(registry, "utf8");
    expect(after.startsWith(`${before}\n`)).toBe(true);
    expect(after.slice(before.length)).toBe(`\n\n[[backend]]\nname = "new-1"\nurl = "http://127.0.0.1:1/mcp"\ntoken_file = ${JSON.stringify(token)}\n`);
    expect(loadRegistry(registry).map((b) => b.name)).toEqual(["old", "new-1"]);
    const st = statSync(registry);
    expect(st.mode & 0o777).toBe(0o640);
    if (asRoot) expect([st.uid, st.gid]).toEqual([65534, 65534]);
    expect(readdirSync(dir)).toEqual(["backends.toml"]);
  });
  test("a symlinked registry is updated where it points, and stays a link", async () => {
    const { h } = home();
    const dir = freshDir();
    mkdirSync(join(dir, "real"));
    writeFileSync(join(dir, "real", "backends.toml"), "");
    symlinkSync(join(dir, "real", "backends.toml"), join(dir, "link.toml"));
    const r = await lmcp(["hub", "add", "s", "--ssh", "s.lan", "--backends", join(dir, "link.toml")], h);
    expect(r.code).toBe(0);
    expect(lstatSync(join(dir, "link.toml")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "real", "backends.toml"), "utf8")).toBe('[[backend]]\nname = "s"\nssh = "s.lan"\n');
  });
  test("LMCP_HUB_BACKENDS names the registry, and a path with quotes and a newline survives TOML", async () => {
    const { h } = home();
    const dir = freshDir();
    const odd = join(dir, 'tok "quoted"\\\nline');
    writeFileSync(odd, "t\n", { mode: 0o600 });
    const registry = join(dir, "env.toml");
    const r = await lmcp(["hub", "add", "q", "--url", "http://127.0.0.1:1/mcp", "--token-file", odd], h, { LMCP_HUB_BACKENDS: registry });
    expect(r.code).toBe(0);
    expect(loadRegistry(registry)[0]?.tokenFile).toBe(odd);
  });
  test("a token file readable by others is added with a warning", async () => {
    const { h, token } = home();
    chmodSync(token, 0o644);
    const r = await lmcp(["hub", "add", "alpha", "--url", "http://127.0.0.1:1/mcp", "--token-file", token], h);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${token} is readable by group or others; chmod 600`);
  });
});

describe("lmcp hub add refuses bad input with exit 2, changing nothing", () => {
  test("each bad input names what is wrong and what to do", async () => {
    const { h, token } = home();
    const dir = freshDir();
    const registry = join(dir, "backends.toml");
    const before = '# hosts\n[[backend]]\nname = "taken"\nssh = "taken.lan"\n';
    writeFileSync(registry, before);
    writeFileSync(join(dir, "empty.token"), "# nothing yet\n");
    const url = "http://127.0.0.1:1/mcp";
    const cases: [string[], string][] = [
      [[], "hub add: name the host"],
      [["a", "b", "--ssh", "x"], "one NAME only, got 2: a b"],
      [["bad name", "--ssh", "x"], 'NAME "bad name": must be letters, digits'],
      [["-x"], "Unknown option '-x'"],
      [["a", "--url", url, "--token-file", token, "--frob"], "Unknown option '--frob'; see lmcp hub add --help"],
      [["a"], "give --url (the host's lmcp server) and --token-file, or --ssh USER@HOST"],
      [["a", "--url", "ftp://x/mcp", "--token-file", token], '--url "ftp://x/mcp": must be an http:// or https:// URL'],
      [["a", "--url", "not a url", "--token-file", token], '--url "not a url": must be an http:// or https:// URL'],
      [["a", "--url", "http://127.0.0.1:8765", "--token-file", token], "has no path; lmcp serves at /mcp, e.g. http://127.0.0.1:8765/mcp"],
      [["a", "--url", url], "--url needs --token-file FILE"],
      [["a", "--ssh", "a.lan", "--token-file", token], "without --url the host is reached over SSH only"],
      [["a", "--url", url, "--token-file", join(dir, "nope")], `--token-file ${join(dir, "nope")} does not exist; put the token of the lmcp server at ${url} in it`],
      [["a", "--url", url, "--token-file", join(dir, "empty.token")], "holds no token"],
      [["a", "--url", url, "--token-file", dir], "is a directory"],
      [["a", "--ssh=-oProxyCommand=x"], '--ssh "-oProxyCommand=x": must be "host" or "user@host"'],
      [["a", "--ssh", "a.lan", "--tag", ""], "--tag: "],
      [["taken", "--ssh", "other.lan"], `${registry}:2 already has a backend "taken"; pick another NAME`],
    ];
    for (const [args, message] of cases) {
      const r = await lmcp(["hub", "add", ...args, "--backends", registry], h);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toContain(message);
      expect(r.out, args.join(" ")).toBe("");
    }
    expect(readFileSync(registry, "utf8")).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(["backends.toml", "empty.token"]);
  });
  test("a registry that does not load is not added to: the error says to fix it first, with its line", async () => {
    const { h } = home();
    const registry = join(freshDir(), "backends.toml");
    const before = '# hosts\n[backend]\nname = "a"\nssh = "a.lan"\n';
    writeFileSync(registry, before);
    const r = await lmcp(["hub", "add", "b", "--ssh", "b.lan", "--backends", registry], h);
    expect(r.code).toBe(2);
    expect(r.err).toContain("fix the registry first (nothing was added)");
    expect(r.err).toContain(`${registry}:2: [backend] is one table`);
    expect(readFileSync(registry, "utf8")).toBe(before);
  });
  test("--help documents every flag and the default registry", async () => {
    const r = await lmcp(["hub", "add", "--help"], home().h);
    expect(r.code).toBe(0);
    for (const s of ["Usage: lmcp hub add NAME", "--url", "--token-file", "--ssh", "--tag", "--backends", "~/.config/lmcp/backends.toml", "SIGHUP"]) expect(r.out).toContain(s);
    expect((await lmcp(["--help"], home().h)).out).toContain("hub add NAME");
  });
  test.skipIf(process.getuid?.() === 0)("a registry the user cannot write is a clear error (skipped as root, who can write anything)", async () => {
    const { h } = home();
    const dir = freshDir();
    const registry = join(dir, "backends.toml");
    writeFileSync(registry, "");
    chmodSync(dir, 0o500);
    const r = await lmcp(["hub", "add", "b", "--ssh", "b.lan", "--backends", registry], h);
    chmodSync(dir, 0o700);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot write ${registry}`);
    expect(r.err).toContain("pass --backends FILE");
    expect(existsSync(registry)).toBe(true);
  });
});
