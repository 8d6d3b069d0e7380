// What `lmcp call` and `lmcp hosts` say when they fail, through the real CLI
// against a real `lmcp serve` and `lmcp hub`: a refused token names its source
// (and suggests --hub, or leaving it out, for a serve/hub mix-up) without
// printing it; JSON-RPC errors, refusals and 404s are said once, cleanly.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedPort } from "../helpers/fixtures.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, lmcpCommand, startServer } from "../helpers/server.ts";

let dir: string;
let server: StartedServer;
let hub: StartedServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-cli-errors-"));
  [server, hub] = await Promise.all([startServer(), startHub([], { registryDir: dir })]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), hub?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

let homes = 0;
/** A fresh HOME whose ~/.config/lmcp holds these token files; returns the env and the directory. */
function home(files: { token?: string; "hub-token"?: string } = {}) {
  const h = join(dir, `home-${++homes}`);
  const conf = join(h, ".config", "lmcp");
  mkdirSync(conf, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(conf, name), `${text}\n`, { mode: 0o600 });
  return { env: { HOME: h, XDG_CONFIG_HOME: join(h, ".config") }, conf };
}

function lmcp(args: string[], env: Record<string, string>) {
  const r = Bun.spawnSync([...lmcpCommand(), ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdin: "ignore", timeout: 20_000 });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const count = (text: string, part: string) => text.split(part).length - 1;
const shell = ["call", "shell", '{"command":"echo reached"}'];

describe("a refused or missing token", () => {
  test("a wrong token file is named; the message is one line with one prefix, no `cannot reach`, no token", () => {
    const bad = join(dir, "bad-token");
    writeFileSync(bad, "definitely-not-the-token\n", { mode: 0o600 });
    const r = lmcp([...shell, "--url", server.url, "--token-file", bad], home().env);
    expect(r.code).toBe(1);
    expect(r.err).toStartWith(`lmcp call: the server at ${server.url} refused the token from ${bad} (HTTP 401)`);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(count(r.err, "lmcp call:")).toBe(1);
    expect(r.err).not.toContain("cannot reach");
    expect(r.err).not.toContain("definitely-not-the-token");
  });
  test("LMCP_TOKEN is named as the source, and its value is not printed", () => {
    const r = lmcp([...shell, "--url", server.url], { ...home().env, LMCP_TOKEN: "env-token-that-is-wrong" });
    expect(r.code).toBe(1);
    expect(r.err).toContain("refused the token from LMCP_TOKEN (HTTP 401)");
    expect(r.err).not.toContain("env-token-that-is-wrong");
  });
  test("no token at all says where it looked", () => {
    const { env, conf } = home();
    const r = lmcp([...shell, "--url", server.url], env);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`needs a token and none was found (looked in ${join(conf, "token")}`);
  });
  test("the serve token against a hub suggests --hub, which then works", () => {
    const { env, conf } = home({ token: server.token, "hub-token": hub.token });
    const r = lmcp(["call", "remote_list_hosts", "{}", "--url", hub.url], env);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`refused the token from ${join(conf, "token")} (HTTP 401); if ${hub.url} is a hub, add --hub`);
    expect(r.err).toContain(join(conf, "hub-token"));
    expect(lmcp(["call", "remote_list_hosts", "{}", "--url", hub.url, "--hub"], env).code).toBe(0);
  });
  test("--hub against a plain server suggests leaving it out, which then works", () => {
    const { env, conf } = home({ token: server.token, "hub-token": hub.token });
    const r = lmcp([...shell, "--url", server.url, "--hub"], env);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`refused the token from ${join(conf, "hub-token")} (HTTP 401); if ${server.url} is an lmcp server rather than a hub, leave out --hub`);
    expect(lmcp([...shell, "--url", server.url], env).out).toContain("reached");
  });
  test("`lmcp hosts` pointed at a plain server asks whether it is a hub", () => {
    const r = lmcp(["hosts", "--url", server.url], home({ token: server.token, "hub-token": hub.token }).env);
    expect(r.code).toBe(1);
    expect(r.err).toContain("`lmcp hosts` needs a hub");
  });
});

describe("other failures, said once", () => {
  const t = () => ["--url", server.url, "--token-file", server.tokenFile];
  test("bad arguments: the JSON-RPC error code and text once, no `MCP error` prefix", () => {
    const r = lmcp(["call", "read_file", '{"nope":1}', ...t()], home().env);
    expect(r.code).toBe(1);
    expect(r.err).toStartWith(`lmcp call: ${server.url} refused the request: Invalid arguments for tool read_file`);
    expect(count(r.err, "-32602")).toBe(1);
    expect(r.err).not.toContain("MCP error");
  });
  test("an unknown tool is named once", () => {
    const r = lmcp(["call", "no_such_tool", "{}", ...t()], home().env);
    expect(r.code).toBe(1);
    expect(count(r.err, "no_such_tool")).toBe(1);
    expect(count(r.err, "-32602")).toBe(1);
    expect(r.err).not.toContain("MCP error");
  });
  test("a closed port: cannot reach, connection refused, and how to point elsewhere", () => {
    const url = `http://127.0.0.1:${closedPort()}/mcp`;
    const r = lmcp([...shell, "--url", url, "--token-file", server.tokenFile], home().env);
    expect(r.code).toBe(1);
    expect(r.err).toStartWith(`lmcp call: cannot reach ${url}: connection refused; is \`lmcp serve\` running there?`);
    expect(count(r.err, url)).toBe(1);
  });
  test("a wrong path: the server's 404 text once", () => {
    const r = lmcp([...shell, "--url", `${server.base}/nope`, "--token-file", server.tokenFile], home().env);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${server.base}/nope answered HTTP 404: not found`);
    expect(count(r.err, "404")).toBe(1);
  });
});
