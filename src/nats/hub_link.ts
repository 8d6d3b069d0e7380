// `lmcp hub --nats`: the hub's side of the NATS fleet (the `Fleet` that
// hub/hub.ts routes through). Every remote_* call is a request on
// lmcp.call.<host> with a reply subject of this hub's own; progress and
// keep-alives arrive there before the answer, and a cancellation goes to
// lmcp.ctl.<host>. Hosts and their state come from presence. The hub keeps no
// state a restart would lose: any number of hubs can run side by side.
import type { CallToolResult } from "@modelcontextprotocol/client";
import { type Msg, type NatsConnection, nuid } from "@nats-io/transport-node";
import type { AuditEntry } from "../audit/audit_log.ts";
import { LinkError, type LinkCallOptions } from "../hub/backend_link.ts";
import { type Fleet, type FleetHost, type Routed, callTimeoutMs, safeToRetry } from "../hub/hub.ts";
import { logEvent } from "../http/log.ts";
import type { ToolContext, ToolDef } from "../tools/tool.ts";
import { type NatsAuth, openNats } from "./connection.ts";
import { HostClaims } from "./host_claims.ts";
import { PendingCall } from "./pending_call.ts";
import { PresenceTable, discover, watchPresence } from "./presence.ts";
import { activityAll, activitySubject, callSubject, controlSubject, replyPrefix, replySubject, revokedSubject } from "./subjects.ts";
import { type CallRequest, type ControlMessage, type ReplyMessage, WIRE_VERSION, activityEvent, jsonOf } from "./wire.ts";

/** How long a call waits for the hub's first connection to NATS before it fails. */
const CONNECT_WAIT_MS = 5000;

export interface NatsFleetOptions {
  servers: string[];
  /** The hub's name: the caller identity hosts audit. */
  name: string;
  auth?: NatsAuth;
}

export class NatsFleet implements Fleet {
  readonly presence = new PresenceTable();
  private nc: NatsConnection | undefined;
  /** Told of every call a host answered itself (not through a hub), as an audit-shaped entry. */
  onActivity?: (entry: AuditEntry) => void;
  /** The first connection (a hub holding the fleet authority answers joins on it). */
  readonly ready: Promise<NatsConnection>;
  private readonly replies = replyPrefix(nuid.next());
  private readonly pending = new Map<string, PendingCall>();

  constructor(private readonly opts: NatsFleetOptions) {
    // A host that says goodbye will answer nothing more: its calls in flight end now, not after silence.
    this.presence.onLeft = (name) => {
      for (const p of this.pending.values()) if (p.host === name) p.gone(`${name} disconnected from NATS during the call`);
    };
    this.ready = openNats(opts.servers, `lmcp hub ${opts.name}`, () => this.reconnected(), opts.auth).then((nc) => {
      this.attach(nc);
      return nc;
    });
    this.ready.catch((err: Error) => logEvent(`error: NATS: cannot connect: ${err.message}`));
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc;
    nc.subscribe(`${this.replies}.*.*`, { callback: (_err, msg) => this.onReply(msg) });
    watchPresence(nc, this.presence, HostClaims.fromHubCreds(this.opts.auth?.creds));
    void discover(nc);
    // Calls hosts answered themselves, for this hub's console (hub.ts sets onActivity when the console is on).
    nc.subscribe(activityAll, {
      callback: (_err, msg) => {
        if (!this.onActivity) return;
        const parsed = activityEvent.safeParse(jsonOf(msg.data));
        if (!parsed.success || msg.subject !== activitySubject(parsed.data.host)) return;
        const { v: _v, ...e } = parsed.data;
        this.onActivity({ ...e, via: "direct" });
      },
    });
    nc.subscribe(revokedSubject, {
      callback: (_err, msg) => {
        const name = (jsonOf(msg.data) as { name?: unknown } | undefined)?.name;
        if (typeof name === "string") this.presence.revoked(name);
      },
    });
  }

  /** After the hub's own reconnect: replies sent meanwhile are lost, so every call in flight is sent again (hosts dedupe). */
  private reconnected(): void {
    if (this.nc) void discover(this.nc);
    for (const p of this.pending.values()) p.resend();
  }

  private onReply(msg: Msg): void {
    const p = this.pending.get(msg.subject.slice(msg.subject.lastIndexOf(".") + 1));
    if (!p) return;
    if (msg.headers?.code === 503) return p.noResponders();
    const m = jsonOf(msg.data) as ReplyMessage | undefined;
    if (m && typeof m === "object" && typeof m.k === "string") p.message(m);
  }

  host(name: string): FleetHost | undefined {
    return this.presence.get(name);
  }

  hosts(): FleetHost[] {
    return this.presence.all();
  }

  async route(def: ToolDef, host: string, args: Record<string, unknown>, ctx: ToolContext): Promise<Routed | { problem: string }> {
    const seen = this.presence.get(host);
    if (!seen) return { problem: "it has not announced itself on NATS" };
    if (seen.state === "down") return { problem: `it is down on NATS (${seen.error})` };
    let result: CallToolResult;
    try {
      result = await this.call(host, def.name, args, {
        signal: ctx.signal,
        timeoutMs: callTimeoutMs(def.name, args),
        traceparent: ctx.traceparent,
        // Only when our own caller wants progress, as over HTTP.
        onprogress: ctx.progressWanted ? (p) => void ctx.progress(p.message ?? "", p.progress, p.total) : undefined,
      });
    } catch (err) {
      if (err instanceof TooLarge) return { via: "nats", outcome: { ok: false, error: `${host}: ${err.message}` } };
      if (!(err instanceof LinkError)) throw err;
      const f = err.failure;
      if (f.kind === "rpc_error") return { via: "nats", outcome: { ok: false, error: `${host}'s lmcp refused the call: ${f.message}` } };
      if (ctx.signal.aborted) return { via: "nats", outcome: { ok: false, error: `${host}: the call was cancelled` } };
      if (f.kind === "unreachable" || safeToRetry.has(def.name)) return { problem: `its lmcp did not answer over NATS (${f.message})` };
      return {
        via: "nats",
        outcome: { ok: false, error: `${host}: the call over NATS failed (${f.message}); not retried over SSH because the command may have run. Check with remote_shell_bg_status or retry.` },
      };
    }
    const text = result.content.map((c) => (c.type === "text" ? c.text : `[${c.type} content]`)).join("\n");
    if (result.isError) return { via: "nats", outcome: { ok: false, error: `${host}: ${text}` } };
    return { via: "nats", outcome: { ok: true, data: (result.structuredContent ?? {}) as Record<string, unknown>, text } };
  }

  /** One call as NATS request-reply; throws LinkError (sorted as for HTTP links) or TooLarge. */
  async call(host: string, tool: string, args: Record<string, unknown>, opts: LinkCallOptions): Promise<CallToolResult> {
    const nc = this.nc ?? (await this.connected(opts.signal));
    const id = nuid.next();
    const reply = replySubject(this.replies, host, id);
    const first: CallRequest = {
      v: WIRE_VERSION,
      id,
      tool,
      arguments: args,
      hub: this.opts.name,
      attempt: 1,
      ...(opts.onprogress ? { progress: true } : {}),
      ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
    };
    const body = JSON.stringify(first);
    const max = nc.info?.max_payload ?? 1024 * 1024;
    if (Buffer.byteLength(body) > max) {
      throw new TooLarge(`the call is ${Buffer.byteLength(body)} bytes, over the NATS servers' max_payload of ${max}; send less per call (write a big file in parts)`);
    }
    const instance = this.presence.instance(host);
    return new Promise<CallToolResult>((resolve, reject) => {
      const p = new PendingCall(
        host,
        {
          send: (attempt) => {
            // A resend names the instance the call was meant for, so a restarted host does not run it again.
            const payload = attempt === 1 ? body : JSON.stringify({ ...first, attempt, ...(instance ? { instance } : {}) });
            nc.publish(callSubject(host), payload, { reply });
          },
          downReason: () => this.presence.get(host)?.error,
          cancel: () => nc.publish(controlSubject(host), JSON.stringify({ v: WIRE_VERSION, op: "cancel", id } satisfies ControlMessage)),
          done: () => this.pending.delete(id),
        },
        opts,
        resolve,
        reject,
      );
      this.pending.set(id, p);
      p.start();
    });
  }

  /** The first connection, waited for a bounded time. */
  private connected(signal: AbortSignal): Promise<NatsConnection> {
    return new Promise((resolve, reject) => {
      const fail = (message: string) => reject(new LinkError({ kind: "unreachable", message }));
      const timer = setTimeout(() => fail(`the hub is not connected to NATS yet (${this.opts.servers.length} server(s) configured; see the hub's log)`), CONNECT_WAIT_MS);
      const onAbort = () => fail("the call was cancelled");
      signal.addEventListener("abort", onAbort, { once: true });
      this.ready
        .then(resolve, (err: Error) => fail(`the hub cannot connect to NATS: ${err.message}`))
        .finally(() => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
        });
    });
  }

  /** Ends calls in flight and closes the connection (hub shutdown). */
  async close(): Promise<void> {
    for (const p of this.pending.values()) p.gone("the hub is shutting down");
    await this.nc?.drain().catch(() => {});
  }
}

/** A call too big for one NATS message: the caller's to fix, not the host's fault. */
class TooLarge extends Error {}
