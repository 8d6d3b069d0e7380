// POST /mcp after the boundary admitted it: parse and validate JSON-RPC with the
// SDK's schemas, hand requests to the shared server, and answer as JSON or, when
// the client wants progress, as an SSE stream that carries the notifications.
// Every reply is capped in bytes (batches included) before it is sent.
import {
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type MessageExtraInfo,
  SUPPORTED_PROTOCOL_VERSIONS,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { type Admitted, jsonRpcError } from "../http/boundary.ts";
import type { RequestLog } from "../http/log.ts";
import { MAX_REPLY_BYTES, ReplyBudget } from "../http/reply_cap.ts";
import type { CallTransport } from "./call_transport.ts";

const MAX_BATCH = 100;
const encoder = new TextEncoder();

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What the log line says about a reply (and, for the hub, which way it went). */
function outcomeOf(reply: JSONRPCMessage, log: RequestLog): string {
  if (isJSONRPCErrorResponse(reply)) return `rpc_error_${reply.error.code}`;
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

const sseEvent = (message: JSONRPCMessage) => encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`);

export function createEndpoint(transport: CallTransport) {
  return async function handleMcp(admitted: Admitted, req: Request, log: RequestLog, headers: Record<string, string>): Promise<Response> {
    const accept = req.headers.get("accept") ?? "*/*";
    if (!/application\/json|text\/event-stream|\*\/\*|application\/\*/.test(accept)) {
      log.outcome = "not_acceptable";
      return jsonRpcError(406, -32000, "Not Acceptable: accept application/json or text/event-stream", headers);
    }
    const version = req.headers.get("mcp-protocol-version");
    if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      log.outcome = "bad_protocol_version";
      return jsonRpcError(400, -32000, `Bad Request: unsupported MCP-Protocol-Version ${version}; supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}`, headers);
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
    const batch = Array.isArray(parsed);
    const items: unknown[] = batch ? (parsed as unknown[]) : [parsed];
    if (items.length === 0 || items.length > MAX_BATCH) {
      log.outcome = "invalid_request";
      return jsonRpcError(400, -32600, `Invalid Request: a batch must hold 1 to ${MAX_BATCH} messages`, headers);
    }
    const messages: JSONRPCMessage[] = [];
    for (const item of items) {
      const checked = JSONRPCMessageSchema.safeParse(item);
      if (!checked.success) {
        log.outcome = "invalid_request";
        return jsonRpcError(400, -32600, `Invalid Request: not a JSON-RPC 2.0 message: ${z.prettifyError(checked.error)}`, headers);
      }
      messages.push(checked.data);
    }

    // The SDK hands authInfo to handlers: the caller's id and scope, and the client address for the audit log; never the token.
    const extra: MessageExtraInfo = {
      authInfo: { token: "", clientId: admitted.caller.id, scopes: [admitted.caller.scope], extra: { client: log.client } },
    };
    const requests: JSONRPCRequest[] = [];
    for (const message of messages) {
      if (isJSONRPCRequest(message)) requests.push(message);
      else if (isJSONRPCNotification(message)) transport.notify(message, admitted.identity, extra);
      // Responses from the client answer nothing here: the server sends no requests.
    }
    const first = requests[0] ?? messages[0];
    if (first && "method" in first) {
      log.method = first.method;
      const params = first.params as { name?: unknown; arguments?: { host?: unknown } } | undefined;
      if (first.method === "tools/call" && typeof params?.name === "string") log.tool = params.name;
      if (typeof params?.arguments?.host === "string") log.host = params.arguments.host;
    }
    if (!first || requests.length === 0) {
      log.outcome = "accepted";
      return new Response(null, { status: 202, headers });
    }

    if (!batch && wantsStream(accept, first as JSONRPCRequest)) return stream(first as JSONRPCRequest);

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
      const toolCall = request.method === "tools/call";
      parts.push(
        transport.request(request, admitted.identity, extra, undefined, req.signal).then((reply) => {
          outcomes[i] = outcomeOf(reply, log);
          // Serialised as soon as it is in, so a batch never holds its results as objects all at once.
          return budget.fit(reply, toolCall, batch);
        }),
      );
    }
    const texts = await Promise.all(parts);
    log.outcome = outcomes.join(",");
    return new Response(batch ? `[${texts.join(",")}]` : texts[0], {
      status: 200,
      headers: { "content-type": "application/json", ...headers },
    });

    function stream(request: JSONRPCRequest): Response {
      const abort = new AbortController();
      let settle: () => void = () => {};
      log.settled = new Promise<void>((r) => (settle = r));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          const onNotification = (n: JSONRPCNotification) => {
            try {
              controller.enqueue(sseEvent(n));
            } catch {
              // the client went away; the reply below is dropped the same way
            }
          };
          // The client's disconnect is forwarded by hand: AbortSignal.any with a listener on it leaks in Bun
          // (about 2 KB a streamed call, never collected).
          const clientGone = () => abort.abort();
          req.signal.addEventListener("abort", clientGone, { once: true });
          transport.request(request, admitted.identity, extra, onNotification, abort.signal).then((reply) => {
            req.signal.removeEventListener("abort", clientGone);
            log.outcome = outcomeOf(reply, log);
            const capped = new ReplyBudget(MAX_REPLY_BYTES).fit(reply, request.method === "tools/call", false);
            try {
              controller.enqueue(encoder.encode(`event: message\ndata: ${capped}\n\n`));
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
  };
}
