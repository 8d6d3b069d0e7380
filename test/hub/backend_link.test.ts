// The hub's link to a backend over real HTTP: 2026-07-28 to a backend that
// answers server/discover, 2025 to one that does not, the caller's traceparent
// in `_meta` either way, and every failure sorted as the router needs it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BackendLink, LinkError, type LinkFailure } from "../../src/hub/backend_link.ts";
import type { Backend } from "../../src/hub/registry.ts";
import { closedPort, hungListener, stuckBackend } from "../helpers/fixtures.ts";
import { type StartedServer, startServer, waitFor } from "../helpers/server.ts";
import { type EraBackend, eraBackend } from "./era_fixtures.ts";

const backend = (url: string, token: string): Backend => ({
  name: "b",
  url,
  token,
  ssh: undefined,
  ssh_port: undefined,
  ssh_options: [],
  tags: [],
  tokenFile: undefined,
  allowedPaths: undefined,
});
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const opts = (extra: { timeoutMs?: number; traceparent?: string; signal?: AbortSignal } = {}) => ({
  signal: extra.signal ?? new AbortController().signal,
  timeoutMs: extra.timeoutMs ?? 5000,
  ...(extra.traceparent ? { traceparent: extra.traceparent } : {}),
});

/** The failure a call ends in, or undefined if it succeeded. */
async function failureOf(p: Promise<unknown>): Promise<LinkFailure | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!(err instanceof LinkError)) throw err;
    return err.failure;
  }
}

const links: BackendLink[] = [];
const link = (b: Backend) => {
  const l = new BackendLink(b);
  links.push(l);
  return l;
};
const fixtures: EraBackend[] = [];
let server: StartedServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const l of links) l.reset();
  for (const f of fixtures) f.stop();
  await server?.stop();
});

describe("eras and trace context", () => {
  test("to a 2026-07-28 backend: discover, then tools/call with the envelope, Mcp-Name and the traceparent", async () => {
    const f = eraBackend("modern");
    fixtures.push(f);
    const r = await link(backend(f.url, f.token)).callTool("shell", { command: "true" }, opts({ traceparent }));
    expect(r.structuredContent).toMatchObject({ era: "modern", name: "shell" });
    expect(f.methods()).toEqual(["server/discover", "tools/call"]);
    const call = f.seen[1]!;
    expect(call).toMatchObject({ mcpMethod: "tools/call", mcpName: "shell", protocolVersion: "2026-07-28" });
    expect(call.meta).toMatchObject({ traceparent, "io.modelcontextprotocol/protocolVersion": "2026-07-28" });
  });
  test("to a 2025-only backend: initialize after the failed discover, and the traceparent in _meta", async () => {
    const f = eraBackend("legacy");
    fixtures.push(f);
    const l = link(backend(f.url, f.token));
    const r = await l.callTool("read_file", { path: "/x" }, opts({ traceparent }));
    expect(r.structuredContent).toMatchObject({ era: "legacy", name: "read_file" });
    expect(f.methods()).toEqual(["server/discover", "initialize", "notifications/initialized", "tools/call"]);
    expect(f.seen[3]?.meta).toEqual({ traceparent });
    // The link is reused: the next call is one request.
    await l.callTool("read_file", { path: "/y" }, opts());
    expect(f.methods().slice(4)).toEqual(["tools/call"]);
    expect(f.seen[4]?.meta).toBeUndefined();
  });
  test("to the real lmcp serve: a tool call works and its audit line carries the traceparent", async () => {
    const r = await link(backend(server.url, server.token)).callTool("shell", { command: "echo via-link" }, opts({ traceparent }));
    expect(r.structuredContent).toMatchObject({ stdout: "via-link\n", exit_code: 0 });
    const audit = join(server.home, ".state", "lmcp", "audit.jsonl");
    const line = await waitFor("the backend's audit line for the call", () =>
      existsSync(audit) ? readFileSync(audit, "utf8").split("\n").find((l) => l.includes("via-link")) : undefined,
    );
    expect(JSON.parse(line).traceparent).toBe(traceparent);
  });
});

describe("failures, sorted", () => {
  test("a wrong token is auth_failed and names the 401", async () => {
    const f = await failureOf(link(backend(server.url, "not-the-token")).callTool("shell", { command: "true" }, opts()));
    expect(f?.kind).toBe("auth_failed");
    expect(f?.message).toContain("401");
  });
  test("a closed port is unreachable: connection refused", async () => {
    const f = await failureOf(link(backend(`http://127.0.0.1:${closedPort()}/mcp`, "x")).callTool("shell", { command: "true" }, opts()));
    expect(f).toEqual({ kind: "unreachable", message: "connection refused" });
  });
  test("a listener that never answers is unreachable once the connect times out (no call was sent)", async () => {
    const hung = hungListener();
    try {
      const f = await failureOf(link(backend(`http://127.0.0.1:${hung.port}/mcp`, "x")).callTool("shell", { command: "true" }, opts({ timeoutMs: 300 })));
      expect(f).toEqual({ kind: "unreachable", message: "no answer within 0.3 s" });
    } finally {
      hung.stop();
    }
  });
  test("a backend that takes the call and never answers is broken after the call timeout", async () => {
    const stuck = stuckBackend();
    try {
      const f = await failureOf(link(backend(`http://127.0.0.1:${stuck.port}/mcp`, "x")).callTool("shell", { command: "true" }, opts({ timeoutMs: 300 })));
      expect(f?.kind).toBe("broken");
      expect(f?.message).toBe("no answer within 0.3 s");
    } finally {
      stuck.stop();
    }
  });
  test("a JSON-RPC error from the backend is rpc_error with its code, its text once, and the link kept", async () => {
    const l = link(backend(server.url, server.token));
    const f = await failureOf(l.callTool("no_such_tool", {}, opts()));
    expect(f).toMatchObject({ kind: "rpc_error", code: -32602 });
    expect(f?.message).not.toContain("MCP error");
    expect(f?.message).toContain("no_such_tool");
    const r = await l.callTool("shell", { command: "echo still" }, opts());
    expect(r.structuredContent).toMatchObject({ stdout: "still\n" });
  });
  test("a caller who gives up while the connect is under way gets an answer at once", async () => {
    const hung = hungListener();
    try {
      const abort = new AbortController();
      const l = link(backend(`http://127.0.0.1:${hung.port}/mcp`, "x"));
      const pending = failureOf(l.callTool("shell", { command: "true" }, opts({ timeoutMs: 20_000, signal: abort.signal })));
      abort.abort();
      expect((await pending)?.message).toBe("the call was cancelled");
    } finally {
      hung.stop();
    }
  });
});
