// Builds the one long-lived MCP Server for a list of tool definitions: lists
// them with JSON schemas, validates arguments with zod (-32602 on failure, as
// SPEC §3 asks) and turns each handler's outcome into a CallToolResult.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { type AuditSink, auditEntry } from "../audit/audit_log.ts";
import { logEvent } from "../http/log.ts";
import type { FilePolicy } from "../policy/rules.ts";
import type { ToolContext, ToolDef, ToolOutcome } from "../tools/tool.ts";
import { unusedJsonSchemaValidator } from "./no_json_schema_validator.ts";

/**
 * tools/call is registered with loose params: the SDK parses a request with the registered schema before its own
 * tools/call check, and a failure there answers -32603 with a bare zod dump; its check answers -32602 (SPEC §3).
 */
const LooseCallToolRequestSchema = CallToolRequestSchema.extend({ params: z.looseObject({}).optional() });

export interface McpServerOptions {
  name: string;
  title: string;
  version: string;
  instructions: string;
  tools: ToolDef[];
  /** What every call's context shares (limits, state dir); signal and progress are per call. */
  context: Omit<ToolContext, "signal" | "progress">;
  /** What the file tools may touch (allowed_paths, secrets, protected files); the tools enforce it on the fd they use. None on the hub (its backends decide). */
  policy?: FilePolicy;
  /** Where calls that change something or run a command are recorded. */
  audit?: AuditSink;
}

/** A W3C trace context from a request's `_meta` (MCP carries it as `_meta.traceparent`), when well formed. */
function traceparentOf(meta: unknown): string | undefined {
  const t = meta && typeof meta === "object" ? (meta as { traceparent?: unknown }).traceparent : undefined;
  return typeof t === "string" && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(t) ? t : undefined;
}

/** Tools a read-only token may see and call. */
const isReadOnly = (def: ToolDef) => def.annotations.readOnlyHint === true;

/**
 * What the HTTP boundary needs to refuse a read-only token's write or exec call from its Mcp-Name header
 * (before the body is read), and to audit that refusal like every other.
 */
export function headerToolChecks(tools: ToolDef[], audit: AuditSink | undefined) {
  const scopes = new Map(tools.map((t) => [t.name, isReadOnly(t) ? ("read-only" as const) : ("full" as const)]));
  return {
    toolScope: (name: string) => scopes.get(name),
    onDenied: (caller: { id: string }, client: string, tool: string, reason: string) => {
      try {
        audit?.write(auditEntry(tool, {}, { ok: false, error: reason, denied: true }, { client, token: caller.id }, 0));
      } catch (err) {
        logEvent(`error: cannot write the audit log: ${(err as Error).message}`);
      }
    },
  };
}

/**
 * Rewrites `type: ["string", "null"]` (how zod writes a nullable string) as `anyOf` of single types, the form
 * strict clients accept (MCP Inspector's --strict flags type arrays as not portable). Recursive, in place.
 */
export function portableSchema<T>(schema: T): T {
  if (Array.isArray(schema)) {
    for (const item of schema) portableSchema(item);
  } else if (schema && typeof schema === "object") {
    const node = schema as Record<string, unknown>;
    for (const value of Object.values(node)) portableSchema(value);
    if (Array.isArray(node.type)) {
      const types = node.type as string[];
      delete node.type;
      node.anyOf = types.map((type) => ({ type }));
    }
  }
  return schema;
}

/** The tools/list entry for a definition; JSON Schema draft-07, as the SDK emits for its own tools. */
export function describeTool(def: ToolDef): Tool {
  return {
    name: def.name,
    title: def.title,
    description: def.description,
    inputSchema: portableSchema(z.toJSONSchema(def.input, { target: "draft-7", io: "input" })) as Tool["inputSchema"],
    outputSchema: portableSchema(z.toJSONSchema(def.output, { target: "draft-7", io: "output" })) as Tool["outputSchema"],
    annotations: { title: def.title, ...def.annotations },
  };
}

export function toCallToolResult(outcome: ToolOutcome<unknown>): CallToolResult {
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
  const policy = opts.policy;
  // Built at the first tools/list, not at start: JSON Schema generation is most of start-up's work.
  let listing: { full: { tools: Tool[] }; readOnly: { tools: Tool[] } } | undefined;
  const listFor = (readOnly: boolean) => {
    if (!listing) {
      const full = opts.tools.map(describeTool);
      listing = { full: { tools: full }, readOnly: { tools: full.filter((_, i) => isReadOnly(opts.tools[i]!)) } };
    }
    return readOnly ? listing.readOnly : listing.full;
  };

  server.setRequestHandler(ListToolsRequestSchema, (_request, extra) => listFor(extra.authInfo?.scopes.includes("read-only") === true));

  server.setRequestHandler(LooseCallToolRequestSchema, async (loose, extra): Promise<CallToolResult> => {
    const request = loose as unknown as CallToolRequest; // checked against CallToolRequestSchema by the SDK before this runs
    const { name, arguments: args } = request.params;
    const def = byName.get(name);
    if (!def) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}. Available tools: ${[...byName.keys()].join(", ")}`);
    }
    const started = performance.now();
    const record = (args: Record<string, unknown>, outcome: ToolOutcome<unknown>) => {
      // Calls that change something or run a command, and every refusal (reads included).
      const denied = !outcome.ok && outcome.denied === true;
      if (!opts.audit || (isReadOnly(def) && !denied)) return;
      const who = { client: String(extra.authInfo?.extra?.client ?? "stdio"), token: extra.authInfo?.clientId ?? "stdio" };
      const result = outcome.ok ? { ok: true as const, data: outcome.data as Record<string, unknown> } : { ok: false as const, error: outcome.error, denied };
      try {
        opts.audit.write(auditEntry(name, args, result, who, performance.now() - started, { cancelled: extra.signal.aborted, traceparent: traceparentOf(request.params._meta) }));
      } catch (err) {
        logEvent(`error: cannot write the audit log: ${(err as Error).message}`);
      }
    };
    const readOnlyCaller = extra.authInfo?.scopes.includes("read-only") ?? false;
    if (readOnlyCaller && !isReadOnly(def)) {
      const message = `Tool ${name} is not available to this token: it is read-only (no shell, no writes). Ask the operator for a full token.`;
      record(args && typeof args === "object" ? (args as Record<string, unknown>) : {}, { ok: false, error: message, denied: true });
      throw new McpError(ErrorCode.InvalidParams, message);
    }
    const parsed = def.input.safeParse(args ?? {});
    if (!parsed.success) {
      throw new McpError(ErrorCode.InvalidParams, `Invalid arguments for tool ${name}: ${z.prettifyError(parsed.error)}`);
    }
    const progressToken = request.params._meta?.progressToken;
    const ctx: ToolContext = {
      ...opts.context,
      ...(policy ? { policy } : {}),
      progressWanted: progressToken !== undefined,
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
    let outcome: ToolOutcome<unknown>;
    try {
      outcome = await def.run(parsed.data, ctx);
    } catch (err) {
      // A throw is a bug in lmcp, not the caller's fault: answer, log it, keep serving.
      logEvent(`error: tool ${name} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      outcome = { ok: false, error: `internal error in ${name}: ${err instanceof Error ? err.message : String(err)} (a bug in lmcp; please report it)` };
    }
    record(parsed.data as Record<string, unknown>, outcome);
    return toCallToolResult(outcome);
  });
  return server;
}
