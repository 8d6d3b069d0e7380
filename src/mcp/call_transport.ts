// An in-memory SDK Transport that lets one long-lived MCP Server answer many
// concurrent HTTP requests. The SDK keys in-flight requests by JSON-RPC id, and
// two clients may both send id 1, so each call's id is rewritten to a unique
// internal id on the way in and restored on the reply.
//
// One transport per Server instance (so one per protocol era). It also tells
// which errors the SDK sent before any handler ran (the 2026-07-28 "ladder":
// unknown method, bad params), which HTTP answers with 404/400 instead of 200.
import {
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
  type Transport,
  type TransportSendOptions,
} from "@modelcontextprotocol/server";

/** The reply a cancelled call gets, since the SDK sends none for an aborted handler. */
export const CANCELLED_CODE = -32800;

interface InFlight {
  originalId: RequestId;
  key: string;
  resolve: (reply: JSONRPCMessage) => void;
  /** Set when the SDK answered with an error while the request was still being handed over: no handler ran. */
  early: boolean;
  onNotification: ((message: JSONRPCNotification) => void) | undefined;
}

/** Cancellation arrives as a separate stateless POST, so in-flight calls are found by caller identity and their own id. */
const callKey = (identity: number, id: RequestId) => `${identity}:${typeof id}:${id}`;

export class CallTransport implements Transport {
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  private nextId = 1;
  private readonly inflight = new Map<number, InFlight>();
  private readonly byKey = new Map<string, number>();
  /** True while a message is handed to the SDK synchronously (an error sent then comes from its own checks). */
  private dispatching = false;
  /** The internal id of the request being handed over, while `dispatching`. */
  private dispatchingId: number | undefined;

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.cancelAll("server shutting down");
    this.onclose?.();
  }

  /** Called by the SDK for replies and for notifications tied to a request (progress). */
  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    // The SDK only hands this transport well-formed messages: telling a reply from a notification by its keys
    // is enough (its isJSONRPC* guards run a full schema parse of the whole result, on every call).
    if ("id" in message && ("result" in message || "error" in message)) {
      const internal = message.id as number;
      const entry = this.inflight.get(internal);
      if (!entry) return; // cancelled meanwhile: the caller already has its answer
      this.forget(internal, entry);
      entry.early = this.dispatching && "error" in message;
      entry.resolve({ ...message, id: entry.originalId } as JSONRPCMessage);
      return;
    }
    const related = options?.relatedRequestId;
    if (related !== undefined && "method" in message && !("id" in message)) {
      this.inflight.get(related as number)?.onNotification?.(message);
    }
    // Server-to-client requests have no way back over stateless HTTP; none of lmcp's tools sends one.
  }

  get size(): number {
    return this.inflight.size;
  }

  /**
   * Hands a request to the server; resolves with its reply, id restored, and whether the SDK refused it before any
   * handler ran (`early`). Aborting `signal` cancels the call.
   */
  request(
    message: JSONRPCRequest,
    identity: number,
    extra: MessageExtraInfo | undefined,
    onNotification?: (message: JSONRPCNotification) => void,
    signal?: AbortSignal,
  ): Promise<{ reply: JSONRPCMessage; early: boolean }> {
    const internal = this.nextId++;
    const key = callKey(identity, message.id);
    return new Promise((resolve) => {
      const entry: InFlight = { originalId: message.id, key, early: false, onNotification, resolve: (reply) => resolve({ reply, early: entry.early }) };
      this.inflight.set(internal, entry);
      this.byKey.set(key, internal);
      if (signal) {
        if (signal.aborted) return this.cancel(internal, "client disconnected");
        signal.addEventListener("abort", () => this.cancel(internal, "client disconnected"), { once: true });
      }
      this.dispatching = true;
      this.dispatchingId = internal;
      try {
        this.onmessage?.({ ...message, id: internal }, extra);
      } finally {
        this.dispatching = false;
        this.dispatchingId = undefined;
      }
    });
  }

  /** Delivers a notification; `notifications/cancelled` is mapped to the internal id of the caller's own request. */
  notify(message: JSONRPCNotification, identity: number, extra: MessageExtraInfo | undefined): void {
    if (message.method === "notifications/cancelled") {
      const params = message.params as { requestId?: RequestId; reason?: string } | undefined;
      if (params?.requestId === undefined) return;
      const internal = this.byKey.get(callKey(identity, params.requestId));
      if (internal !== undefined) this.cancel(internal, params.reason ?? "cancelled by the client");
      return;
    }
    this.onmessage?.(message, extra);
  }

  /**
   * The SDK reported an error. One raised while a request is being handed over means it dropped that request
   * (a message its schemas refuse gets no reply): answer it with -32600 so the caller never waits forever.
   */
  dropped(err: Error): void {
    const internal = this.dispatchingId;
    if (internal === undefined) return;
    const entry = this.inflight.get(internal);
    if (!entry) return;
    this.forget(internal, entry);
    entry.early = true;
    const why = err.message.startsWith("Unknown message type") ? "not a JSON-RPC 2.0 message the MCP SDK accepts" : err.message.slice(0, 200);
    entry.resolve({ jsonrpc: "2.0", id: entry.originalId, error: { code: -32600, message: `Invalid Request: ${why}` } });
  }

  /** Aborts the handler (through the SDK's own cancellation) and answers the waiting caller. */
  cancel(internal: number, reason: string): void {
    const entry = this.inflight.get(internal);
    if (!entry) return;
    this.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: internal, reason } });
    this.forget(internal, entry);
    entry.resolve({ jsonrpc: "2.0", id: entry.originalId, error: { code: CANCELLED_CODE, message: `request cancelled: ${reason}` } });
  }

  cancelAll(reason: string): void {
    for (const internal of [...this.inflight.keys()]) this.cancel(internal, reason);
  }

  private forget(internal: number, entry: InFlight): void {
    this.inflight.delete(internal);
    if (this.byKey.get(entry.key) === internal) this.byKey.delete(entry.key);
  }
}
