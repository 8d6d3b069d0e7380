// Bun.serve + ONE long-lived v2 Server per era. The era decision and the 2026-07-28 validation ladder come from the
// SDK's public classifyInboundRequest; the SEP-2243 header presence checks (not exported) are re-done here.
import {
  classifyInboundRequest, isJsonContentType, hostHeaderValidationResponse, originValidationResponse, localhostAllowedHostnames, localhostAllowedOrigins, isJSONRPCRequest, isJSONRPCNotification,
  type JSONRPCMessage, type JSONRPCRequest, type MessageExtraInfo, type AuthInfo,
  PROTOCOL_VERSION_META_KEY,
} from "@modelcontextprotocol/server";
import { CallTransport } from "./call_transport.ts";
import { createServer, MODERN } from "./mcp.ts";

const modernT = new CallTransport();
const legacyT = new CallTransport();
await createServer("modern", () => undefined).connect(modernT);
await createServer("legacy", () => undefined).connect(legacyT);

const enc = new TextEncoder();
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const rpcError = (status: number, id: unknown, code: number, message: string, data?: unknown) =>
  json(status, { jsonrpc: "2.0", id: id ?? null, error: { code, message, ...(data !== undefined && { data }) } });

/** SEP-2243 standard headers on a modern request: MCP-Protocol-Version and Mcp-Method present, Mcp-Name agrees with the body. */
function headerProblem(req: Request, msg: JSONRPCRequest): string | undefined {
  if (req.headers.get("mcp-protocol-version") === null) return "the required MCP-Protocol-Version header is absent";
  if (req.headers.get("mcp-method") === null) return `the body names method ${msg.method} but the required Mcp-Method header is absent`;
  const p = msg.params as { name?: unknown; uri?: unknown } | undefined;
  const bodyName = msg.method === "tools/call" || msg.method === "prompts/get" ? p?.name : msg.method.startsWith("resources/") ? p?.uri : undefined;
  if (typeof bodyName !== "string") return undefined;
  const header = req.headers.get("mcp-name");
  if (header === null) return `the body carries ${bodyName} but the required Mcp-Name header is absent`;
  if (header.trim() !== bodyName && !header.trim().startsWith("=?base64?")) return `the Mcp-Name header names "${header}" but the body names "${bodyName}"`;
  return undefined;
}

function wantsStream(accept: string, r: JSONRPCRequest) {
  const token = (r.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken;
  return accept.includes("text/event-stream") && token !== undefined;
}

function answer(t: CallTransport, req: Request, msg: JSONRPCRequest, extra: MessageExtraInfo): Promise<Response> | Response {
  if (wantsStream(req.headers.get("accept") ?? "", msg)) {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        t.request(msg, extra, (n) => { try { c.enqueue(enc.encode(`event: message\ndata: ${JSON.stringify(n)}\n\n`)); } catch {} }, req.signal).then((reply) => {
          try { c.enqueue(enc.encode(`event: message\ndata: ${JSON.stringify(reply)}\n\n`)); c.close(); } catch {}
        });
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }
  // Modern era: a pre-handler (ladder) error gets its HTTP status (-32601 -> 404, others 400); handler errors stay 200.
  let ladder = false;
  return t.request(msg, extra, undefined, req.signal, () => (ladder = extra.classification !== undefined)).then((reply) => {
    const status = ladder && "error" in reply ? (reply.error.code === -32601 ? 404 : 400) : 200;
    return new Response(JSON.stringify(reply), { status, headers: { "content-type": "application/json" } });
  });
}

export async function handle(req: Request): Promise<Response> {
  const rebind = hostHeaderValidationResponse(req, localhostAllowedHostnames()) ?? originValidationResponse(req, localhostAllowedOrigins());
  if (rebind) return rebind;
  if (req.method !== "POST") return rpcError(405, null, -32000, "Method not allowed.");
  if (!process.env.NOAUTH && req.headers.get("authorization") !== "Bearer spike") return rpcError(401, null, -32001, "Unauthorized");
  if (!isJsonContentType(req.headers.get("content-type"))) return rpcError(415, null, -32000, "Unsupported Media Type: Content-Type must be application/json");
  let body: unknown;
  try { body = JSON.parse(await req.text()); } catch (e) { return rpcError(400, null, -32700, `Parse error: ${(e as Error).message}`); }
  const authInfo: AuthInfo = { token: "", clientId: "spike", scopes: ["full"] };
  const outcome = classifyInboundRequest({
    httpMethod: "POST",
    protocolVersionHeader: req.headers.get("mcp-protocol-version") ?? undefined,
    mcpMethodHeader: req.headers.get("mcp-method") ?? undefined,
    mcpNameHeader: req.headers.get("mcp-name") ?? undefined,
    body,
  });
  switch (outcome.kind) {
    case "reject":
      return rpcError(outcome.httpStatus, (body as { id?: unknown })?.id, outcome.code, outcome.message, outcome.data);
    case "modern": {
      const rev = outcome.classification.revision;
      if (rev !== MODERN) return rpcError(400, (outcome.message as { id?: unknown }).id, -32022, `Unsupported protocol version: ${rev}`, { supported: [MODERN], requested: rev ?? "unknown" });
      if (outcome.messageKind === "notification") { modernT.onmessage?.(outcome.message, { classification: outcome.classification, authInfo }); return new Response(null, { status: 202 }); }
      const problem = headerProblem(req, outcome.message);
      if (problem) return rpcError(400, outcome.message.id, -32020, `Bad Request: ${problem}`);
      return answer(modernT, req, outcome.message, { classification: outcome.classification, authInfo, request: req });
    }
    case "legacy": {
      const items: JSONRPCMessage[] = Array.isArray(body) ? body : [body as JSONRPCMessage];
      const requests = items.filter((m): m is JSONRPCRequest => isJSONRPCRequest(m));
      for (const m of items) if (isJSONRPCNotification(m)) legacyT.onmessage?.(m, { authInfo });
      if (requests.length === 0) return new Response(null, { status: 202 });
      if (!Array.isArray(body)) return answer(legacyT, req, requests[0]!, { authInfo, request: req });
      const replies = await Promise.all(requests.map((r) => legacyT.request(r, { authInfo })));
      return json(200, replies);
    }
  }
}

const port = Number(process.env.PORT ?? 8931);
Bun.serve({ port, hostname: "127.0.0.1", fetch: handle });
console.log(`spike (long-lived) on http://127.0.0.1:${port}/mcp`);
void PROTOCOL_VERSION_META_KEY;
