// SPEC §3 from outside: raw HTTP and raw sockets against a real `lmcp serve`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as netConnect } from "node:net";
import { type StartedServer, rpc, startServer, waitFor } from "../helpers/server.ts";

let server: StartedServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

const callBody = (name: string, args: unknown, id: number | string = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name, arguments: args },
});

/** Sends raw bytes and resolves with everything the server answered before closing or `waitMs` of quiet. */
function rawExchange(port: number, head: string, opts: { body?: string; endWhen?: (s: string) => boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, "127.0.0.1");
    let got = "";
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(got);
    }, 5000);
    sock.on("data", (d) => {
      got += d.toString("latin1");
      if (opts.endWhen?.(got)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on("error", reject);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.write(head);
    if (opts.body) sock.write(opts.body);
  });
}
const portOf = (s: StartedServer) => Number(new URL(s.url).port);

describe("paths and methods", () => {
  test("GET /healthz answers 200 ok without auth", async () => {
    const res = await fetch(`${server.base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok\n");
  });
  test("GET and DELETE /mcp answer 405", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(server.url, { method, headers: { authorization: `Bearer ${server.token}` } });
      expect(res.status).toBe(405);
    }
  });
  test("the path matches exactly: /mcp/, /mcpx, /mcp?x and / are 404", async () => {
    for (const p of ["/mcp/", "/mcpx", "/mcp?x", "/", "/MCP"]) {
      const res = await fetch(`${server.base}${p}`, { method: "POST", headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" }, body: "{}" });
      expect(res.status, p).toBe(404);
    }
  });
});

describe("auth", () => {
  test("no token and a wrong token get 401 with WWW-Authenticate: Bearer", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${server.token}` }] as Record<string, string>[]) {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
    }
  });
  test("the 401 arrives before an unauthenticated body is sent", async () => {
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n`;
    const reply = await rawExchange(portOf(server), head, { endWhen: (s) => s.includes("\r\n\r\n") });
    expect(reply).toStartWith("HTTP/1.1 401");
    expect(reply.toLowerCase()).toContain("www-authenticate: bearer");
  });
  test("an oversized unauthenticated body is never read: 401, not 413", async () => {
    const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(20 * 1024 * 1024) });
    expect(res.status).toBe(401);
  });
});

describe("body limits and parsing", () => {
  test("an authenticated body over the cap by Content-Length gets 413 before it is sent", async () => {
    const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${server.token}\r\nContent-Type: application/json\r\nContent-Length: ${17 * 1024 * 1024}\r\n\r\n`;
    const reply = await rawExchange(portOf(server), head, { endWhen: (s) => s.includes("\r\n\r\n") });
    expect(reply).toStartWith("HTTP/1.1 413");
  });
  test("a chunked body over the cap gets 413 from the streaming count", async () => {
    const big = new ReadableStream<Uint8Array>({
      start(c) {
        const chunk = new Uint8Array(1024 * 1024).fill(32);
        for (let i = 0; i < 18; i++) c.enqueue(chunk);
        c.close();
      },
    });
    const res = await fetch(server.url, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: big,
      duplex: "half",
    });
    expect(res.status).toBe(413);
  });
  test("a small chunked body is accepted", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "ping" })));
        c.close();
      },
    });
    const res = await fetch(server.url, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json", accept: "application/json" },
      body,
      duplex: "half",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ jsonrpc: "2.0", id: 7, result: {} });
  });
  test("JSON nested 65 deep gets a parse error; 64 deep reaches the validator", async () => {
    const deep = (n: number) => `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${"[".repeat(n - 2)}${"]".repeat(n - 2)}}}`;
    const refused = await rpc(server, deep(65));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const accepted = await rpc(server, deep(64));
    expect(accepted.status).toBe(200);
  });
  test("malformed JSON gets -32700 and a non-JSON-RPC object gets -32600", async () => {
    const bad = await rpc(server, '{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const notRpc = await rpc(server, { hello: "world" });
    expect(notRpc.status).toBe(400);
    expect(((await notRpc.json()) as { error: { code: number } }).error.code).toBe(-32600);
  });
  test("a wrong Content-Type gets 415", async () => {
    const res = await rpc(server, "{}", { "content-type": "text/plain" });
    expect(res.status).toBe(415);
  });
});

describe("DNS rebinding", () => {
  test("a foreign Origin gets 403", async () => {
    const res = await rpc(server, { jsonrpc: "2.0", id: 1, method: "ping" }, { origin: "http://evil.example" });
    expect(res.status).toBe(403);
  });
  test("a foreign Host on a loopback listener gets 403; loopback names pass", async () => {
    const req = (host: string) => `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${server.token}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 40\r\n\r\n`;
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }).padEnd(40);
    const done = (s: string) => /\r\n\r\n[\s\S]*\}/.test(s) || s.startsWith("HTTP/1.1 403");
    expect(await rawExchange(portOf(server), req("evil.example:8765"), { body, endWhen: done })).toStartWith("HTTP/1.1 403");
    expect(await rawExchange(portOf(server), req("localhost:8765"), { body, endWhen: done })).toStartWith("HTTP/1.1 200");
    expect(await rawExchange(portOf(server), req("[::1]:1"), { body, endWhen: done })).toStartWith("HTTP/1.1 200");
  });
});

describe("JSON-RPC", () => {
  test("unknown notifications are accepted silently with 202", async () => {
    const res = await rpc(server, { jsonrpc: "2.0", method: "notifications/whatever" });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe("");
  });
  test("unknown methods get -32601", async () => {
    const res = await rpc(server, { jsonrpc: "2.0", id: 3, method: "no/such/method" });
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32601);
  });
  test("invalid tool arguments get -32602 with the zod message", async () => {
    const res = await rpc(server, callBody("read_file", { path: 5 }));
    const body = (await res.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toContain("path");
    expect(body.error.message).toMatch(/expected string/);
  });
  test("an unknown tool gets -32602 naming it", async () => {
    const res = await rpc(server, callBody("format_disk", {}));
    const body = (await res.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toContain("format_disk");
  });
  test("ids are the caller's own: string, number and repeated ids all come back unchanged", async () => {
    const replies = await Promise.all(
      ["a", 1, 1, "a", 0, -5].map(async (id) => ((await (await rpc(server, { jsonrpc: "2.0", id, method: "ping" })).json()) as { id: unknown }).id),
    );
    expect(replies).toEqual(["a", 1, 1, "a", 0, -5]);
  });
  test("an unsupported MCP-Protocol-Version header gets 400", async () => {
    const res = await rpc(server, { jsonrpc: "2.0", id: 1, method: "ping" }, { "mcp-protocol-version": "1999-01-01" });
    expect(res.status).toBe(400);
  });
});

describe("log", () => {
  test("one line per request, with method and tool, and never the token", async () => {
    await rpc(server, callBody("list_dir", { path: "/" }));
    const line = await waitFor("the log line", () => server.logs().split("\n").find((l) => l.includes("tool=list_dir")));
    expect(line).toContain("method=tools/call");
    expect(line).toContain("status=200");
    expect(line).toMatch(/client=127\.0\.0\.1:\d+/);
    expect(server.logs()).not.toContain(server.token);
  });
});
