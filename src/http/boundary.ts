// The HTTP boundary shared by serve and hub: exact path, methods, /healthz,
// DNS-rebinding checks, Bearer auth on headers alone, body cap, depth cap.
// Each check is a small function over a Web-standard Request; the first that
// answers ends the request before any later check (or any body byte) runs.
import { type BearerAuth, type Caller, anonymous } from "./auth.ts";
import { jsonTooDeep } from "./json_depth.ts";
import type { RequestLog } from "./log.ts";

export const MAX_JSON_DEPTH = 64;

export interface BoundaryOptions {
  /** null when auth was turned off with --no-auth. */
  auth: BearerAuth | null;
  allowedOrigins: ReadonlySet<string>;
  /** Host header check; null when no check applies (not on loopback, no allowed_hosts). */
  hostAllowed: ((host: string) => boolean) | null;
  maxBodyBytes: number;
}

/** A request that passed every check: its body text and the caller's identity (token index, -1 without auth). */
export interface Admitted {
  body: string;
  identity: number;
  /** What the token may do and how logs name it. */
  caller: Caller;
  corsOrigin: string | null;
}

export const text = (status: number, body: string, headers: Record<string, string> = {}) =>
  new Response(`${body}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });

export const jsonRpcError = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/** The path of an absolute request URL, query included, without allocating a URL object. */
function pathOf(url: string): string {
  if (url.startsWith("/")) return url; // Bun gives a bare path when Host is missing or unusable (HTTP/1.0 health checks)
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}

/** Names the Host header may carry on a loopback listener, besides allowed_hosts and the bound address. */
const loopbackNames = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Builds the Host check: loopback listeners accept loopback names only (plus allowed_hosts). */
export function hostCheck(listenHost: string, allowedHosts: string[]): ((host: string) => boolean) | null {
  const onLoopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i.test(listenHost);
  if (!onLoopback && allowedHosts.length === 0) return null;
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  if (onLoopback) {
    for (const n of loopbackNames) allowed.add(n);
    allowed.add(listenHost.includes(":") ? `[${listenHost.toLowerCase()}]` : listenHost.toLowerCase());
  }
  return (host) => {
    const h = host.toLowerCase();
    const name = h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.replace(/:\d*$/, "");
    return allowed.has(name);
  };
}

/** Routes by exact path and method; returns a Response for everything but `POST /mcp`. */
export function route(req: Request, log: RequestLog): Response | undefined {
  const path = pathOf(req.url);
  if (path === "/healthz") {
    log.method = "healthz";
    if (req.method === "GET" || req.method === "HEAD") return text(200, "ok");
    return text(405, "method not allowed: /healthz answers GET", { allow: "GET, HEAD" });
  }
  if (path !== "/mcp") {
    log.outcome = "not_found";
    return text(404, "not found: the MCP endpoint is POST /mcp, the health check GET /healthz");
  }
  if (req.method === "POST" || req.method === "OPTIONS") return undefined;
  log.outcome = "method_not_allowed";
  return text(405, "method not allowed: this server is stateless Streamable HTTP; send JSON-RPC with POST /mcp", { allow: "POST" });
}

/** Origin and Host checks against DNS rebinding; a browser Origin is refused unless allowed. */
export function checkRebinding(req: Request, opts: BoundaryOptions, log: RequestLog): Response | undefined {
  const origin = req.headers.get("origin");
  if (origin !== null && !opts.allowedOrigins.has(origin.toLowerCase())) {
    log.outcome = "forbidden_origin";
    return text(403, `forbidden: Origin ${JSON.stringify(origin)} is not allowed; add it with --allow-origin or allowed_origins`);
  }
  if (opts.hostAllowed) {
    const host = req.headers.get("host");
    if (host === null || !opts.hostAllowed(host)) {
      log.outcome = "forbidden_host";
      return text(403, `forbidden: Host ${JSON.stringify(host ?? "")} is not allowed here; add it with --allow-host or allowed_hosts`);
    }
  }
  return undefined;
}

/** CORS for allowed origins only: the preflight, and the headers a browser client needs on replies. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id",
    "access-control-expose-headers": "mcp-protocol-version, www-authenticate",
    "access-control-max-age": "600",
    vary: "origin",
  };
}

/** Bearer check on the headers alone: a refused request is answered before its body is read. */
export function checkAuth(req: Request, opts: BoundaryOptions, log: RequestLog): number | Response {
  if (!opts.auth) return -1;
  const identity = opts.auth.check(req.headers.get("authorization"));
  if (identity >= 0) return identity;
  log.outcome = "unauthorized";
  const presented = req.headers.has("authorization");
  return text(401, "unauthorized: send Authorization: Bearer TOKEN (`lmcp client-config` prints a working client set-up)", {
    "www-authenticate": presented ? 'Bearer realm="lmcp", error="invalid_token"' : 'Bearer realm="lmcp"',
    connection: "close",
  });
}

/** Reads the body up to the cap: Content-Length is checked first, then a streaming count covers chunked bodies. */
export async function readCapped(req: Request, max: number, log: RequestLog): Promise<string | Response> {
  const tooLarge = () => {
    log.outcome = "too_large";
    return text(413, `request body too large: the limit is ${max} bytes (max_body_bytes)`, { connection: "close" });
  };
  const length = req.headers.get("content-length");
  if (length !== null) {
    if (!/^\d+$/.test(length)) {
      log.outcome = "bad_request";
      return text(400, "bad request: Content-Length is not a number", { connection: "close" });
    }
    if (Number(length) > max) return tooLarge();
    return await req.text();
  }
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** Every check, in order, for a `POST /mcp`; returns the admitted body or the response that refuses it. */
export async function admit(req: Request, opts: BoundaryOptions, log: RequestLog): Promise<Admitted | Response> {
  const refused = checkRebinding(req, opts, log);
  if (refused) return refused;
  const origin = req.headers.get("origin");
  const corsOrigin = origin === null ? null : origin;
  if (req.method === "OPTIONS") {
    log.outcome = "preflight";
    return new Response(null, { status: 204, headers: corsOrigin ? corsHeaders(corsOrigin) : {} });
  }
  const identity = checkAuth(req, opts, log);
  if (identity instanceof Response) return identity;
  const type = req.headers.get("content-type");
  if (type === null || !/^application\/json\b/i.test(type)) {
    log.outcome = "unsupported_media_type";
    return text(415, "unsupported media type: send Content-Type: application/json", { connection: "close" });
  }
  const body = await readCapped(req, opts.maxBodyBytes, log);
  if (body instanceof Response) return body;
  if (jsonTooDeep(body, MAX_JSON_DEPTH)) {
    log.outcome = "too_deep";
    return jsonRpcError(400, -32700, `Parse error: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return { body, identity, caller: opts.auth ? opts.auth.caller(identity) : anonymous, corsOrigin };
}
