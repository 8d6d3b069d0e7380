// Where `lmcp call`, `lmcp client-config` (and `lmcp hosts`, in hub.test.ts)
// connect: the server's configured listen address (--listen, LMCP_LISTEN,
// `listen` in lmcp.toml / hub.toml; a wildcard means loopback), unless --url
// or LMCP_URL say otherwise; and `token_file` from the same config file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedPort } from "../helpers/fixtures.ts";
import { type StartedServer, lmcpCommand, startServer } from "../helpers/server.ts";

let dir: string;
let server: StartedServer;
let port: string;
let closed: number;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-cli-target-"));
  server = await startServer();
  port = new URL(server.url).port;
  closed = closedPort();
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let homes = 0;
/** A fresh HOME (and XDG_CONFIG_HOME) for one run, with these files under ~/.config/lmcp. */
function home(files: Record<string, string> = {}): Record<string, string> {
  const h = join(dir, `home-${++homes}`);
  mkdirSync(join(h, ".config", "lmcp"), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(h, ".config", "lmcp", name), text, { mode: 0o600 });
  return { HOME: h, XDG_CONFIG_HOME: join(h, ".config") };
}

function lmcp(args: string[], env: Record<string, string>) {
  const r = Bun.spawnSync([...lmcpCommand(), ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdin: "ignore", timeout: 20_000 });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const echo = ["call", "shell", '{"command":"echo reached"}'];

describe("call uses the configured listen address", () => {
  test("--listen", () => {
    const r = lmcp([...echo, "--listen", `127.0.0.1:${port}`, "--token-file", server.tokenFile], home());
    expect(r.err).toBe("");
    expect(r.out).toContain("reached");
  });
  test("LMCP_LISTEN with a wildcard host connects to loopback", () => {
    const r = lmcp([...echo, "--token-file", server.tokenFile], { ...home(), LMCP_LISTEN: `0.0.0.0:${port}` });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });
  test("`listen` and `token_file` in ~/.config/lmcp/lmcp.toml: no flags needed", () => {
    const r = lmcp(echo, home({ "lmcp.toml": `listen = "0.0.0.0:${port}"\ntoken_file = ${JSON.stringify(server.tokenFile)}\n` }));
    expect(r.err).toBe("");
    expect(r.out).toContain("reached");
  });
  test("--config names the file to read", () => {
    const file = join(dir, "named.toml");
    writeFileSync(file, `listen = "127.0.0.1:${port}"\n`);
    expect(lmcp([...echo, "--config", file, "--token-file", server.tokenFile], home()).code).toBe(0);
  });
  test("precedence: --url > LMCP_URL > --listen > LMCP_LISTEN > the config file", () => {
    const wrong = `127.0.0.1:${closed}`;
    const config = { "lmcp.toml": `listen = "${wrong}"\n` };
    const t = ["--token-file", server.tokenFile];
    expect(lmcp([...echo, ...t, "--url", server.url], { ...home(config), LMCP_URL: `http://${wrong}/mcp`, LMCP_LISTEN: wrong }).code).toBe(0);
    expect(lmcp([...echo, ...t, "--listen", wrong], { ...home(config), LMCP_URL: server.url }).code).toBe(0);
    expect(lmcp([...echo, ...t, "--listen", `127.0.0.1:${port}`], { ...home(config), LMCP_LISTEN: wrong }).code).toBe(0);
    expect(lmcp([...echo, ...t], { ...home(config), LMCP_LISTEN: `127.0.0.1:${port}` }).code).toBe(0);
    const down = lmcp([...echo, ...t], home(config));
    expect(down.code).toBe(1);
    expect(down.err).toContain(`cannot reach http://${wrong}/mcp: connection refused`);
  });
});

describe("client-config prints the configured address", () => {
  const token = "client-config-test-token";
  const urlOf = (out: string) => (JSON.parse(out) as { mcpServers: Record<string, { url: string }> }).mcpServers;
  test("an IPv6 wildcard is [::1], an IPv4 one 127.0.0.1, a named host stays", () => {
    expect(urlOf(lmcp(["client-config", "--json", "--listen", "[::]:9000"], home({ token })).out).lmcp?.url).toBe("http://[::1]:9000/mcp");
    expect(urlOf(lmcp(["client-config", "--json"], { ...home({ token }), LMCP_LISTEN: "0.0.0.0:9100" }).out).lmcp?.url).toBe("http://127.0.0.1:9100/mcp");
    expect(urlOf(lmcp(["client-config", "--json", "--listen", "[::1]:9200"], home({ token })).out).lmcp?.url).toBe("http://[::1]:9200/mcp");
  });
  test("--hub reads hub.toml (not lmcp.toml); with nothing configured the defaults stay", () => {
    const env = home({ "hub-token": token, token, "hub.toml": 'listen = "127.0.0.1:9555"\n', "lmcp.toml": 'listen = "127.0.0.1:9444"\n' });
    expect(urlOf(lmcp(["client-config", "--json", "--hub"], env).out)["lmcp-hub"]?.url).toBe("http://127.0.0.1:9555/mcp");
    expect(urlOf(lmcp(["client-config", "--json"], env).out).lmcp?.url).toBe("http://127.0.0.1:9444/mcp");
    expect(urlOf(lmcp(["client-config", "--json"], home({ token })).out).lmcp?.url).toBe("http://127.0.0.1:8765/mcp");
  });
  test("a TLS config gives an https URL", () => {
    const env = home({ token, "lmcp.toml": 'listen = "0.0.0.0:9443"\ntls_cert = "/nonexistent/cert.pem"\ntls_key = "/nonexistent/key.pem"\n' });
    expect(urlOf(lmcp(["client-config", "--json"], env).out).lmcp?.url).toBe("https://127.0.0.1:9443/mcp");
  });
  test("a bad listen value exits 2 and names where it came from", () => {
    const r = lmcp(["client-config"], { ...home({ token }), LMCP_LISTEN: "nonsense" });
    expect(r.code).toBe(2);
    expect(r.err).toContain("LMCP_LISTEN");
  });
});
