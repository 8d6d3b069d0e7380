// The hub's connection to one backend's lmcp: an SDK client, connected once
// and reused, with the backend's own token on every request. It speaks
// 2026-07-28 to a backend that offers it and 2025 (initialize) to one that
// does not. Errors are sorted into what the router needs to know: the token
// was refused, the connection failed (and whether the request can have reached
// the host), or the backend answered with an error of its own.
import {
  type CallToolResult,
  Client,
  type Progress,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  StreamableHTTPClientTransport,
  TRACEPARENT_META_KEY,
} from "@modelcontextprotocol/client";
import { z } from "zod";
import { unusedJsonSchemaValidator } from "../mcp/no_json_schema_validator.ts";
import { version } from "../version.ts";
import type { Backend } from "./registry.ts";

export type LinkFailure =
  /** 401: the backend refused the hub's token. */
  | { kind: "auth_failed"; message: string }
  /** No connection was made (refused, unreachable, name unknown): the request never reached the host. */
  | { kind: "unreachable"; message: string }
  /** The connection broke or timed out after the request may have been delivered. */
  | { kind: "broken"; message: string }
  /** The backend answered with a JSON-RPC error (bad arguments, unknown tool): the host is fine. */
  | { kind: "rpc_error"; code: number; message: string };

/** Just enough shape for the router: content to relay, structuredContent to pass on, isError. */
const passThroughResult = z.looseObject({
  content: z.array(z.looseObject({ type: z.string() })).default([]),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
  isError: z.boolean().optional(),
});

export class LinkError extends Error {
  constructor(readonly failure: LinkFailure) {
    super(failure.message);
  }
}

/** Error codes Bun and Node give for a connection that was never established. */
const notConnected = new Set(["ConnectionRefused", "ECONNREFUSED", "FailedToOpenSocket", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ConnectionClosed_before_send"]);

/**
 * The network error under an SDK error, if any: v2 wraps a failed connect-time probe in
 * SdkError(EraNegotiationFailed) with the fetch error as its cause, so the chain is walked (a few links at most).
 */
export function networkFailure(err: unknown): { code: string; message: string } | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === "object"; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && notConnected.has(code)) return { code, message: typeof message === "string" ? message : "" };
    e = cause;
  }
  return undefined;
}

/** The JSON-RPC error text without the "MCP error -32602: " prefixes v1 servers put into the message itself. */
export function rpcMessage(message: string): string {
  return message.replace(/^(?:MCP error -?\d+:\s*)+/, "");
}

export function classify(err: unknown): LinkFailure {
  if (err instanceof LinkError) return err.failure;
  const net = networkFailure(err);
  if (net) return { kind: "unreachable", message: net.code === "ConnectionRefused" || net.code === "ECONNREFUSED" ? "connection refused" : `${net.code}: ${net.message}`.trim() };
  if (err instanceof SdkHttpError) {
    if (err.status === 401) return { kind: "auth_failed", message: "the backend refused the hub's token (HTTP 401); fix this backend's token in backends.toml" };
    return { kind: "broken", message: `HTTP ${err.status} from the backend: ${err.message}` };
  }
  if (err instanceof SdkError) {
    // The SDK's own request timeout (also how it reports our abort): the backend did not answer in time.
    if (err.code === SdkErrorCode.RequestTimeout) {
      const ms = (err.data as { timeout?: unknown } | undefined)?.timeout;
      return { kind: "broken", message: typeof ms === "number" ? `no answer within ${ms / 1000} s` : "no answer in time" };
    }
    return { kind: "broken", message: err.message };
  }
  if (err instanceof ProtocolError) return { kind: "rpc_error", code: err.code, message: rpcMessage(err.message) };
  const e = err as { message?: string };
  return { kind: "broken", message: e?.message ?? String(err) };
}

export interface LinkCallOptions {
  signal: AbortSignal;
  timeoutMs: number;
  onprogress?: (p: Progress) => void;
  /** The caller's W3C trace context, passed on to the backend so its audit line joins the same trace. */
  traceparent?: string;
}

/** Rejects as soon as `signal` aborts, without cancelling `p` (a shared connect other calls may still want). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new LinkError({ kind: "broken", message: "the call was cancelled" }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new LinkError({ kind: "broken", message: "the call was cancelled" }));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export class BackendLink {
  private client: Promise<Client> | undefined;

  constructor(readonly backend: Backend) {}

  private connect(timeoutMs: number): Promise<Client> {
    if (!this.client) {
      const url = this.backend.url;
      if (!url) throw new LinkError({ kind: "unreachable", message: "this backend has no url (SSH only)" });
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${this.backend.token ?? ""}` } },
      });
      // 'auto': a server/discover probe first (bounded by the connect timeout), then initialize if the backend is a 2025-only lmcp.
      const client = new Client({ name: "lmcp-hub", version }, { jsonSchemaValidator: unusedJsonSchemaValidator, versionNegotiation: { mode: "auto" } });
      // No caller's signal here: the connection is shared, and one caller giving up must not fail the others'.
      const connecting = client.connect(transport, { timeout: timeoutMs }).then(() => client);
      this.client = connecting;
      connecting.catch(() => {
        if (this.client === connecting) this.client = undefined;
      });
    }
    return this.client;
  }

  /** Calls a tool on the backend; throws LinkError with the failure sorted. */
  async callTool(name: string, args: Record<string, unknown>, opts: LinkCallOptions): Promise<CallToolResult> {
    let client: Client;
    try {
      client = await untilAborted(this.connect(Math.min(opts.timeoutMs, 10_000)), opts.signal);
    } catch (err) {
      const failure = classify(err);
      // Failing to connect means no tool call was sent: safe to try elsewhere.
      throw new LinkError(failure.kind === "broken" ? { kind: "unreachable", message: failure.message } : failure);
    }
    // `_meta.traceparent` (TRACEPARENT_META_KEY, SEP-414) is the documented place for W3C trace context in both eras:
    // on 2026-07-28 the SDK merges its envelope keys into the same `_meta`, and ours win on a clash (there is none).
    const params = { name, arguments: args, ...(opts.traceparent ? { _meta: { [TRACEPARENT_META_KEY]: opts.traceparent } } : {}) };
    try {
      // request() with a light result schema, not callTool(): the hub passes the backend's result through
      // as it is, so the SDK's full CallToolResult validation would only add latency to every call.
      return (await client.request({ method: "tools/call", params }, passThroughResult, {
        signal: opts.signal,
        timeout: opts.timeoutMs,
        resetTimeoutOnProgress: true,
        onprogress: opts.onprogress,
      })) as CallToolResult;
    } catch (err) {
      const failure = classify(err);
      // The client is shared by every caller: closing it fails their calls too ("Connection closed"), which the hub
      // would then count against a healthy host. A caller giving up, or one call's timeout, says nothing about the link.
      const linkBroken = failure.kind !== "rpc_error" && !opts.signal.aborted && !(err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout);
      if (linkBroken) this.reset();
      throw new LinkError(failure);
    }
  }

  /** Drops the client so the next call connects afresh (after a failure, or a registry reload). */
  reset(): void {
    const old = this.client;
    this.client = undefined;
    old?.then((c) => c.close()).catch(() => {});
  }
}
