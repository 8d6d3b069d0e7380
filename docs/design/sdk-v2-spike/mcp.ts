// ONE long-lived v2 Server per protocol era, sharing one tool registry. No per-request construction.
import {
  Server, ProtocolError, ProtocolErrorCode, SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolResult, type Tool, type jsonSchemaValidator, type ServerContext,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import { tools, type ToolCtx } from "./tools.ts";

export const MODERN = "2026-07-28";

/** Never called: lmcp sends no elicitation. Keeps the SDK from building its default (Ajv on Node/Bun) validator. */
export const unusedJsonSchemaValidator: jsonSchemaValidator = {
  getValidator() { return () => ({ valid: false, data: undefined, errorMessage: "no JSON Schema validation here" }); },
};

/**
 * Era is instance state in v2 (Protocol._negotiatedProtocolVersion, `protected` in the .d.mts).
 * The public serving entries bind it per instance (createMcpHandler via the internal setNegotiatedProtocolVersion,
 * a PerRequestHTTPServerTransport at connect()). A long-lived modern instance binds itself once here.
 */
class ModernServer extends Server {
  constructor(...args: ConstructorParameters<typeof Server>) {
    super(...args);
    this._negotiatedProtocolVersion = MODERN;
  }
}

export type Era = "modern" | "legacy";
/** Per-call abort, owned by the transport (keyed by the internal request id it assigned). */
export type AbortLookup = (internalId: unknown) => AbortSignal | undefined;

export function createServer(era: Era, abortOf: AbortLookup): Server {
  const info = { name: "v2spike", title: "v2 spike", version: "0.0.1" };
  const opts = {
    capabilities: { tools: { listChanged: false } },
    instructions: "spike",
    jsonSchemaValidator: unusedJsonSchemaValidator,
    // 2026-07-28 must be listed or the constructor installs no server/discover handler.
    supportedProtocolVersions: era === "modern" ? [MODERN, ...SUPPORTED_PROTOCOL_VERSIONS] : [...SUPPORTED_PROTOCOL_VERSIONS],
  };
  const server = era === "modern" ? new ModernServer(info, opts) : new Server(info, opts);
  const byName = new Map(tools.map((t) => [t.name, t]));
  let listing: { tools: Tool[] } | undefined;
  const full = () => (listing ??= {
    tools: tools.map((t) => ({
      name: t.name, description: t.description,
      inputSchema: z.toJSONSchema(t.input, { target: "draft-7", io: "input" }) as Tool["inputSchema"],
      annotations: { readOnlyHint: t.readOnly },
    })),
  });

  server.setRequestHandler("tools/list", () => full());
  server.setRequestHandler("tools/call", async (request, ctx: ServerContext): Promise<CallToolResult> => {
    const { name, arguments: args } = request.params;
    const def = byName.get(name);
    if (!def) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
    const scopes = ctx.http?.authInfo?.scopes ?? [];
    if (scopes.includes("read-only") && !def.readOnly) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Tool ${name} is not available to this token`);
    const parsed = def.input.safeParse(args ?? {});
    if (!parsed.success) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid arguments for tool ${name}: ${z.prettifyError(parsed.error)}`);
    const progressToken = ctx.mcpReq._meta?.progressToken;
    const signal = abortOf(ctx.mcpReq.id) ?? ctx.mcpReq.signal;
    const tctx: ToolCtx = {
      signal,
      progressWanted: progressToken !== undefined,
      progress: progressToken === undefined ? async () => {} : async (message, progress, total) => {
        await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken, progress, total, message } }).catch(() => {});
      },
    };
    const out = await def.run(parsed.data, tctx);
    return out.ok ? { content: [{ type: "text", text: out.text }], structuredContent: out.data } : { content: [{ type: "text", text: out.error }], isError: true };
  });
  return server;
}
