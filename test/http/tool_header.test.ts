// A read-only token's call of a write or exec tool is refused from the request's
// Mcp-Method/Mcp-Name headers (MCP 2026-07-28) before any body byte is read, and
// audited; other headers, unknown names and full tokens fall through to the body.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { header, rawExchange } from "../reliability/http_raw.ts";
import { type StartedServer, rpc, startServer, waitFor } from "../helpers/server.ts";

let server: StartedServer;
beforeAll(async () => {
  server = await startServer({ tokenFileText: "full-token-th1 name=ops\nreader-token-th2 read-only name=reader\n" });
});
afterAll(async () => {
  await server?.stop();
});

const headOnly = (token: string, name: string) =>
  Buffer.from(
    "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n" +
      `Authorization: Bearer ${token}\r\nMcp-Method: tools/call\r\nMcp-Name: ${name}\r\nContent-Length: 100000\r\n\r\n`,
  );

describe("the Mcp-Name check", () => {
  test("a read-only token's shell call is refused from the headers alone, with the body never sent", async () => {
    const port = Number(new URL(server.url).port);
    // Only the head goes out: a server that waited for the body would hang until the deadline.
    const { outcome, answeredFromHead } = await rawExchange(port, { parts: [headOnly("reader-token-th2", "shell"), Buffer.from("x".repeat(100000))], gapMs: 0, end: false, head: false, answerFromHeadMs: 3000 }, 5000);
    expect(answeredFromHead).toBe(true);
    expect(outcome.kind).toBe("response");
    if (outcome.kind !== "response") return;
    expect(outcome.response.status).toBe(403);
    expect(header(outcome.response, "content-type")).toContain("application/json");
    const body = JSON.parse(outcome.response.body.toString()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toContain("read-only");
  });
  test("the refusal is audited as denied under the token's name", async () => {
    const file = join(server.home, ".state", "lmcp", "audit.jsonl");
    const line = await waitFor("a denied shell line", () => {
      if (!existsSync(file)) return undefined;
      return readFileSync(file, "utf8")
        .split("\n")
        .find((l) => l.includes('"tool":"shell"') && l.includes('"denied"'));
    });
    expect(line).toContain('"token":"reader"');
    expect(line).not.toContain("reader-token-th2");
  });
  test("read-only tools, unknown names and full tokens are left to the body", async () => {
    const call = (token: string, name: string, body: unknown) => rpc({ url: server.url, token }, body, { "mcp-method": "tools/call", "mcp-name": name });
    const list = await call("reader-token-th2", "list_dir", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "list_dir", arguments: { path: server.home } } });
    expect(list.status).toBe(200);
    // A header that lies (names a read-only tool) does not help: the body's tool is checked too.
    const lying = await call("reader-token-th2", "read_file", { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "shell", arguments: { command: "id" } } });
    const lied = (await lying.json()) as { error?: { code: number } };
    expect(lied.error?.code).toBe(-32602);
    const full = await call("full-token-th1", "shell", { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "shell", arguments: { command: "echo ok" } } });
    expect(full.status).toBe(200);
  });
});
