// Builds the one long-lived MCP Server for a list of tool definitions: lists
// them with JSON schemas, validates arguments with zod (-32602 on failure, as
// SPEC §3 asks) and turns each handler's outcome into a CallToolResult.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { logEvent } from "../http/log.ts";
import type { ToolContext, ToolDef } from "../tools/tool.ts";
import { unusedJsonSchemaValidator } from "./no_json_schema_validator.ts";

export interface McpServerOptions {
  name: string;
  title: string;
  version: string;
  instructions: string;
  tools: ToolDef[];
  /** What every call's context shares (limits, state dir); signal and progress are per call. */
  context: Omit<ToolContext, "signal" | "progress">;
}

/** The tools/list entry for a definition; JSON Schema draft-07, as the SDK emits for its own tools. */
export function describeTool(def: ToolDef): Tool {
  return {
    name: def.name,
    title: def.title,
    description: def.description,
    inputSchema: z.toJSONSchema(def.input, { target: "draft-7", io: "input" }) as Tool["inputSchema"],
    outputSchema: z.toJSONSchema(def.output, { target: "draft-7", io: "output" }) as Tool["outputSchema"],
    annotations: { title: def.title, ...def.annotations },
  };
}

export function toCallToolResult(outcome: Awaited<ReturnType<ToolDef["run"]>>): CallToolResult {
  if (outcome.ok) {
    return { content: [{ type: "text", text: outcome.text }], structuredContent: outcome.data as Record<string, unknown> };
  }
  return { content: [{ type: "text", text: outcome.error }], isError: true };
}

export function createMcpServer(opts: McpServerOptions): Server {
  const server = new Server(
    { name: opts.name, title: opts.title, version: opts.version },
    { capabilities: { tools: { listChanged: false } }, instructions: opts.instructions, jsonSchemaValidator: unusedJsonSchemaValidator },
  );
  const byName = new Map(opts.tools.map((t) => [t.name, t]));
  const listing = { tools: opts.tools.map(describeTool) };

  server.setRequestHandler(ListToolsRequestSchema, () => listing);

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args } = request.params;
    const def = byName.get(name);
    if (!def) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}. Available tools: ${[...byName.keys()].join(", ")}`);
    }
    const parsed = def.input.safeParse(args ?? {});
    if (!parsed.success) {
      throw new McpError(ErrorCode.InvalidParams, `Invalid arguments for tool ${name}: ${z.prettifyError(parsed.error)}`);
    }
    const progressToken = request.params._meta?.progressToken;
    const ctx: ToolContext = {
      ...opts.context,
      signal: extra.signal,
      progress:
        progressToken === undefined
          ? async () => {}
          : async (message, progress, total) => {
              await extra
                .sendNotification({ method: "notifications/progress", params: { progressToken, progress, total, message } })
                .catch(() => {});
            },
    };
    try {
      return toCallToolResult(await def.run(parsed.data, ctx));
    } catch (err) {
      // A throw is a bug in lmcp, not the caller's fault: answer, log it, keep serving.
      logEvent(`error: tool ${name} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return toCallToolResult({ ok: false, error: `internal error in ${name}: ${err instanceof Error ? err.message : String(err)} (a bug in lmcp; please report it)` });
    }
  });
  return server;
}
