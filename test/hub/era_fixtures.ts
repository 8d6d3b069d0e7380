// A small MCP backend on 127.0.0.1 port 0 for probe and link tests, switchable
// between the two eras: "legacy" answers initialize and ping and 404s
// server/discover (a 2025-only server), "modern" answers server/discover and
// 404s ping and initialize (2026-07-28 only), "down" answers 503. It records
// every request it saw, with the headers and `_meta` that matter.

export type FixtureMode = "legacy" | "modern" | "down";

export interface SeenRequest {
  method: string;
  mcpMethod: string | null;
  mcpName: string | null;
  protocolVersion: string | null;
  meta: Record<string, unknown> | undefined;
}

export interface EraBackend {
  url: string;
  token: string;
  mode: FixtureMode;
  seen: SeenRequest[];
  /** The methods seen, in order. */
  methods(): string[];
  stop(): void;
}

const rpcResult = (id: unknown, result: unknown) => Response.json({ jsonrpc: "2.0", id, result });
const notFound = (id: unknown) => Response.json({ jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } }, { status: 404 });

export function eraBackend(mode: FixtureMode, opts: { token?: string; sse?: boolean } = {}): EraBackend {
  const token = opts.token ?? `fixture-${crypto.randomUUID()}`;
  const seen: SeenRequest[] = [];
  const reply = (id: unknown, result: unknown): Response => {
    if (!opts.sse) return rpcResult(id, result);
    const body = `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id, result })}\n\n`;
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
  const state: EraBackend = {
    url: "",
    token,
    mode,
    seen,
    methods: () => seen.map((s) => s.method),
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.method !== "POST") return new Response(null, { status: 405 });
      if (req.headers.get("authorization") !== `Bearer ${token}`) return new Response("unauthorized", { status: 401 });
      const m = (await req.json()) as { id?: unknown; method: string; params?: { name?: string; _meta?: Record<string, unknown> } };
      seen.push({
        method: m.method,
        mcpMethod: req.headers.get("mcp-method"),
        mcpName: req.headers.get("mcp-name"),
        protocolVersion: req.headers.get("mcp-protocol-version"),
        meta: m.params?._meta,
      });
      if (state.mode === "down") return new Response("unavailable", { status: 503 });
      if (m.id === undefined) return new Response(null, { status: 202 });
      const text = (t: string) => ({ content: [{ type: "text", text: t }], structuredContent: { era: state.mode, name: m.params?.name } });
      if (state.mode === "legacy") {
        if (m.method === "initialize") {
          return reply(m.id, { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "legacy-fixture", version: "0" } });
        }
        if (m.method === "ping") return reply(m.id, {});
        if (m.method === "tools/call") return reply(m.id, text("legacy-ok"));
        return notFound(m.id);
      }
      if (m.method === "server/discover") {
        return reply(m.id, {
          resultType: "complete",
          supportedVersions: ["2026-07-28"],
          capabilities: { tools: {} },
          _meta: { "io.modelcontextprotocol/serverInfo": { name: "modern-fixture", version: "0" } },
        });
      }
      if (m.method === "tools/call") return reply(m.id, { resultType: "complete", ...text("modern-ok") });
      return notFound(m.id);
    },
  });
  state.url = `http://127.0.0.1:${server.port}/mcp`;
  return state;
}
