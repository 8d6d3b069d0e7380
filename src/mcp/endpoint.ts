// POST /mcp after the boundary admitted it: classify the request by protocol
// era with the SDK's own classifier, hand 2026-07-28 requests to the modern
// Server and 2025 ones (initialize-based or claim-less, batches included) to
// the legacy Server, and answer as JSON or, when the client wants progress,
// as an SSE stream that carries the notifications. Every reply is capped in
// bytes (batches included) before it is sent.
import {
  type AuthInfo,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type MessageExtraInfo,
  PROTOCOL_VERSION_META_KEY,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Server,
  classifyInboundRequest,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
} from "@modelcontextprotocol/server";
import { type Admitted, jsonRpcError } from "../http/boundary.ts";
import type { McpHttpHandler } from "../http/listen.ts";
import type { RequestLog } from "../http/log.ts";
import { MAX_REPLY_BYTES, ReplyBudget } from "../http/reply_cap.ts";
import { CallTransport } from "./call_transport.ts";
import { type EdgeRejection, modernReplyStatus, revisionProblem, standardHeaderProblem } from "./modern_headers.ts";
import { type Era, MODERN_REVISION } from "./server.ts";

const MAX_BATCH = 100;
const encoder = new TextEncoder();

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What the log line says about a reply (and, for the hub, which way it went). */
function outcomeOf(reply: JSONRPCMessage, log: RequestLog): string {
  if ("error" in reply) return `rpc_error_${reply.error.code}`;
  const result = (reply as { result?: { isError?: boolean; structuredContent?: { via?: unknown } } }).result;
  const via = result?.structuredContent?.via;
  if (typeof via === "string") log.via = via;
  return result?.isError ? "tool_error" : "ok";
}

/** The client asked for a stream: it accepts SSE and either wants progress or does not accept JSON. */
function wantsStream(accept: string, request: JSONRPCRequest): boolean {
  if (!accept.includes("text/event-stream")) return false;
  const meta = (request.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta;
  return meta?.progressToken !== undefined || !/application\/json|\*\/\*/.test(accept);
}

/**
 * Whether the SDK will take `item` as a message: its schemas are strict (an unknown top-level key fails them),
 * and a message that fails them is dropped without a reply, so each one is checked here first and refused with
 * -32600 instead of left hanging. The request check runs first: it is nearly every message.
 */
function notJsonRpc(item: unknown): string | undefined {
  if (!item || typeof item !== "object" || Array.isArray(item)) return "each message must be a JSON object";
  if (isJSONRPCRequest(item) || isJSONRPCNotification(item) || isJSONRPCResultResponse(item) || isJSONRPCErrorResponse(item)) return undefined;
  const m = item as Record<string, unknown>;
  if (m.jsonrpc !== "2.0") return 'each message needs "jsonrpc": "2.0"';
  if ("method" in m && typeof m.method !== "string") return '"method" must be a string';
  if ("id" in m && typeof m.id !== "string" && typeof m.id !== "number") return '"id" must be a string or a number';
  if ("params" in m && (typeof m.params !== "object" || m.params === null || Array.isArray(m.params))) return '"params" must be an object';
  const known = new Set(["jsonrpc", "id", "method", "params", "result", "error"]);
  const extra = Object.keys(m).filter((k) => !known.has(k));
  if (extra.length > 0) return `unknown member ${JSON.stringify(extra[0]!.slice(0, 40))}: a message holds only jsonrpc, id, method and params (or result/error)`;
  return 'a message needs "method" (a request or notification) or "id" with "result" or "error" (a response)';
}

/**
 * Params of the methods lmcp serves, checked before the SDK sees them: its own check answers -32603 with a raw
 * schema dump for resources/read, and a dump for tools/call; this says what is missing in words (-32602).
 */
function paramsProblem(request: JSONRPCRequest): string | undefined {
  const p = request.params as Record<string, unknown> | undefined;
  if (request.method === "tools/call") {
    if (typeof p?.name !== "string") return 'tools/call needs params.name, the tool to call (tools/list names them), and params.arguments, an object';
    if (p.arguments !== undefined && (typeof p.arguments !== "object" || p.arguments === null || Array.isArray(p.arguments))) return "tools/call params.arguments must be an object";
  }
  if (request.method === "resources/read" && typeof p?.uri !== "string") return "resources/read needs params.uri, a file:///ABSOLUTE/PATH URI (as tool results link them)";
  return undefined;
}

const sseEvent = (text: string) => encoder.encode(`event: message\ndata: ${text}\n\n`);

/** Records what the log line says about the first request of a message. */
function describe(log: RequestLog, message: { method?: unknown; params?: unknown }): void {
  if (typeof message.method !== "string") return;
  log.method = message.method;
  const params = message.params as { name?: unknown; arguments?: { host?: unknown } } | undefined;
  if (message.method === "tools/call" && typeof params?.name === "string") log.tool = params.name;
  if (typeof params?.arguments?.host === "string") log.host = params.arguments.host;
}

/**
 * A plain 2025-era request, recognised without the SDK's classifier (which runs three full schema parses of the
 * body first): one JSON-RPC request object that claims no 2026 envelope, is not initialize, and comes with no
 * 2026 MCP-Protocol-Version header. The classifier routes exactly these to the legacy path ("no-claim"); anything
 * else (batches, notifications, initialize, any envelope claim, a modern header) still goes through it.
 */
function plainLegacyRequest(body: unknown, protocolVersionHeader: string | null): boolean {
  const m = requestOutline(body);
  if (!m) return false;
  if (protocolVersionHeader !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersionHeader.trim())) return false;
  if (m.params === undefined) return true;
  const meta = isObject(m.params) ? m.params._meta : null;
  return meta === undefined || (isObject(meta) && !(PROTOCOL_VERSION_META_KEY in meta));
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** What both fast paths first ask of a body: one JSON-RPC request object (not initialize) with a usable id. */
function requestOutline(body: unknown): { method: string; params?: unknown } | undefined {
  if (!isObject(body)) return undefined;
  if (body.jsonrpc !== "2.0" || typeof body.method !== "string" || body.method === "initialize") return undefined;
  if (typeof body.id !== "string" && typeof body.id !== "number") return undefined;
  return body as { method: string; params?: unknown };
}

/**
 * A plain 2026-07-28 request, taken to the modern Server without the SDK's classifier (three full schema parses
 * of the body, then the envelope's, all of which the Server repeats): one request object whose envelope claims
 * 2026-07-28 and whose MCP-Protocol-Version and Mcp-Method headers say the same. The envelope itself is still
 * checked, by the Server; an error it raises before any handler runs sends the request through the classifier
 * after all, so a malformed request gets the classifier's answer and HTTP status, as without this path.
 */
function plainModernRequest(body: unknown, headers: { protocolVersion: string | null; method: string | null }): body is JSONRPCRequest {
  const m = requestOutline(body);
  if (!m) return false;
  if (headers.protocolVersion?.trim() !== MODERN_REVISION || headers.method?.trim() !== m.method) return false;
  const meta = isObject(m.params) ? m.params._meta : undefined;
  return isObject(meta) && meta[PROTOCOL_VERSION_META_KEY] === MODERN_REVISION;
}

/** Connects each era's long-lived Server to its own transport; returns what the HTTP listener calls for POST /mcp. */
export async function createMcpHttpHandler(servers: Record<Era, Server>): Promise<McpHttpHandler> {
  const transports: Record<Era, CallTransport> = { modern: new CallTransport(), legacy: new CallTransport() };
  await servers.modern.connect(transports.modern);
  await servers.legacy.connect(transports.legacy);
  // A message the SDK drops (it reports it here, while the transport is still handing it over) is answered, not left hanging.
  for (const era of ["modern", "legacy"] as const) servers[era].onerror = (err) => transports[era].dropped(err);

  async function handle(admitted: Admitted, req: Request, log: RequestLog, headers: Record<string, string>): Promise<Response> {
    const accept = req.headers.get("accept") ?? "*/*";
    if (!/application\/json|text\/event-stream|\*\/\*|application\/\*/.test(accept)) {
      log.outcome = "not_acceptable";
      return jsonRpcError(406, -32000, "Not Acceptable: accept application/json or text/event-stream", headers);
    }

    let parsed: unknown;
    try {
      // Parsed once; the text is let go at once, so a long call does not keep it alive.
      const body = admitted.body;
      admitted.body = "";
      parsed = JSON.parse(body);
    } catch (err) {
      log.outcome = "parse_error";
      return jsonRpcError(400, -32700, `Parse error: ${(err as Error).message}`, headers);
    }

    // The SDK hands authInfo to handlers: the caller's id and scope, and the client address for the audit log; never the token.
    const authInfo: AuthInfo = { token: "", clientId: admitted.caller.id, scopes: [admitted.caller.scope], extra: { client: log.client } };
    const standard = {
      protocolVersion: req.headers.get("mcp-protocol-version"),
      method: req.headers.get("mcp-method"),
      name: req.headers.get("mcp-name"),
    };
    if (plainLegacyRequest(parsed, standard.protocolVersion)) return legacy(parsed, { authInfo, request: req });
    const classify = () =>
      classifyInboundRequest({
        httpMethod: "POST",
        protocolVersionHeader: standard.protocolVersion ?? undefined,
        mcpMethodHeader: standard.method ?? undefined,
        mcpNameHeader: standard.name ?? undefined,
        body: parsed,
      });
    if (plainModernRequest(parsed, standard) && !wantsStream(accept, parsed)) {
      log.era = MODERN_REVISION;
      describe(log, parsed);
      const headerRefused = standardHeaderProblem(standard, parsed, MODERN_REVISION);
      if (headerRefused) return refuse(headerRefused, parsed);
      const extra: MessageExtraInfo = { authInfo, classification: { era: "modern", revision: MODERN_REVISION }, request: req };
      return single(transports.modern, parsed, extra, true, classify);
    }
    const route = classify();

    if (route.kind === "reject") {
      describe(log, (parsed ?? {}) as { method?: unknown });
      return refuse(route, parsed);
    }
    if (route.kind === "modern") {
      log.era = MODERN_REVISION;
      describe(log, route.message);
      const revisionRefused = revisionProblem(route.classification.revision);
      if (revisionRefused) return refuse(revisionRefused, route.message);
      const extra: MessageExtraInfo = { authInfo, classification: route.classification, request: req };
      if (route.messageKind === "notification") {
        transports.modern.notify(route.message, admitted.identity, extra);
        log.outcome = "accepted";
        return new Response(null, { status: 202, headers });
      }
      const headerRefused = standardHeaderProblem(standard, route.message, route.classification.revision);
      if (headerRefused) return refuse(headerRefused, route.message);
      return single(transports.modern, route.message, extra, true);
    }
    return legacy(parsed, { authInfo, request: req });

    function refuse(rejection: EdgeRejection, message: unknown): Response {
      log.outcome = `rpc_error_${rejection.code}`;
      const id = (message as { id?: unknown } | null)?.id;
      const error = { code: rejection.code, message: rejection.message, ...(rejection.data !== undefined ? { data: rejection.data } : {}) };
      return new Response(JSON.stringify({ jsonrpc: "2.0", id: typeof id === "string" || typeof id === "number" ? id : null, error }), {
        status: rejection.httpStatus,
        headers: { "content-type": "application/json", ...headers },
      });
    }

    /** One request: JSON, or an SSE stream when the client wants progress. Modern ladder errors keep their HTTP status. */
    async function single(
      transport: CallTransport,
      request: JSONRPCRequest,
      extra: MessageExtraInfo,
      modern: boolean,
      classifyOnEarlyError?: () => ReturnType<typeof classifyInboundRequest>,
    ): Promise<Response> {
      const badParams = paramsProblem(request);
      if (badParams) {
        log.outcome = "rpc_error_-32602";
        return new Response(JSON.stringify({ jsonrpc: "2.0", id: request.id, error: { code: -32602, message: `Invalid params: ${badParams}` } }), {
          status: 200,
          headers: { "content-type": "application/json", ...headers },
        });
      }
      if (wantsStream(accept, request)) return stream(transport, request, extra);
      const { reply, early } = await transport.request(request, admitted.identity, extra, undefined, req.signal);
      if (early && classifyOnEarlyError) {
        // Taken past the classifier and refused before any handler ran: answer as the classifier would.
        const route = classifyOnEarlyError();
        if (route.kind === "reject") return refuse(route, request);
      }
      log.outcome = outcomeOf(reply, log);
      const status = modern ? modernReplyStatus("error" in reply ? reply.error.code : undefined, early) : 200;
      return new Response(new ReplyBudget(MAX_REPLY_BYTES).fit(reply, request.method === "tools/call", false), {
        status,
        headers: { "content-type": "application/json", ...headers },
      });
    }

    /** The 2025 path: initialize-based or claim-less requests, notifications and batches, as the SDK's stateless legacy mode serves them. */
    async function legacy(body: unknown, extra: MessageExtraInfo): Promise<Response> {
      const version = standard.protocolVersion;
      if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
        log.outcome = "bad_protocol_version";
        return jsonRpcError(
          400,
          -32000,
          `Bad Request: unsupported MCP-Protocol-Version ${version}; supported: ${[MODERN_REVISION, ...SUPPORTED_PROTOCOL_VERSIONS].join(", ")} (${MODERN_REVISION} requests carry the _meta envelope)`,
          headers,
        );
      }
      const batch = Array.isArray(body);
      const items: unknown[] = batch ? (body as unknown[]) : [body];
      if (items.length === 0 || items.length > MAX_BATCH) {
        log.outcome = "invalid_request";
        return jsonRpcError(400, -32600, `Invalid Request: a batch must hold 1 to ${MAX_BATCH} messages`, headers);
      }
      for (const item of items) {
        const problem = notJsonRpc(item);
        if (problem) {
          log.outcome = "invalid_request";
          return jsonRpcError(400, -32600, `Invalid Request: not a JSON-RPC 2.0 message: ${problem}`, headers);
        }
      }
      const messages = items as JSONRPCMessage[];
      const requests: JSONRPCRequest[] = [];
      for (const message of messages) {
        if ("method" in message && "id" in message) requests.push(message as JSONRPCRequest);
        else if ("method" in message) transports.legacy.notify(message as JSONRPCNotification, admitted.identity, extra);
        // Responses from the client answer nothing here: the server sends no requests.
      }
      describe(log, (requests[0] ?? messages[0]) as { method?: unknown });
      if (requests.length === 0) {
        log.outcome = "accepted";
        return new Response(null, { status: 202, headers });
      }
      if (!batch) return single(transports.legacy, requests[0]!, extra, false);

      const budget = new ReplyBudget(MAX_REPLY_BYTES);
      const outcomes: string[] = [];
      const parts: Promise<string>[] = [];
      for (const [i, request] of requests.entries()) {
        // A batch's calls start one event-loop turn apart, so /healthz and other clients are served between them
        // (a turn that only chains promises would run every call's synchronous work back to back).
        if (i > 0) await nextTurn();
        if (budget.spent) {
          outcomes[i] = "reply_cap";
          parts.push(Promise.resolve(budget.notRun(request.id)));
          continue;
        }
        const badParams = paramsProblem(request);
        if (badParams) {
          outcomes[i] = "rpc_error_-32602";
          parts.push(Promise.resolve(JSON.stringify({ jsonrpc: "2.0", id: request.id, error: { code: -32602, message: `Invalid params: ${badParams}` } })));
          continue;
        }
        const toolCall = request.method === "tools/call";
        parts.push(
          transports.legacy.request(request, admitted.identity, extra, undefined, req.signal).then(({ reply }) => {
            outcomes[i] = outcomeOf(reply, log);
            // Serialised as soon as it is in, so a batch never holds its results as objects all at once.
            return budget.fit(reply, toolCall, true);
          }),
        );
      }
      const texts = await Promise.all(parts);
      log.outcome = outcomes.join(",");
      return new Response(`[${texts.join(",")}]`, { status: 200, headers: { "content-type": "application/json", ...headers } });
    }

    function stream(transport: CallTransport, request: JSONRPCRequest, extra: MessageExtraInfo): Response {
      const abort = new AbortController();
      let settle: () => void = () => {};
      log.settled = new Promise<void>((r) => (settle = r));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          const onNotification = (n: JSONRPCNotification) => {
            try {
              controller.enqueue(sseEvent(JSON.stringify(n)));
            } catch {
              // the client went away; the reply below is dropped the same way
            }
          };
          // The client's disconnect is forwarded by hand: AbortSignal.any with a listener on it leaks in Bun
          // (about 2 KB a streamed call, never collected).
          const clientGone = () => abort.abort();
          req.signal.addEventListener("abort", clientGone, { once: true });
          transport.request(request, admitted.identity, extra, onNotification, abort.signal).then(({ reply }) => {
            req.signal.removeEventListener("abort", clientGone);
            log.outcome = outcomeOf(reply, log);
            const capped = new ReplyBudget(MAX_REPLY_BYTES).fit(reply, request.method === "tools/call", false);
            try {
              controller.enqueue(sseEvent(capped));
              controller.close();
            } catch {
              // already closed by a disconnect
            }
            settle();
          });
        },
        cancel() {
          abort.abort();
        },
      });
      return new Response(body, {
        status: 200,
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers },
      });
    }
  }

  return {
    handle,
    inFlight: () => transports.modern.size + transports.legacy.size,
    cancelAll: (reason) => {
      transports.modern.cancelAll(reason);
      transports.legacy.cancelAll(reason);
    },
  };
}
