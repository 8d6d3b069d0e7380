// The HTTP boundary shared by serve and hub: exact path, methods, /healthz,
// DNS-rebinding checks, Bearer auth on headers alone, body cap and large-body
// slots, JSON depth and size caps.
// Each check is a small function over a Web-standard Request; the first that
// answers ends the request before any later check (or any body byte) runs.
import type { TokenScope } from "../config/tokens.ts";
import { type BearerAuth, type Caller, anonymous } from "./auth.ts";
import { LOOPBACK_NAMES, canonicalHost, isLoopback, parseHostHeader } from "./host_names.ts";
import { type BodySlots, LARGE_BODY_BYTES, LARGE_BODY_SLOTS, LARGE_BODY_WAIT_MS, type Release } from "./body_slots.ts";
import { jsonShapeProblem } from "./json_depth.ts";
import type { RequestLog } from "./log.ts";
import { lmcpCommandName } from "../version.ts";

export const MAX_JSON_DEPTH = 64;
/** Far above any real call (a batch of 100 calls holds a few thousand values), far below what costs memory. */
export const MAX_JSON_VALUES = 100_000;

export interface BoundaryOptions {
  /** null when auth was turned off with --no-auth. */
  auth: BearerAuth | null;
  allowedOrigins: ReadonlySet<string>;
  /** Host header check; null when no check applies (not on loopback, no allowed_hosts). */
  hostCheck: HostCheck | null;
  maxBodyBytes: number;
  /** Slots for bodies over LARGE_BODY_BYTES. */
  largeBodies: BodySlots;
  /** A tool's scope by name (undefined: not a tool of this server), for the Mcp-Name check before the body is read. */
  toolScope?: ((name: string) => TokenScope | undefined) | undefined;
  /** Told of each call refused from its headers, so it is audited like any refusal. */
  onDenied?: ((caller: Caller, client: string, tool: string, reason: string) => void) | undefined;
}

/** A request that passed every check: its body text and the caller's identity (token index, -1 without auth). */
export interface Admitted {
  /** The body; the endpoint empties it once parsed, so a long call does not keep the text alive. */
  body: string;
  /** Gives back the large-body slot (if any); run once the request is answered. */
  release: Release;
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
export function pathOf(url: string): string {
  if (url.startsWith("/")) return url; // Bun gives a bare path when Host is missing or unusable (HTTP/1.0 health checks)
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}

/** The Host check of one listener: which Host values it accepts, and how a refusal names them. */
export interface HostCheck {
  allows(host: string): boolean;
  /** The accepted names, for the 403 message. */
  expected: string;
}

/**
 * Builds the Host check from the address the listener really bound (so `127.1`, `[::ffff:127.0.0.1]` and a host
 * name that resolves to loopback all count as loopback): loopback names only there, plus allowed_hosts anywhere.
 */
export function hostCheck(boundAddress: string, allowedHosts: string[]): HostCheck | null {
  const bound = canonicalHost(boundAddress);
  const onLoopback = bound !== null && isLoopback(bound);
  if (!onLoopback && allowedHosts.length === 0) return null;
  const allowed = new Set<string>();
  for (const h of allowedHosts) allowed.add(canonicalHost(h) ?? h.toLowerCase());
  if (onLoopback) for (const n of [...LOOPBACK_NAMES, bound]) allowed.add(n);
  const expected = [...allowed].join(", ");
  // Clients send the same Host on every request: remember the verdicts for a few values (bounded, so a
  // client that sends a new value each time only costs the parse).
  const seen = new Map<string, boolean>();
  return {
    allows(value) {
      const known = seen.get(value);
      if (known !== undefined) return known;
      const parsed = parseHostHeader(value);
      const ok = parsed !== null && allowed.has(parsed.host);
      if (seen.size >= 64) seen.clear();
      seen.set(value, ok);
      return ok;
    },
    expected,
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
  if (opts.hostCheck) {
    const host = req.headers.get("host");
    if (host === null || !opts.hostCheck.allows(host)) {
      log.outcome = "forbidden_host";
      const what = host === null || parseHostHeader(host) === null ? "is not a valid host[:port]" : "is not a name of this server";
      return text(
        403,
        `forbidden: Host ${JSON.stringify(host ?? "")} ${what}; this listener answers to ${opts.hostCheck.expected} (any port); ` +
          "add another name with --allow-host or allowed_hosts",
      );
    }
  }
  return undefined;
}

/** CORS for allowed origins only: the preflight, and the headers a browser client needs on replies. */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id, traceparent",
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
  return text(401, `unauthorized: send Authorization: Bearer TOKEN (\`${lmcpCommandName} client-config\` prints a working client set-up)`, {
    "www-authenticate": presented ? 'Bearer realm="lmcp", error="invalid_token"' : 'Bearer realm="lmcp"',
    connection: "close",
  });
}

/**
 * A read-only token's call of a write or exec tool, refused from the request's `Mcp-Method` and `Mcp-Name`
 * headers (MCP 2026-07-28 clients send them) before any body byte is read. A name this server does not know
 * (or one the headers encode) is left to the body check, which refuses the same calls whatever the headers say.
 */
export function checkToolHeader(req: Request, opts: BoundaryOptions, caller: Caller, log: RequestLog): Response | undefined {
  if (!opts.toolScope || caller.scope !== "read-only") return undefined;
  if (req.headers.get("mcp-method") !== "tools/call") return undefined;
  const name = req.headers.get("mcp-name");
  if (name === null || opts.toolScope(name) !== "full") return undefined;
  log.outcome = "forbidden_tool";
  const reason = `Tool ${name} is not available to this token: it is read-only (no shell, no writes). Ask the operator for a full token.`;
  opts.onDenied?.(caller, log.client, name, reason);
  return jsonRpcError(403, -32602, reason);
}

/** A 503 for a large body that found no free slot: what happened and what to do. */
function busy(log: RequestLog): Response {
  log.outcome = "busy_large_body";
  return text(
    503,
    `busy: ${LARGE_BODY_SLOTS} request bodies over ${LARGE_BODY_BYTES} bytes are already being handled; ` +
      "retry after a moment, or send smaller requests (e.g. write a large file in parts)",
    { "retry-after": "2", connection: "close" },
  );
}

/**
 * Reads the body once, up to the cap: Content-Length is checked first, then a streaming count covers chunked
 * bodies. `req.text()` turns Bun's own buffer into the string (measured: `req.bytes()` and decoding cost a copy
 * more). A body over LARGE_BODY_BYTES takes a slot first (before it is read, when its length is known)
 * and keeps it until `release` runs, which the caller does once the request is answered.
 */
export async function readCapped(req: Request, opts: BoundaryOptions, log: RequestLog): Promise<{ text: string; release: Release } | Response> {
  const max = opts.maxBodyBytes;
  const tooLarge = () => {
    log.outcome = "too_large";
    return text(413, `request body too large: the limit is ${max} bytes (max_body_bytes)`, { connection: "close" });
  };
  let release: Release = () => {};
  const length = req.headers.get("content-length");
  if (length !== null) {
    if (!/^\d+$/.test(length)) {
      log.outcome = "bad_request";
      return text(400, "bad request: Content-Length is not a number", { connection: "close" });
    }
    if (Number(length) > max) return tooLarge();
    if (Number(length) > LARGE_BODY_BYTES) {
      const slot = await opts.largeBodies.acquire(LARGE_BODY_WAIT_MS);
      if (!slot) return busy(log);
      release = slot;
    }
    try {
      return { text: await req.text(), release };
    } catch (err) {
      release();
      throw err;
    }
  }
  if (!req.body) return { text: "", release };
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const before = total;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        release();
        return tooLarge();
      }
      if (before <= LARGE_BODY_BYTES && total > LARGE_BODY_BYTES) {
        // A chunked body of unknown size takes its slot once it grows past the threshold.
        const slot = await opts.largeBodies.acquire(LARGE_BODY_WAIT_MS);
        if (!slot) {
          await reader.cancel().catch(() => {});
          return busy(log);
        }
        release = slot;
      }
      chunks.push(value);
    }
  } catch (err) {
    release();
    throw err;
  }
  return { text: new TextDecoder().decode(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)), release };
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
  const caller = opts.auth ? opts.auth.caller(identity) : anonymous;
  const toolRefused = checkToolHeader(req, opts, caller, log);
  if (toolRefused) return toolRefused;
  const type = req.headers.get("content-type");
  if (type === null || !/^application\/json\b/i.test(type)) {
    log.outcome = "unsupported_media_type";
    return text(415, "unsupported media type: send Content-Type: application/json", { connection: "close" });
  }
  const body = await readCapped(req, opts, log);
  if (body instanceof Response) return body;
  const problem = jsonShapeProblem(body.text, { maxDepth: MAX_JSON_DEPTH, maxValues: MAX_JSON_VALUES });
  if (problem) {
    body.release();
    log.outcome = problem;
    return jsonRpcError(
      400,
      -32700,
      problem === "too_deep"
        ? `Parse error: JSON nested deeper than ${MAX_JSON_DEPTH} levels`
        : `Parse error: the JSON holds more than ${MAX_JSON_VALUES} values; send bulk data as one string (e.g. write_file content), or fewer calls per batch`,
    );
  }
  return { body: body.text, release: body.release, identity, caller, corsOrigin };
}
