import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../src/config/file.ts";
import { locateBackendsFile } from "../../src/config/hub.ts";
import { defaultBackendsFile } from "../../src/config/paths.ts";
import { loadRegistry } from "../../src/hub/registry.ts";
import { tempDir } from "../helpers/context.ts";

let dir = "";
const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
/** A fresh temp dir, removed after the test (a test may make several). */
const freshDir = () => {
  const d = tempDir();
  made.push(d);
  return d;
};
const registry = (text: string) => {
  dir = freshDir();
  const f = join(dir, "backends.toml");
  writeFileSync(f, text);
  return f;
};
const errorOf = (f: string) => {
  try {
    loadRegistry(f);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("backends.toml", () => {
  test("reads every key, resolving token, token_file and token_env", () => {
    process.env.LMCP_TEST_BACKEND_TOKEN = "from-env";
    dir = freshDir();
    const tokenFile = join(dir, "riemann.token");
    writeFileSync(tokenFile, "# comment\nfile-token\n");
    const f = join(dir, "backends.toml");
    writeFileSync(
      f,
      `
[[backend]]
name = "riemann"
url = "http://riemann.lan:8765/mcp"
token_file = ${JSON.stringify(tokenFile)}
ssh = "ops@riemann.lan"
ssh_port = 2222
ssh_options = ["-i", "/etc/lmcp/hub_ed25519"]
tags = ["mac", "build"]
allowed_paths = ["~/src", "/srv/www"]

[[backend]]
name = "gauss"
url = "https://gauss.lan:8765/mcp"
token_env = "LMCP_TEST_BACKEND_TOKEN"

[[backend]]
name = "euler"
ssh = "euler.lan"
`,
    );
    const [r, g, e] = loadRegistry(f);
    expect(r).toEqual({
      name: "riemann",
      url: "http://riemann.lan:8765/mcp",
      token: "file-token",
      ssh: "ops@riemann.lan",
      ssh_port: 2222,
      ssh_options: ["-i", "/etc/lmcp/hub_ed25519"],
      tags: ["mac", "build"],
      tokenFile,
      allowedPaths: ["~/src", "/srv/www"],
    });
    expect(g?.token).toBe("from-env");
    expect(e).toMatchObject({ name: "euler", url: undefined, ssh: "euler.lan", token: undefined, tokenFile: undefined, allowedPaths: undefined });
  });
  test("an ssh target or user starting with '-' is refused, naming file, line, backend and key", () => {
    for (const target of ["-oProxyCommand=touch /tmp/pwned", "-x@host", "ops@-oProxyCommand=x", "a b@host"]) {
      const f = registry(`[[backend]]\nname = "evil"\nssh = ${JSON.stringify(target)}\n`);
      const msg = errorOf(f);
      expect(msg).toContain(`${f}:3: backend "evil": key "ssh"`);
    }
  });
  test("[backend] where [[backend]] is meant says so, with the line", () => {
    const f = registry('# hosts\n[backend]\nname = "a"\nurl = "http://127.0.0.1:1/mcp"\ntoken = "t"\n');
    expect(errorOf(f)).toBe(`${f}:2: [backend] is one table; each host is a [[backend]] table (two brackets)`);
  });
  test("an unknown key names the backend and the key", () => {
    const f = registry(`[[backend]]\nname = "a"\nssh = "a.lan"\n\n[[backend]]\nname = "b"\nssh = "b.lan"\nport = 22\n`);
    expect(errorOf(f)).toContain(`${f}:8: backend "b": unknown key "port"`);
  });
  test("a url without a token, two token sources, neither url nor ssh, and duplicate names are errors", () => {
    expect(errorOf(registry(`[[backend]]\nname = "a"\nurl = "http://a:1/mcp"\n`))).toContain('backend "a": has a url but no token');
    expect(errorOf(registry(`[[backend]]\nname = "a"\nurl = "http://a:1/mcp"\ntoken = "x"\ntoken_env = "Y"\n`))).toContain("not several");
    expect(errorOf(registry(`[[backend]]\nname = "a"\n`))).toContain("needs url");
    expect(errorOf(registry(`[[backend]]\nname = "a"\nssh = "a"\n[[backend]]\nname = "a"\nssh = "b"\n`))).toContain("defined twice");
  });
  test("a wrong type and a missing token_env variable are named", () => {
    expect(errorOf(registry(`[[backend]]\nname = "a"\nssh = "a"\nssh_port = "22"\n`))).toContain('key "ssh_port"');
    delete process.env.LMCP_TEST_NOPE;
    expect(errorOf(registry(`[[backend]]\nname = "a"\nurl = "http://a:1/mcp"\ntoken_env = "LMCP_TEST_NOPE"\n`))).toContain("LMCP_TEST_NOPE is not set");
  });
  test("allowed_paths must be a list of non-empty paths", () => {
    expect(errorOf(registry(`[[backend]]\nname = "a"\nssh = "a"\nallowed_paths = "/srv"\n`))).toContain('backend "a": key "allowed_paths"');
    expect(errorOf(registry(`[[backend]]\nname = "a"\nssh = "a"\nallowed_paths = [""]\n`))).toContain('key "allowed_paths"');
  });
  test("a url that is not http(s) is refused", () => {
    expect(errorOf(registry(`[[backend]]\nname = "a"\nurl = "ftp://a/mcp"\ntoken = "x"\n`))).toContain('key "url"');
  });
});

describe("where the registry is", () => {
  const keys = ["LMCP_SYSTEM", "XDG_CONFIG_HOME", "LMCP_HUB_BACKENDS", "LMCP_CONFIG"] as const;
  /** Runs `f` with these variables set (undefined: unset), then puts the old values back. */
  const withEnv = <T>(vars: Partial<Record<(typeof keys)[number], string>>, f: () => T): T => {
    const saved = keys.map((k) => [k, process.env[k]] as const);
    for (const k of keys) {
      if (vars[k] === undefined) delete process.env[k];
      else process.env[k] = vars[k];
    }
    try {
      return f();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
  const systemRegistry = "/etc/lmcp/backends.toml";

  test("a system service (LMCP_SYSTEM=1, as the systemd unit sets) uses /etc/lmcp/backends.toml", () => {
    expect(withEnv({ LMCP_SYSTEM: "1", XDG_CONFIG_HOME: "/nowhere" }, defaultBackendsFile)).toBe(systemRegistry);
  });
  test.skipIf(existsSync(systemRegistry))("anyone else gets their config dir's backends.toml, XDG_CONFIG_HOME respected (skipped: this machine has /etc/lmcp/backends.toml, which wins)", () => {
    const d = freshDir();
    expect(withEnv({ XDG_CONFIG_HOME: d }, defaultBackendsFile)).toBe(join(d, "lmcp", "backends.toml"));
    // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    expect(withEnv({ XDG_CONFIG_HOME: "rel" }, defaultBackendsFile)).toEndWith("/.config/lmcp/backends.toml");
  });
  test("--backends beats LMCP_HUB_BACKENDS, which beats hub.toml's backends, which beats the default", () => {
    const d = freshDir();
    const config = join(d, "hub.toml");
    writeFileSync(config, `backends = ${JSON.stringify(join(d, "from-config.toml"))}\n`);
    withEnv({ XDG_CONFIG_HOME: d, LMCP_HUB_BACKENDS: join(d, "from-env.toml") }, () => {
      expect(locateBackendsFile({ backends: join(d, "from-flag.toml"), config })).toBe(join(d, "from-flag.toml"));
      expect(locateBackendsFile({ config })).toBe(join(d, "from-env.toml"));
    });
    withEnv({ XDG_CONFIG_HOME: d }, () => {
      expect(locateBackendsFile({ config })).toBe(join(d, "from-config.toml"));
      expect(locateBackendsFile({})).toBe(defaultBackendsFile());
    });
  });
  test("a missing registry says how to create one", () => {
    const f = join(freshDir(), "backends.toml");
    expect(errorOf(f)).toBe(`backends file ${f} does not exist; add a host with \`lmcp hub add NAME --url URL --token-file FILE\` (it creates the file), or pass --backends`);
  });
});
