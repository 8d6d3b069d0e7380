// One call the hub sent over NATS and is waiting on: what arrived on its reply
// subject, the resends that make it survive a cluster node's death, and the
// timers that make sure it ends. A resend is always safe: the host runs a
// call id once and answers a resend from what it has (running, or the kept
// answer), and a restarted host answers `lost` instead of running it again.
import type { CallToolResult, Progress } from "@modelcontextprotocol/client";
import { LinkError, rpcMessage } from "../hub/backend_link.ts";
import type { ReplyMessage } from "./wire.ts";

/** No word at all (not even a keep-alive, sent every 2 s) for this long: the call is sent again. */
export const SILENCE_MS = 5000;
/** Resends after silence before the host counts as gone. */
const MAX_SILENT_RESENDS = 2;
/** "No responders" (no host subscribed) is retried this often for this long: a host whose node died is resubscribing elsewhere. */
const NO_RESPONDERS_RETRY_MS = 150;
export const NO_RESPONDERS_WINDOW_MS = 3000;

/** What a pending call needs from the hub's link. */
export interface CallPort {
  /** Sends (again) with this attempt number. */
  send(attempt: number): void;
  /** Why the host is down now (presence), or undefined. */
  downReason(): string | undefined;
  /** Tells the host to stop the call. */
  cancel(): void;
  /** The call ended: forget it. */
  done(): void;
}

export class PendingCall {
  private attempt = 0;
  /** True once the host has said anything about this call: it has it, so "no responders" later is a reconnect gap. */
  private delivered = false;
  private silentResends = 0;
  /** "No responders" answers so far: when every send got one, the call never reached a host (safe to try SSH). */
  private refusals = 0;
  private readonly startedAt = performance.now();
  private silenceTimer: ReturnType<typeof setTimeout> | undefined;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;
  private readonly onAbort = () => {
    this.port.cancel();
    this.fail({ kind: "broken", message: "the call was cancelled" });
  };

  constructor(
    readonly host: string,
    private readonly port: CallPort,
    private readonly opts: { signal: AbortSignal; timeoutMs: number; onprogress?: (p: Progress) => void },
    private readonly resolve: (r: CallToolResult) => void,
    private readonly reject: (e: LinkError) => void,
  ) {}

  start(): void {
    if (this.opts.signal.aborted) return this.fail({ kind: "broken", message: "the call was cancelled" });
    this.opts.signal.addEventListener("abort", this.onAbort, { once: true });
    this.armDeadline();
    this.resend();
  }

  /** Sends the call (again); after the hub's own reconnect, every pending call is resent at once. */
  resend(): void {
    if (this.ended) return;
    this.attempt++;
    this.armSilence();
    try {
      this.port.send(this.attempt);
    } catch (err) {
      // The connection is closed (the hub is stopping): nothing more can be sent or heard.
      const first = this.attempt === 1 && !this.delivered;
      this.fail({ kind: first ? "unreachable" : "broken", message: `cannot send over NATS: ${(err as Error).message}` });
    }
  }

  /** The NATS server found no host subscribed to the call's subject. */
  noResponders(): void {
    if (this.ended || this.delivered) return; // the host has the call; it is reconnecting, and silence decides
    this.refusals++;
    if (performance.now() - this.startedAt > NO_RESPONDERS_WINDOW_MS) {
      const never = this.refusals >= this.attempt;
      return this.fail({ kind: never ? "unreachable" : "broken", message: `no lmcp is answering for it on NATS (not connected)${never ? "" : "; an earlier send may have reached it"}` });
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.resend(), NO_RESPONDERS_RETRY_MS);
  }

  message(m: ReplyMessage): void {
    if (this.ended) return;
    this.delivered = true;
    this.silentResends = 0;
    this.armSilence();
    if (m.k === "progress") {
      this.armDeadline(); // the call's timeout restarts on progress, as over HTTP
      this.opts.onprogress?.({ progress: m.progress, ...(m.total === undefined ? {} : { total: m.total }), ...(m.message === undefined ? {} : { message: m.message }) });
    } else if (m.k === "lost") this.fail({ kind: "broken", message: m.message });
    else if (m.k === "reply") {
      const { result, error } = m.rpc;
      if (error) return this.fail({ kind: "rpc_error", code: error.code, message: rpcMessage(error.message) });
      const r = result as { content?: unknown } | undefined;
      if (!r || typeof r !== "object" || !Array.isArray(r.content)) return this.fail({ kind: "broken", message: "the host's answer is not a tool result" });
      this.end();
      this.resolve(result as CallToolResult);
    }
  }

  /** The host said goodbye, or the hub is closing. */
  gone(why: string): void {
    this.fail({ kind: "broken", message: why });
  }

  private armSilence(): void {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      const down = this.port.downReason();
      // Silence proves nothing about delivery: the host may have the call, so these are "broken" (no SSH retry of a command).
      if (down) return this.fail({ kind: "broken", message: `the host went away during the call: ${down}` });
      if (this.silentResends >= MAX_SILENT_RESENDS) {
        return this.fail({ kind: "broken", message: `no word from the host over NATS for ${((MAX_SILENT_RESENDS + 1) * SILENCE_MS) / 1000} s` });
      }
      this.silentResends++;
      this.resend();
    }, SILENCE_MS);
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      this.port.cancel();
      this.fail({ kind: "broken", message: `no answer within ${this.opts.timeoutMs / 1000} s` });
    }, this.opts.timeoutMs);
  }

  private fail(failure: LinkError["failure"]): void {
    if (this.ended) return;
    this.end();
    this.reject(new LinkError(failure));
  }

  private end(): void {
    this.ended = true;
    clearTimeout(this.silenceTimer);
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.retryTimer);
    this.opts.signal.removeEventListener("abort", this.onAbort);
    this.port.done();
  }
}
