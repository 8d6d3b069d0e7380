// Both protocol eras, over HTTP and stdio, through real SDK clients against a
// real lmcp: a v2 client pinned to 2026-07-28, a v2 client that negotiates
// (discover first), a v2 client speaking 2025, and the v1 SDK's own client.
// Tool behaviour must be identical in every cell: schemas, results, errors,
// progress, cancellation and scopes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as V1StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport as V1StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type StartedServer, lmcpCommand, startServer, waitFor } from "../helpers/server.ts";

const MODERN = "2026-07-28";

interface CallOptions {
  signal?: AbortSignal;
  onprogress?: (p: { progress: number; message?: string }) => void;
}
interface ToolResult {
  content?: unknown[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}
/** What every cell's client can do, whichever SDK it comes from. */
interface Session {
  version: string | undefined;
  listTools(): Promise<{ name: string; inputSchema: unknown; outputSchema?: unknown }[]>;
  call(name: string, args: Record<string, unknown>, opts?: CallOptions): Promise<ToolResult>;
  readResource(uri: string): Promise<{ contents: { uri: string; text?: string; blob?: string }[] }>;
  close(): Promise<void>;
}

type Era = { pin: string } | "auto" | "legacy";

let dir: string;
let server: StartedServer;
const FULL = "eras-full-token";
const READER = "eras-reader-token";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-eras-"));
  writeFileSync(join(dir, "hello.txt"), "hello, both eras\n");
  // The stdio servers' own config file: a secret their tools and resources must not read.
  mkdirSync(join(dir, "config", "lmcp"), { recursive: true });
  writeFileSync(join(dir, "config", "lmcp", "lmcp.toml"), "# eras test\n");
  server = await startServer({ tokenFileText: `${FULL} name=ops\n${READER} read-only name=reader\n` });
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const stdioEnv = () => ({ PATH: process.env.PATH ?? "", HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_STATE_HOME: join(dir, "state") });

function v2Session(client: Client): Session {
  return {
    version: client.getNegotiatedProtocolVersion(),
    listTools: async () => (await client.listTools()).tools,
    call: async (name, args, opts = {}) =>
      (await client.callTool({ name, arguments: args }, { ...opts, timeout: 20_000, resetTimeoutOnProgress: true })) as ToolResult,
    readResource: async (uri) => (await client.readResource({ uri })) as { contents: { uri: string; text?: string }[] },
    close: () => client.close(),
  };
}

function v1Session(client: V1Client): Session {
  return {
    version: undefined,
    listTools: async () => (await client.listTools()).tools,
    call: async (name, args, opts = {}) => (await client.callTool({ name, arguments: args }, undefined, { ...opts, timeout: 20_000 })) as ToolResult,
    readResource: async (uri) => (await client.readResource({ uri })) as { contents: { uri: string; text?: string }[] },
    close: () => client.close(),
  };
}

async function v2(transport: "http" | "stdio", era: Era, token = FULL): Promise<Session> {
  const client = new Client({ name: "eras-v2", version: "0" }, { versionNegotiation: { mode: era } });
  if (transport === "http") {
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  } else {
    const [command, ...args] = lmcpCommand();
    await client.connect(new StdioClientTransport({ command: command!, args: [...args, "serve", "--stdio"], env: stdioEnv(), stderr: "pipe" }));
  }
  return v2Session(client);
}

async function v1(transport: "http" | "stdio", token = FULL): Promise<Session> {
  const client = new V1Client({ name: "eras-v1", version: "0" });
  if (transport === "http") {
    await client.connect(new V1StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  } else {
    const [command, ...args] = lmcpCommand();
    await client.connect(new V1StdioClientTransport({ command: command!, args: [...args, "serve", "--stdio"], env: stdioEnv(), stderr: "pipe" }));
  }
  return v1Session(client);
}

interface Cell {
  name: string;
  transport: "http" | "stdio";
  /** The revision the cell must end up speaking (undefined: the v1 client does not say). */
  expect: string | undefined;
  open(token?: string): Promise<Session>;
}

const cells: Cell[] = (["http", "stdio"] as const).flatMap((transport) => [
  { name: `${transport}, v2 client pinned to ${MODERN}`, transport, expect: MODERN, open: (t?: string) => v2(transport, { pin: MODERN }, t) },
  { name: `${transport}, v2 client negotiating (discover, then legacy)`, transport, expect: MODERN, open: (t?: string) => v2(transport, "auto", t) },
  { name: `${transport}, v2 client speaking 2025`, transport, expect: "2025-11-25", open: (t?: string) => v2(transport, "legacy", t) },
  { name: `${transport}, v1 SDK client (2025)`, transport, expect: undefined, open: (t?: string) => v1(transport, t) },
]);

/** The error a rejected call carries: its JSON-RPC code and message. */
async function rejection(p: Promise<unknown>): Promise<{ code: number | string; message: string; status?: number }> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: number | string; message?: string; data?: { status?: number } } | undefined;
  if (!err) throw new Error("the call succeeded; it should have been refused");
  return { code: err.code ?? 0, message: err.message ?? "", status: err.data?.status };
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let reference: { name: string; inputSchema: unknown; outputSchema?: unknown }[] = [];

for (const cell of cells) {
  describe(cell.name, () => {
    let s: Session;
    beforeAll(async () => {
      s = await cell.open();
      if (reference.length === 0) reference = await s.listTools();
    });
    afterAll(async () => {
      await s?.close();
    });

    test("speaks the revision it should", () => {
      if (cell.expect) expect(s.version).toBe(cell.expect);
    });

    test("lists the same tools with the same schemas", async () => {
      const tools = await s.listTools();
      expect(tools.map((t) => t.name)).toEqual(reference.map((t) => t.name));
      for (const [i, t] of tools.entries()) {
        expect(t.inputSchema).toEqual(reference[i]!.inputSchema);
        expect(t.outputSchema).toEqual(reference[i]!.outputSchema);
      }
    });

    test("a tool call returns the same structured result", async () => {
      const r = await s.call("read_file", { path: join(dir, "hello.txt") });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent?.content).toBe("hello, both eras\n");
      expect(r.structuredContent?.total_lines).toBe(1);
    });

    test("bad arguments and an unknown tool are -32602 with a message that says what to fix", async () => {
      const bad = await rejection(s.call("read_file", { path: 42 }));
      expect(bad.code).toBe(-32602);
      expect(bad.message).toContain("Invalid arguments for tool read_file");
      const unknown = await rejection(s.call("no_such_tool", {}));
      expect(unknown.code).toBe(-32602);
      expect(unknown.message).toContain("Available tools:");
    });

    test("a tool failure is a result with isError, not a protocol error", async () => {
      const r = await s.call("read_file", { path: join(dir, "absent.txt") });
      expect(r.isError).toBe(true);
      expect(JSON.stringify(r.content)).toContain("no such file");
    });

    test("a cut output and a job log come as resource_link content that resources/read returns whole", async () => {
      const r = await s.call("shell", { command: "seq 1 20000" });
      const links = (r.content ?? []) as { type: string; uri?: string; name?: string }[];
      const link = links.find((c) => c.type === "resource_link");
      expect(link?.uri).toBe(`file://${r.structuredContent?.full_output_path}`);
      const whole = await s.readResource(link!.uri!);
      expect(whole.contents[0]?.text?.split("\n").length).toBe(20001);
      const job = await s.call("shell_bg", { command: "echo from-the-job" });
      const logLink = ((job.content ?? []) as { type: string; uri?: string }[]).find((c) => c.type === "resource_link");
      expect(logLink?.uri).toBe(`file://${job.structuredContent?.log_path}`);
      await waitFor("the job's output in its log", async () => ((await s.readResource(logLink!.uri!)).contents[0]?.text?.includes("from-the-job") ? true : undefined));
    });

    test("resources/read refuses what read_file refuses, and says when a URI names nothing", async () => {
      const absent = await rejection(s.readResource(`file://${join(dir, "absent.txt")}`));
      expect(absent.code).toBe(-32602);
      expect(absent.message).toContain("Resource not found");
      const secret = await rejection(s.readResource(`file://${cell.transport === "http" ? server.tokenFile : join(dir, "config", "lmcp", "lmcp.toml")}`));
      expect(secret.code).toBe(-32602);
      expect(secret.message).toContain("Cannot read");
      const foreign = await rejection(s.readResource("https://example.com/x"));
      expect(foreign.message).toContain("file:///");
    });

    test("cancelling a call kills its command", async () => {
      const pidFile = join(dir, `cancel-${cells.indexOf(cell)}.pid`);
      const abort = new AbortController();
      const pending = s.call("shell", { command: `sleep 300 & echo $! > ${pidFile}; wait` }, { signal: abort.signal }).catch((e: Error) => e);
      const pid = await waitFor("the command's pid", () => {
        try {
          const n = Number(readFileSync(pidFile, "utf8").trim());
          return n > 0 ? n : undefined;
        } catch {
          return undefined;
        }
      });
      abort.abort("the test cancels");
      expect(await pending).toBeInstanceOf(Error);
      await waitFor("the cancelled command to die", () => !pidAlive(pid) || undefined, 10_000);
    });

    if (cell.transport === "http") {
      test("a read-only token sees no shell and is refused it", async () => {
        const reader = await cell.open(READER);
        try {
          const names = (await reader.listTools()).map((t) => t.name);
          expect(names).toContain("read_file");
          expect(names).not.toContain("shell");
          // 2026-07-28 clients name the tool in Mcp-Name, so the refusal comes before the body is read: HTTP 403
          // (no request id is known yet); 2025 clients get the JSON-RPC error. Both say why.
          const refused = await rejection(reader.call("shell", { command: "echo no" }));
          if (cell.expect === MODERN) expect(refused.status).toBe(403);
          else expect(refused.code).toBe(-32602);
          expect(refused.message).toContain("read-only");
        } finally {
          await reader.close();
        }
      });
    }
  });
}

describe("progress in every cell", () => {
  test("a 6 s shell call sends progress to every client, in both eras and on both transports", async () => {
    const sessions = await Promise.all(cells.map((c) => c.open()));
    try {
      const seen = await Promise.all(
        sessions.map(async (s) => {
          const progress: string[] = [];
          const r = await s.call("shell", { command: "sleep 6; echo done" }, { onprogress: (p) => void progress.push(p.message ?? "") });
          expect(r.structuredContent?.stdout).toBe("done\n");
          return progress;
        }),
      );
      for (const [i, p] of seen.entries()) {
        expect({ cell: cells[i]!.name, got: p.length > 0 }).toEqual({ cell: cells[i]!.name, got: true });
        expect(p[0]).toMatch(/^running \d+s/);
      }
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  }, 30_000);
});

describe("the 2026-07-28 wire, raw", () => {
  const envelope = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  const post = (headers: Record<string, string>, body: unknown) =>
    fetch(server.url, {
      method: "POST",
      headers: { authorization: `Bearer ${FULL}`, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": MODERN, ...headers },
      body: JSON.stringify(body),
    });

  test("a result carries resultType and the server's identity; server/discover lists 2026-07-28", async () => {
    const call = await post({ "mcp-method": "tools/call", "mcp-name": "read_file" }, {
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "read_file", arguments: { path: join(dir, "hello.txt") }, _meta: envelope },
    });
    expect(call.status).toBe(200);
    const body = (await call.json()) as { id: number; result: { resultType: string; _meta: Record<string, { name: string }> } };
    expect(body.id).toBe(7);
    expect(body.result.resultType).toBe("complete");
    expect(body.result._meta["io.modelcontextprotocol/serverInfo"]?.name).toBeString();
    const discover = await post({ "mcp-method": "server/discover" }, { jsonrpc: "2.0", id: 8, method: "server/discover", params: { _meta: envelope } });
    const d = (await discover.json()) as { result: { supportedVersions: string[]; capabilities: { tools?: unknown } } };
    expect(d.result.supportedVersions).toEqual([MODERN]);
    expect(d.result.capabilities.tools).toBeDefined();
  });

  test("Mcp-Name with surrounding whitespace is accepted; a different name is -32020 with HTTP 400", async () => {
    const body = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "read_file", arguments: { path: join(dir, "hello.txt") }, _meta: envelope } };
    const spaced = await post({ "mcp-method": "tools/call", "mcp-name": "  read_file \t" }, body);
    expect(spaced.status).toBe(200);
    expect(((await spaced.json()) as { result?: unknown }).result).toBeDefined();
    const wrong = await post({ "mcp-method": "tools/call", "mcp-name": "list_dir" }, body);
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { code: number } }).error.code).toBe(-32020);
    const missing = await post({ "mcp-method": "tools/call" }, body);
    expect(missing.status).toBe(400);
  });

  test("methods 2026-07-28 removed answer 404 with -32601; an unknown revision is -32022 naming the supported one", async () => {
    const ping = await post({ "mcp-method": "ping" }, { jsonrpc: "2.0", id: 10, method: "ping", params: { _meta: envelope } });
    expect(ping.status).toBe(404);
    expect(((await ping.json()) as { error: { code: number } }).error.code).toBe(-32601);
    const future = { ...envelope, "io.modelcontextprotocol/protocolVersion": "2099-01-01" };
    const odd = await post({ "mcp-method": "tools/list", "mcp-protocol-version": "2099-01-01" }, { jsonrpc: "2.0", id: 11, method: "tools/list", params: { _meta: future } });
    expect(odd.status).toBe(400);
    const e = (await odd.json()) as { id: number; error: { code: number; data: { supported: string[] } } };
    expect(e.error.code).toBe(-32022);
    expect(e.error.data.supported).toEqual([MODERN]);
    expect(e.id).toBe(11);
  });
});
