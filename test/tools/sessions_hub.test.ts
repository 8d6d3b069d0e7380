// remote_session_* through a real hub: the hub derives them from the serve
// tools, and a session on a backend is driven host-routed, with no SSH fallback.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, resultText, startServer } from "../helpers/server.ts";

let dir: string;
let backend: StartedServer;
let hub: StartedServer;
let client: Client;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-sessions-hub-"));
  backend = await startServer({ args: ["--name", "box"] });
  hub = await startHub([{ name: "box", url: backend.url, token: backend.token }], { registryDir: dir });
  client = await connect(hub);
});
afterAll(async () => {
  await client?.close();
  await Promise.all([hub?.stop(), backend?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const data = <T,>(r: CallToolResult) => {
  expect(r.isError, resultText(r)).toBeFalsy();
  return r.structuredContent as T;
};

test("the hub offers remote_session_*, which need lmcp on the host", async () => {
  const { tools } = await client.listTools();
  for (const n of ["start", "send", "read", "list", "close"]) {
    const t = tools.find((x) => x.name === `remote_session_${n}`);
    expect(t, n).toBeDefined();
    expect(t!.description).toContain("no SSH fallback");
    expect(t!.inputSchema.required).toContain("host");
  }
});

test("a python session on a backend, driven through the hub", async () => {
  const { session_id: id } = data<{ session_id: string }>(await callTool(client, "remote_session_start", { host: "box", command: "python3 -q -i" }));
  try {
    const first = data<{ output: string; via: string; host: string }>(await callTool(client, "remote_session_read", { host: "box", session_id: id, wait_for: ">>> " }));
    expect(first).toMatchObject({ output: ">>> ", via: "lmcp", host: "box" });
    data(await callTool(client, "remote_session_send", { host: "box", session_id: id, input: "print(6 * 7)\n" }));
    const answer = data<{ output: string }>(await callTool(client, "remote_session_read", { host: "box", session_id: id, wait_for: "42\n" }));
    expect(answer.output).toContain("42\n");
    const list = data<{ sessions: { session_id: string }[] }>(await callTool(client, "remote_session_list", { host: "box" }));
    expect(list.sessions.map((s) => s.session_id)).toEqual([id]);
  } finally {
    const closed = data<{ session_id: string }>(await callTool(client, "remote_session_close", { host: "box", session_id: id }));
    expect(closed.session_id).toBe(id);
  }
  const gone = await callTool(client, "remote_session_read", { host: "box", session_id: id });
  expect(gone.isError).toBe(true);
  expect(resultText(gone)).toContain("was closed with session_close");
});
