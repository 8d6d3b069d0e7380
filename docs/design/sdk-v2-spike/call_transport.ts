// A long-lived in-memory v2 Transport: one per era instance. Each HTTP call's JSON-RPC id is rewritten to a
// unique internal id (two clients may both send id 1) and restored on the reply. Same idea as lmcp's v1 CallTransport.
import {
  type JSONRPCMessage, type JSONRPCNotification, type JSONRPCRequest, type MessageExtraInfo, type RequestId,
  type Transport, type TransportSendOptions, isJSONRPCErrorResponse, isJSONRPCResultResponse,
} from "@modelcontextprotocol/server";

interface InFlight { originalId: RequestId; resolve: (reply: JSONRPCMessage, ladder?: boolean) => void; onNotification?: (n: JSONRPCNotification) => void }

export class CallTransport implements Transport {
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private nextId = 1;
  private readonly inflight = new Map<number, InFlight>();
  /** True while a message is handed to the SDK synchronously: an error sent then is a pre-handler (ladder) rejection. */
  private dispatching = false;

  async start() {}
  async close() { this.onclose?.(); }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const id = message.id as number;
      const entry = this.inflight.get(id);
      if (!entry) return;
      this.inflight.delete(id);
      entry.resolve({ ...message, id: entry.originalId } as JSONRPCMessage, this.dispatching && isJSONRPCErrorResponse(message));
      return;
    }
    const related = options?.relatedRequestId;
    if (related !== undefined && "method" in message && !("id" in message)) this.inflight.get(related as number)?.onNotification?.(message);
  }

  request(message: JSONRPCRequest, extra: MessageExtraInfo | undefined, onNotification?: (n: JSONRPCNotification) => void, signal?: AbortSignal, onLadder?: () => void): Promise<JSONRPCMessage> {
    const internal = this.nextId++;
    return new Promise((resolve) => {
      this.inflight.set(internal, { originalId: message.id, resolve: (r, ladder) => { if (ladder) onLadder?.(); resolve(r); }, onNotification });
      if (signal) signal.addEventListener("abort", () => this.cancel(internal, "client disconnected"), { once: true });
      this.dispatching = true;
      try { this.onmessage?.({ ...message, id: internal }, extra); } finally { this.dispatching = false; }
    });
  }

  cancel(internal: number, reason: string) {
    const entry = this.inflight.get(internal);
    if (!entry) return;
    this.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: internal, reason } });
    this.inflight.delete(internal);
    entry.resolve({ jsonrpc: "2.0", id: entry.originalId, error: { code: -32800, message: `request cancelled: ${reason}` } });
  }
}
