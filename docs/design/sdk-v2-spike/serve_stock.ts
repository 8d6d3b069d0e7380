// The documented v2 way: createMcpHandler with a factory that builds an McpServer per request (both eras).
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { tools } from "./tools.ts";
import { unusedJsonSchemaValidator } from "./mcp.ts";

const factory = () => {
  const s = new McpServer({ name: "v2spike-stock", version: "0.0.1" }, { jsonSchemaValidator: unusedJsonSchemaValidator });
  for (const t of tools) {
    s.registerTool(t.name, { description: t.description, inputSchema: t.input as any, annotations: { readOnlyHint: t.readOnly } }, async (args: any, ctx: any) => {
      const token = ctx.mcpReq._meta?.progressToken;
      const out = await t.run(args, { signal: ctx.mcpReq.signal, progressWanted: token !== undefined, progress: async (message, progress, total) => { if (token !== undefined) await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress, total, message } }); } });
      return out.ok ? { content: [{ type: "text", text: out.text }], structuredContent: out.data } : { content: [{ type: "text", text: out.error }], isError: true };
    });
  }
  return s;
};
const handler = createMcpHandler(factory);
const port = Number(process.env.PORT ?? 8932);
Bun.serve({ port, hostname: "127.0.0.1", fetch: (req) => req.headers.get("authorization") === "Bearer spike" ? handler.fetch(req) : new Response("no", { status: 401 }) });
console.log(`stock createMcpHandler on http://127.0.0.1:${port}/mcp`);
