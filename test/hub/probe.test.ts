// The hub's health probe over real HTTP: server/discover for a 2026-07-28
// backend, ping for a 2025-only one, the era remembered per backend and asked
// again after the backend was down (or after a while), 401 as auth_failed, one
// deadline for the whole probe; and against a real `lmcp serve`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { defaultPolicy } from "../../src/hub/backoff.ts";
import { HealthTable, REDISCOVER_MS, probeBackend } from "../../src/hub/health.ts";
import type { Backend } from "../../src/hub/registry.ts";
import { hungListener } from "../helpers/fixtures.ts";
import { type StartedServer, startServer } from "../helpers/server.ts";
import { type EraBackend, eraBackend } from "./era_fixtures.ts";

const backend = (name: string, url: string, token: string): Backend => ({
  name,
  url,
  token,
  ssh: undefined,
  ssh_port: undefined,
  ssh_options: [],
  tags: [],
  tokenFile: undefined,
  allowedPaths: undefined,
});
const of = (f: EraBackend, name = "b") => backend(name, f.url, f.token);

const fixtures: EraBackend[] = [];
const fixture = (...a: Parameters<typeof eraBackend>) => {
  const f = eraBackend(...a);
  fixtures.push(f);
  return f;
};
afterAll(() => {
  for (const f of fixtures) f.stop();
});

describe("one probe", () => {
  test("a 2026-07-28 backend answers server/discover with the envelope and headers the SDK sends; no ping", async () => {
    const f = fixture("modern");
    const r = await probeBackend(of(f), 2000);
    expect(r).toMatchObject({ kind: "up", era: "modern" });
    expect(f.methods()).toEqual(["server/discover"]);
    expect(f.seen[0]).toMatchObject({ mcpMethod: "server/discover", protocolVersion: "2026-07-28" });
    expect(f.seen[0]?.meta).toMatchObject({
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "lmcp-hub" },
      "io.modelcontextprotocol/clientCapabilities": {},
    });
  });
  test("an SSE answer to server/discover counts too", async () => {
    expect(await probeBackend(of(fixture("modern", { sse: true })), 2000)).toMatchObject({ kind: "up", era: "modern" });
  });
  test("a 2025-only backend 404s server/discover and is probed with ping in the same probe", async () => {
    const f = fixture("legacy");
    expect(await probeBackend(of(f), 2000)).toMatchObject({ kind: "up", era: "legacy" });
    expect(f.methods()).toEqual(["server/discover", "ping"]);
    expect(f.seen[1]?.protocolVersion).toBeNull();
  });
  test("told the backend is legacy, the probe goes straight to ping", async () => {
    const f = fixture("legacy");
    expect(await probeBackend(of(f), 2000, "legacy")).toMatchObject({ kind: "up", era: "legacy" });
    expect(f.methods()).toEqual(["ping"]);
  });
  test("a refused token is auth_failed in either era", async () => {
    for (const mode of ["modern", "legacy"] as const) {
      const f = fixture(mode);
      expect((await probeBackend(backend("b", f.url, "wrong"), 2000)).kind).toBe("auth_failed");
    }
  });
  test("a 503 is down, and not retried with ping", async () => {
    const f = fixture("down");
    const r = await probeBackend(of(f), 2000);
    expect(r).toEqual({ kind: "down", error: `HTTP 503 from ${f.url}` });
    expect(f.methods()).toEqual(["server/discover"]);
  });
  test("a backend that never answers is down after the one deadline, with no second request", async () => {
    const hung = hungListener();
    try {
      const r = await probeBackend(backend("hung", `http://127.0.0.1:${hung.port}/mcp`, "x"), 500);
      expect(r).toEqual({ kind: "down", error: "no answer within 0.5 s" });
      expect(hung.connections()).toBe(1);
    } finally {
      hung.stop();
    }
  });
});

describe("the era remembered per backend", () => {
  test("a legacy backend is probed with ping only from the second probe on; a modern one with discover only", async () => {
    const legacy = fixture("legacy");
    const modern = fixture("modern");
    const table = new HealthTable(defaultPolicy, 2000);
    for (let i = 0; i < 3; i++) await table.refresh([of(legacy, "old"), of(modern, "new")], true);
    expect(legacy.methods()).toEqual(["server/discover", "ping", "ping", "ping"]);
    expect(modern.methods()).toEqual(["server/discover", "server/discover", "server/discover"]);
    expect(table.era("old")).toBe("legacy");
    expect(table.era("new")).toBe("modern");
    expect(table.get("old").state).toBe("up");
  });
  test("a backend that was down is asked server/discover again when it comes back (upgraded)", async () => {
    const f = fixture("legacy");
    const table = new HealthTable(defaultPolicy, 2000);
    await table.probe(of(f));
    expect(table.era("b")).toBe("legacy");
    f.mode = "down";
    expect((await table.probe(of(f))).state).toBe("down");
    f.mode = "modern";
    expect((await table.probe(of(f))).state).toBe("up");
    expect(table.era("b")).toBe("modern");
    expect(f.methods()).toEqual(["server/discover", "ping", "ping", "server/discover"]);
  });
  test("a legacy verdict is re-checked with server/discover once it is old", async () => {
    let now = Date.now();
    const f = fixture("legacy");
    const table = new HealthTable(defaultPolicy, 2000, () => now);
    await table.probe(of(f));
    f.mode = "modern";
    // Still trusted: ping, which the now-modern backend 404s, so the probe finds out at once.
    expect((await table.probe(of(f))).state).toBe("down");
    f.mode = "legacy";
    await table.probe(of(f));
    await table.probe(of(f));
    const before = f.methods().length;
    now += REDISCOVER_MS + 1;
    f.mode = "modern";
    expect((await table.probe(of(f))).state).toBe("up");
    expect(table.era("b")).toBe("modern");
    expect(f.methods().slice(before)).toEqual(["server/discover"]);
  });
});

describe("against a real lmcp serve", () => {
  let server: StartedServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  test("it is up, in the era a v2 client in auto mode negotiates with it", async () => {
    const r = await probeBackend(backend("real", server.url, server.token), 3000);
    expect(r.kind).toBe("up");
    const client = new Client({ name: "probe-test", version: "0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: `Bearer ${server.token}` } } }));
    try {
      expect(r.kind === "up" ? r.era : undefined).toBe(client.getProtocolEra());
    } finally {
      await client.close();
    }
  });
  test("a wrong token is auth_failed, and a second probe of the table reuses the era", async () => {
    expect((await probeBackend(backend("real", server.url, "not-the-token"), 3000)).kind).toBe("auth_failed");
    const table = new HealthTable(defaultPolicy, 3000);
    expect((await table.probe(backend("real", server.url, server.token))).state).toBe("up");
    expect((await table.probe(backend("real", server.url, server.token))).state).toBe("up");
    expect(["modern", "legacy"]).toContain(table.era("real") ?? "none");
  });
});
