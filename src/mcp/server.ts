// Builds lmcp's MCP Servers (SDK v2) from one list of tool definitions: lists
// them with JSON schemas, validates arguments with zod (-32602 on failure, as
// the spec asks) and turns each handler's outcome into a CallToolResult. The
// SDK binds a protocol era to each Server instance, so HTTP keeps two
// long-lived ones (2026-07-28 and 2025), registered from the same handlers.
import {
  CLIENT_CAPABILITIES_META_KEY,
  type CallToolResult,
  type ElicitRequestFormParams,
  type InputRequiredResult,
  ProtocolError,
  ProtocolErrorCode,
  SUPPORTED_PROTOCOL_VERSIONS,
  Server,
  type ServerContext,
  type Tool,
  inputRequired,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import { type AuditEntry, type AuditSink, auditEntry } from "../audit/audit_log.ts";
import { logEvent } from "../http/log.ts";
import type { FilePolicy } from "../policy/rules.ts";
import type { ToolContext, ToolDef, ToolOutcome } from "../tools/tool.ts";
import { type Metrics, noMetrics } from "../metrics/metrics.ts";
import type { CallTracer } from "../telemetry/otel.ts";
import { linksFor, readFileResource } from "./file_resources.ts";
import { unusedJsonSchemaValidator } from "./no_json_schema_validator.ts";

/** The MCP revision lmcp speaks natively; 2025 revisions are served on the legacy path. */
export const MODERN_REVISION = "2026-07-28";
export type Era = "modern" | "legacy";

/**
 * A Server bound to 2026-07-28 for its whole life. The SDK's own serving entries (createMcpHandler, serveStdio) bind
 * a fresh instance per request through an internal setter; `_negotiatedProtocolVersion` is the protected member
 * they set, so a long-lived instance sets it once here (the one seam outside the documented surface; the SDK is
 * pinned exactly and test/mcp/eras.test.ts proves the binding: resultType and server/discover on the modern path).
 */
class ModernServer extends Server {
  constructor(...args: ConstructorParameters<typeof Server>) {
    super(...args);
    this._negotiatedProtocolVersion = MODERN_REVISION;
  }
}

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
  /**
   * Link the files results name (spool files, job logs) as resource_link content and serve them with resources/read.
   * Serve only: on the hub those paths are on a backend.
   */
  fileResources?: boolean;
  /** Counts and times every call (src/metrics); none when metrics are off. */
  metrics?: Metrics;
  /** Told of each call the audit log does not record (reads that were not refused): the console's live feed. */
  onCall?: (entry: AuditEntry) => void;
  /** Why every tools/call is refused now (the console's emergency stop), or undefined while agents may call. */
  paused?: () => string | undefined;
  /**
   * Told, right after a call's entry went to the audit sink or onCall, that same entry object and the call's outcome:
   * the console's per-call view keeps the output's head and tail. Not told of calls refused before they ran.
   */
  onOutcome?: (entry: AuditEntry, outcome: ToolOutcome<unknown>) => void;
  /** One span per tools/call, exported over OTLP (src/telemetry/otel.ts); none when tracing is off. */
  tracer?: CallTracer;
}

/** A W3C trace context from a request's `_meta` (MCP carries it as `_meta.traceparent`), when well formed. */
function traceparentOf(meta: unknown): string | undefined {
  const t = meta && typeof meta === "object" ? (meta as { traceparent?: unknown }).traceparent : undefined;
  return typeof t === "string" && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(t) ? t : undefined;
}

/**
 * What the client declared it can be asked (2026-07-28 envelope). A bare `elicitation: {}` means form (the 2025
 * meaning, as the SDK reads it). 2025-era requests carry no envelope: over stateless HTTP lmcp cannot ask them.
 */
function elicitationOf(extra: ServerContext): { form: boolean; url: boolean } | undefined {
  const caps = (extra.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as { elicitation?: { form?: unknown; url?: unknown } } | undefined;
  const e = caps?.elicitation;
  if (!e || typeof e !== "object") return undefined;
  const url = e.url !== undefined;
  return { form: e.form !== undefined || !url, url };
}

/** Tools a read-only token may see and call. */
const isReadOnly = (def: ToolDef) => def.annotations.readOnlyHint === true;

/**
 * What the HTTP boundary needs to refuse a read-only token's write or exec call from its Mcp-Name header
 * (before the body is read), and to audit that refusal like every other.
 */
/**
 * Makes `opts` also hand every call's entry to `tap` (audited calls and the reads that go to onCall alike), after
 * whatever received it before: how serve publishes its calls to a NATS fleet's consoles.
 */
export function tapCalls(opts: McpServerOptions, tap: (entry: AuditEntry) => void): void {
  const inner = { audit: opts.audit, onCall: opts.onCall };
  const both = (e: AuditEntry) => {
    try {
      tap(e);
    } catch (err) {
      logEvent(`error: a call's entry could not be passed on: ${(err as Error).message}`);
    }
  };
  opts.audit = {
    write(e) {
      if (inner.audit) inner.audit.write(e);
      else inner.onCall?.(e);
      both(e);
    },
  };
  opts.onCall = (e) => {
    inner.onCall?.(e);
    both(e);
  };
}

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

export function toCallToolResult(outcome: ToolOutcome<unknown>, links = false): CallToolResult {
  if (outcome.ok) {
    return {
      content: [{ type: "text", text: outcome.text }, ...(links ? linksFor(outcome.data) : [])],
      structuredContent: outcome.data as Record<string, unknown>,
    };
  }
  return { content: [{ type: "text", text: outcome.error }], isError: true };
}

/** How a call ended, filled in as it runs: for the metrics and the call's span. */
interface Tally {
  outcome: string;
  exitCode?: number | null;
  /** The `host` argument (the hub's tools), when there was one. */
  host?: string;
}

/** The tools/list and tools/call handlers, built once and shared by every Server instance (both eras, stdio). */
type CallRequest = { params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> } };

export function toolHandlers(opts: McpServerOptions) {
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
  const readOnlyCaller = (ctx: ServerContext) => ctx.http?.authInfo?.scopes.includes("read-only") === true;

  const list = (_request: unknown, ctx: ServerContext) => listFor(readOnlyCaller(ctx));

  const metrics = opts.metrics ?? noMetrics;
  /** Every call counted (by outcome), timed and traced, whatever its path; the work itself is in `run`. */
  const call = async (request: CallRequest, extra: ServerContext): Promise<CallToolResult | InputRequiredResult> => {
    const started = performance.now();
    metrics.inFlight(1);
    const tally: Tally = { outcome: "invalid" };
    const known = byName.has(request.params.name);
    // A made-up name gets no span either: it is not a call, and must not name one.
    const span = known ? opts.tracer?.start(request.params.name, traceparentOf(request.params._meta ?? extra.mcpReq._meta)) : undefined;
    try {
      return await run(request, extra, tally, span?.traceparent);
    } finally {
      metrics.inFlight(-1);
      const seconds = (performance.now() - started) / 1000;
      // A name the client made up is not a label: a hostile client must not grow the series without bound.
      metrics.toolCall(known ? request.params.name : "(unknown)", tally.outcome, seconds);
      span?.end({ outcome: tally.outcome, exitCode: tally.exitCode, host: tally.host, token: extra.http?.authInfo?.clientId ?? "stdio", durationMs: seconds * 1000 });
    }
  };
  /**
   * One call, from scope check to result; `tally` says how it ended, for the metrics and the span. `passOn` is the
   * call's own span (as a traceparent): what the tool passes on (the hub to its backend), in place of the caller's.
   */
  const run = async (request: CallRequest, extra: ServerContext, tally: Tally, passOn: string | undefined): Promise<CallToolResult | InputRequiredResult> => {
    const { name, arguments: args } = request.params;
    const def = byName.get(name);
    if (!def) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}. Available tools: ${[...byName.keys()].join(", ")}`);
    }
    const started = performance.now();
    const meta = request.params._meta ?? extra.mcpReq._meta;
    const traceparent = traceparentOf(meta);
    const signal = extra.mcpReq.signal;
    if (args && typeof args === "object" && typeof args.host === "string") tally.host = args.host.slice(0, 256);
    const record = (args: Record<string, unknown>, outcome: ToolOutcome<unknown>) => {
      // Calls that change something or run a command, and every refusal (reads included); the other reads go to onCall only.
      const denied = !outcome.ok && outcome.denied === true;
      const sink = opts.audit && (!isReadOnly(def) || denied) ? opts.audit : undefined;
      const write = sink ? (e: AuditEntry) => sink.write(e) : opts.onCall;
      if (!write) return;
      const auth = extra.http?.authInfo;
      const who = { client: String(auth?.extra?.client ?? "stdio"), token: auth?.clientId ?? "stdio" };
      const result = outcome.ok ? { ok: true as const, data: outcome.data as Record<string, unknown> } : { ok: false as const, error: outcome.error, denied };
      const entry = auditEntry(name, args, result, who, performance.now() - started, { cancelled: signal.aborted, traceparent });
      try {
        write(entry);
      } catch (err) {
        logEvent(`error: cannot write the audit log: ${(err as Error).message}`);
      }
      opts.onOutcome?.(entry, outcome);
    };
    const paused = opts.paused?.();
    if (paused !== undefined) {
      // The operator's emergency stop: every call of every token, refused (and audited) before anything runs.
      record(args && typeof args === "object" ? args : {}, { ok: false, error: paused, denied: true });
      tally.outcome = "denied";
      return toCallToolResult({ ok: false, error: paused });
    }
    if (readOnlyCaller(extra) && !isReadOnly(def)) {
      const message = `Tool ${name} is not available to this token: it is read-only (no shell, no writes). Ask the operator for a full token.`;
      record(args && typeof args === "object" ? args : {}, { ok: false, error: message, denied: true });
      tally.outcome = "denied";
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, message);
    }
    const parsed = def.input.safeParse(args ?? {});
    if (!parsed.success) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Invalid arguments for tool ${name}: ${z.prettifyError(parsed.error)}`);
    }
    const progressToken = (meta as { progressToken?: string | number } | undefined)?.progressToken;
    const elicitation = elicitationOf(extra);
    const requestState = extra.mcpReq.requestState<unknown>();
    const ctx: ToolContext = {
      ...opts.context,
      ...(policy ? { policy } : {}),
      ...((passOn ?? traceparent) ? { traceparent: passOn ?? traceparent } : {}),
      ...(elicitation ? { elicitation } : {}),
      ...(extra.mcpReq.inputResponses ? { inputResponses: extra.mcpReq.inputResponses } : {}),
      ...(typeof requestState === "string" ? { requestState } : {}),
      progressWanted: progressToken !== undefined,
      signal,
      progress:
        progressToken === undefined
          ? async () => {}
          : async (message, progress, total) => {
              await extra.mcpReq
                .notify({ method: "notifications/progress", params: { progressToken, progress, total, message } })
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
    if (!outcome.ok && outcome.ask) {
      const questions = Object.entries(outcome.ask.questions);
      const answerable = questions.every(([, q]) => ("url" in q ? elicitation?.url : elicitation?.form) === true);
      if (!answerable) {
        // Never put a question to a client that cannot answer it (on the 2025 path the SDK would push a request
        // that stateless HTTP cannot carry): a tool that asks anyway gets its question back as an error.
        outcome = { ok: false, error: `${outcome.error}; this client cannot be asked (it declared no MCP elicitation of that kind)` };
      } else {
        // A question for the human: the client asks it and calls again with the answers (the retry is audited).
        const inputRequests = Object.fromEntries(
          questions.map(([key, q]) => [
            key,
            "url" in q
              ? inputRequired.elicitUrl({ message: q.message, url: q.url })
              : inputRequired.elicit({ mode: "form", message: q.message, requestedSchema: q.requestedSchema as ElicitRequestFormParams["requestedSchema"] }),
          ]),
        );
        tally.outcome = "asked";
        return inputRequired({ inputRequests, ...(outcome.ask.state ? { requestState: outcome.ask.state } : {}) });
      }
    }
    record(parsed.data as Record<string, unknown>, outcome);
    const exitCode = outcome.ok ? (outcome.data as { exit_code?: unknown } | undefined)?.exit_code : undefined;
    if (typeof exitCode === "number" || exitCode === null) tally.exitCode = exitCode;
    tally.outcome = signal.aborted ? "cancelled" : outcome.ok ? "ok" : outcome.denied ? "denied" : "error";
    return toCallToolResult(outcome, opts.fileResources === true);
  };
  const readResource = (request: { params: { uri: string } }, extra: ServerContext) =>
    readFileResource(request.params.uri, policy, (reason) => {
      // A refusal by policy is audited like read_file's.
      const auth = extra.http?.authInfo;
      try {
        opts.audit?.write(auditEntry("resources/read", { uri: request.params.uri }, { ok: false, error: reason, denied: true }, { client: String(auth?.extra?.client ?? "stdio"), token: auth?.clientId ?? "stdio" }, 0));
      } catch (err) {
        logEvent(`error: cannot write the audit log: ${(err as Error).message}`);
      }
    });
  return { list, call, readResource };
}

export type ToolHandlers = ReturnType<typeof toolHandlers>;

/** One Server for `era`, answering with `handlers` (share one set across instances: the listing is built once). */
export function createMcpServer(opts: McpServerOptions, era: Era, handlers: ToolHandlers = toolHandlers(opts)): Server {
  const info = { name: opts.name, title: opts.title, version: opts.version };
  const options = {
    capabilities: { tools: { listChanged: false }, ...(opts.fileResources ? { resources: {} } : {}) },
    instructions: opts.instructions,
    jsonSchemaValidator: unusedJsonSchemaValidator,
    // The SDK installs server/discover only on an instance whose list names a modern revision.
    supportedProtocolVersions: era === "modern" ? [MODERN_REVISION, ...SUPPORTED_PROTOCOL_VERSIONS] : [...SUPPORTED_PROTOCOL_VERSIONS],
  };
  const server = era === "modern" ? new ModernServer(info, options) : new Server(info, options);
  server.setRequestHandler("tools/list", handlers.list);
  server.setRequestHandler("tools/call", handlers.call);
  if (opts.fileResources) {
    // Nothing is listed: the files are the ones results link to, which come and go (spool files expire after 24 h).
    server.setRequestHandler("resources/list", () => ({ resources: [] }));
    server.setRequestHandler("resources/templates/list", () => ({ resourceTemplates: [] }));
    server.setRequestHandler("resources/read", handlers.readResource);
  }
  return server;
}

/** The two long-lived Servers HTTP answers with, one per era, from one set of handlers. */
export function createMcpServers(opts: McpServerOptions): Record<Era, Server> {
  const handlers = toolHandlers(opts);
  return { modern: createMcpServer(opts, "modern", handlers), legacy: createMcpServer(opts, "legacy", handlers) };
}
