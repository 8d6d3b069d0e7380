import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfigFile } from "../../src/config/file.ts";
import { parseListen, resolveServeSettings, serveFileSchema } from "../../src/config/server.ts";
import { parseTokens } from "../../src/config/tokens.ts";
import { tempDir } from "../helpers/context.ts";

let dir = "";
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));
const file = (text: string) => {
  dir = tempDir();
  const f = join(dir, "lmcp.toml");
  writeFileSync(f, text);
  return f;
};
const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("config file", () => {
  test("an unknown key names the file, line and key, and lists the known keys", () => {
    const f = file('listen = "127.0.0.1:1"\nlisten_adress = "x"\n');
    const msg = errorOf(() => loadConfigFile(f, serveFileSchema));
    expect(msg).toContain(`${f}:2: unknown key "listen_adress"`);
    expect(msg).toContain("known keys: listen");
  });
  test("a wrong type names the file, line, key and expected type", () => {
    const f = file('name = "x"\n\nmax_body_bytes = "big"\n');
    const msg = errorOf(() => loadConfigFile(f, serveFileSchema));
    expect(msg).toContain(`${f}:3: key "max_body_bytes"`);
    expect(msg).toMatch(/expected number/);
  });
  test("an unknown [section] names the line it opens on", () => {
    const f = file('name = "x"\n[section]\nfoo = 1\n');
    expect(errorOf(() => loadConfigFile(f, serveFileSchema))).toContain(`${f}:2: unknown key "section"`);
  });
  test("a listen value that is no address names the file and line", () => {
    const f = file('name = "x"\nlisten = "nonsense"\n');
    const msg = errorOf(() => resolveServeSettings({ config: f }));
    expect(msg).toContain(`${f}:2 key "listen"`);
    expect(msg).toContain("HOST:PORT");
  });
  test("a TOML syntax error names the line", () => {
    const f = file('name = "x"\nlisten = = 3\nmax_body_bytes = 5\n');
    expect(errorOf(() => loadConfigFile(f, serveFileSchema))).toContain(`${f}:2: invalid TOML`);
  });
  test("a missing file is a ConfigError naming it", () => {
    expect(errorOf(() => loadConfigFile("/nonexistent/lmcp.toml", serveFileSchema))).toContain("/nonexistent/lmcp.toml does not exist");
  });
});

describe("precedence", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  test("flag beats environment beats file beats default", () => {
    const f = file('listen = "127.0.0.1:1111"\nname = "from-file"\n');
    process.env.LMCP_LISTEN = "127.0.0.1:2222";
    delete process.env.LMCP_NAME;
    delete process.env.LMCP_TOKEN;
    expect(resolveServeSettings({ config: f, listen: "127.0.0.1:3333" }).port).toBe(3333);
    expect(resolveServeSettings({ config: f }).port).toBe(2222);
    delete process.env.LMCP_LISTEN;
    const s = resolveServeSettings({ config: f });
    expect(s.port).toBe(1111);
    expect(s.name).toBe("from-file");
    expect(s.limits.maxOutputBytes).toBe(32 * 1024);
  });
  test("LMCP_TOKEN wins over every token file; empty LMCP_TOKEN counts as unset", () => {
    const f = file('token_file = "/x/token"\n');
    process.env.LMCP_TOKEN = "secret";
    expect(resolveServeSettings({ config: f }).auth).toEqual({ mode: "env", token: "secret" });
    process.env.LMCP_TOKEN = "";
    expect(resolveServeSettings({ config: f }).auth).toEqual({ mode: "file", file: "/x/token", isDefault: false });
  });
});

describe("parseListen", () => {
  test("accepts host:port, [v6]:port and :port", () => {
    expect(parseListen("127.0.0.1:8765", "x")).toEqual({ hostname: "127.0.0.1", port: 8765 });
    expect(parseListen("[::1]:9", "x")).toEqual({ hostname: "::1", port: 9 });
    expect(parseListen(":80", "x")).toEqual({ hostname: "0.0.0.0", port: 80 });
  });
  test("refuses garbage, naming where it came from", () => {
    for (const v of ["8765", "host", "1.2.3.4:99999", "a:b"]) expect(errorOf(() => parseListen(v, "--listen"))).toContain("--listen");
  });
});

describe("token files", () => {
  test("hold several tokens, one per line, with # comments", () => {
    expect(parseTokens("# rotated 2026-11\nnew-token\n\n  old-token  # until Friday\n")).toEqual(["new-token", "old-token"]);
  });
});
