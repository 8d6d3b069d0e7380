// The hub's connection to one backend's lmcp: an SDK client, connected once
// and reused, with the backend's own token on every request. Errors are sorted
// into what the router needs to know: the token was refused, the connection
// failed (and whether the request can have reached the host), or the backend
// answered with an error of its own.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, McpError, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { unusedJsonSchemaValidator } from "../mcp/no_json_schema_validator.ts";
import { version } from "../version.ts";
import { z } from "zod";
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

export function classify(err: unknown): LinkFailure {
  if (err instanceof LinkError) return err.failure;
  if (err instanceof StreamableHTTPError) {
    if (err.code === 401) return { kind: "auth_failed", message: "the backend refused the hub's token (HTTP 401); fix this backend's token in backends.toml" };
    return { kind: "broken", message: `HTTP ${err.code} from the backend: ${err.message}` };
  }
  if (err instanceof McpError) {
    // -32001 is the SDK's own request timeout: the backend did not answer in time.
    if (err.code === -32001) return { kind: "broken", message: err.message };
    return { kind: "rpc_error", code: err.code, message: err.message };
  }
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  if (code && notConnected.has(code)) return { kind: "unreachable", message: code === "ConnectionRefused" || code === "ECONNREFUSED" ? "connection refused" : `${code}: ${e.message ?? ""}` };
  return { kind: "broken", message: e?.message ?? String(err) };
}

export interface LinkCallOptions {
  signal: AbortSignal;
  timeoutMs: number;
  onprogress?: (p: Progress) => void;
}

export class BackendLink {
  private client: Promise<Client> | undefined;

  constructor(readonly backend: Backend) {}

  private connect(signal: AbortSignal, timeoutMs: number): Promise<Client> {
    if (!this.client) {
      const url = this.backend.url;
      if (!url) throw new LinkError({ kind: "unreachable", message: "this backend has no url (SSH only)" });
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${this.backend.token ?? ""}` } },
      });
      const client = new Client({ name: "lmcp-hub", version }, { jsonSchemaValidator: unusedJsonSchemaValidator });
      const connecting = client.connect(transport, { signal, timeout: timeoutMs }).then(() => client);
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
      client = await this.connect(opts.signal, Math.min(opts.timeoutMs, 10_000));
    } catch (err) {
      const failure = classify(err);
      // Failing to initialise means no tool call was sent: safe to try elsewhere.
      throw new LinkError(failure.kind === "broken" ? { kind: "unreachable", message: failure.message } : failure);
    }
    try {
      // request() with a light result schema, not callTool(): the hub passes the backend's result through
      // as it is, so the SDK's full CallToolResult validation would only add latency to every call.
      return (await client.request({ method: "tools/call", params: { name, arguments: args } }, passThroughResult, {
        signal: opts.signal,
        timeout: opts.timeoutMs,
        resetTimeoutOnProgress: true,
        onprogress: opts.onprogress,
      })) as CallToolResult;
    } catch (err) {
      const failure = classify(err);
      if (failure.kind !== "rpc_error") this.reset();
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
