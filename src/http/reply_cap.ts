// Caps one HTTP reply in bytes, batches included. Each JSON-RPC reply is
// serialised once, measured, and kept only if it fits what is left; a reply that
// does not fit becomes a small error of the same id that says why and what to do.

/** Bytes one HTTP reply may carry (a whole batch together). */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;

const CAP_CODE = -32000;

/** A JSON-RPC reply as this module needs it: any object, with an id when it answers a request. */
type Reply = object & { id?: unknown };

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

export class ReplyBudget {
  private kept = 0;
  /** What every reply seen so far would have taken: once past the cap, later calls of a batch need not run. */
  private wanted = 0;

  constructor(readonly max: number) {}

  get spent(): boolean {
    return this.wanted > this.max;
  }

  /** The JSON text to send for `reply`; `toolCall` says it answers tools/call, whose oversize result becomes an error result. */
  fit(reply: Reply, toolCall: boolean, inBatch: boolean): string {
    const json = JSON.stringify(reply);
    // A UTF-16 unit is at most 3 UTF-8 bytes: a lone reply that fits even so needs no exact count.
    if (!inBatch && this.kept === 0 && json.length * 3 <= this.max) return json;
    const bytes = Buffer.byteLength(json) + (inBatch ? 1 : 0); // a batch adds a separator per reply
    this.wanted += bytes;
    if (this.kept + bytes <= this.max) {
      this.kept += bytes;
      return json;
    }
    const small = bytes > this.max ? this.oversize(reply, toolCall, bytes) : this.dropped(reply);
    this.kept += Buffer.byteLength(small) + (inBatch ? 1 : 0);
    return small;
  }

  /** The answer for a batch entry that was not run because the replies before it already passed the cap. */
  notRun(id: unknown): string {
    const json = JSON.stringify({
      jsonrpc: "2.0",
      id,
      error: { code: CAP_CODE, message: `reply cap hit: this batch's replies pass ${mib(this.max)} per HTTP reply, so this call was not run; send fewer calls per batch` },
    });
    this.kept += Buffer.byteLength(json) + 1;
    return json;
  }

  private oversize(reply: Reply, toolCall: boolean, bytes: number): string {
    const why = `the result is ${mib(bytes)}, over this server's reply cap of ${mib(this.max)}`;
    if (toolCall && "result" in reply) {
      const text =
        `${why}; ask for less: page a file with offset/limit, lower max_entries or max_results, narrow the path or pattern, ` +
        "or cut a command's output (| head, or > a file to read in parts)";
      return JSON.stringify({ jsonrpc: "2.0", id: reply.id ?? null, result: { content: [{ type: "text", text }], isError: true } });
    }
    return JSON.stringify({ jsonrpc: "2.0", id: reply.id ?? null, error: { code: CAP_CODE, message: `reply too large: ${why}` } });
  }

  private dropped(reply: Reply): string {
    return JSON.stringify({
      jsonrpc: "2.0",
      id: reply.id ?? null,
      error: {
        code: CAP_CODE,
        message: `reply cap hit: this batch's replies pass ${mib(this.max)} per HTTP reply; this call ran but its reply was dropped; send fewer calls per batch`,
      },
    });
  }
}
