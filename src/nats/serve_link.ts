// `lmcp serve --nats`: connects out to NATS and answers the calls addressed to
// this host (lmcp.call.<name>, request-reply) with the same SDK Server and
// tool handlers as HTTP, so scopes, zod validation and audit are the same; the
// caller is the hub that sent the call. Progress and keep-alives go to the
// call's reply subject; lmcp.ctl.<name> cancels. A call id runs once however
// often it arrives (hubs resend after silence or their own reconnect), and a
// finished call's answer is kept for a minute so a resend gets it again.
import type { AuthInfo, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, Server } from "@modelcontextprotocol/server";
import { type Msg, type NatsConnection, type Subscription, nuid } from "@nats-io/transport-node";
import { z } from "zod";
import type { AuditEntry } from "../audit/audit_log.ts";
import { logEvent } from "../http/log.ts";
import { MAX_REPLY_BYTES, ReplyBudget } from "../http/reply_cap.ts";
import { CallTransport } from "../mcp/call_transport.ts";
import { version } from "../version.ts";
import { type NatsAuth, openNats } from "./connection.ts";
import { jwtOfCreds } from "./host_claims.ts";
import { Announcer } from "./presence.ts";
import { activitySubject, callQueue, callSubject, controlSubject } from "./subjects.ts";
import { type ActivityEvent, type CallRequest, type ReplyMessage, WIRE_VERSION, callRequest, controlMessage, jsonOf, workingMessage } from "./wire.ts";

/** While a call runs, a keep-alive this often tells the hub the host is still at it (the hub resends after 5 s of silence). */
export const KEEPALIVE_MS = 2000;
/** How long a finished call's answer is kept for a resend, and how many (and how many bytes) at most. */
const DONE_KEEP_MS = 60_000;
const DONE_MAX = 2000;
const DONE_MAX_BYTES = 64 * 1024 * 1024;
/** Ids whose answers were let go are remembered longer, so a very late resend is still never run twice. */
const SPENT_KEEP_MS = 15 * 60_000;
const SPENT_MAX = 100_000;
/** Room left in a NATS message for the reply's wrapper. */
const WRAPPER_BYTES = 1024;

export interface ServeLinkOptions {
  servers: string[];
  name: string;
  tags: string[];
  heartbeatMs: number;
  /** An SDK Server (2025 era: plain tools/call, no envelope) built from the same tool handlers as HTTP's. */
  server: Server;
  auth?: NatsAuth;
}

interface Running {
  /** Where progress and the answer go: the latest send's reply subject. */
  reply: string;
  controller: AbortController;
  finished: Promise<void>;
}

export class ServeLink {
  private nc: NatsConnection | undefined;
  private readonly transport = new CallTransport();
  private readonly running = new Map<string, Running>();
  private readonly done = new Map<string, { payload: string; at: number }>();
  /** UTF-16 units held in `done` (a close enough measure of its memory). */
  private doneChars = 0;
  /** Calls that ran and whose answers are no longer kept: id → when they finished. */
  private readonly spent = new Map<string, number>();
  /** Random per process: a hub's resend to a restarted host is answered `lost`, never run a second time. */
  readonly instance = nuid.next();
  private announcer: Announcer | undefined;
  private callSub: Subscription | undefined;
  private closing = false;

  private constructor(private readonly opts: ServeLinkOptions) {}

  /** Connects the Server to its transport and NATS in the background: HTTP serves meanwhile, and a host may start before NATS. */
  static async start(opts: ServeLinkOptions): Promise<ServeLink> {
    const link = new ServeLink(opts);
    await opts.server.connect(link.transport);
    opts.server.onerror = (err) => link.transport.dropped(err);
    openNats(opts.servers, `lmcp serve ${opts.name}`, () => link.reconnected(), opts.auth).then(
      (nc) => link.attach(nc),
      (err: Error) => logEvent(`error: NATS: cannot connect: ${err.message}`),
    );
    return link;
  }

  private attach(nc: NatsConnection): void {
    if (this.closing) {
      void nc.close();
      return;
    }
    this.nc = nc;
    const { name } = this.opts;
    this.callSub = nc.subscribe(callSubject(name), { queue: callQueue, callback: (_err, msg) => this.onCall(msg) });
    nc.subscribe(controlSubject(name), { callback: (_err, msg) => this.onControl(msg) });
    const jwt = jwtOfCreds(this.opts.auth?.creds);
    this.announcer = new Announcer(nc, { name, tags: this.opts.tags, version, instance: this.instance, every_ms: this.opts.heartbeatMs, ...(jwt ? { jwt } : {}) });
    this.announcer.start();
    logEvent(`NATS: answering calls for "${name}" on ${callSubject(name)}`);
    // Without per-host credentials NATS itself is the only gate: say so on every start, like --no-auth.
    if (!this.opts.auth?.creds) {
      logEvent("WARNING: no NATS credentials (nats_creds): anyone who can publish to these NATS servers can run tools on this host; join the fleet with `lmcp join` (docs/hub.md#enrollment)");
    }
  }

  /** After a reconnect: announce at once, and tell hubs waiting on running calls that they still run. */
  private reconnected(): void {
    this.announcer?.announce();
    for (const r of this.running.values()) this.send(r.reply, workingMessage);
  }

  private send(subject: string, payload: string): void {
    try {
      this.nc?.publish(subject, payload);
    } catch (err) {
      logEvent(`error: NATS: cannot publish a reply: ${(err as Error).message}`);
    }
  }

  private onCall(msg: Msg): void {
    const reply = msg.reply;
    if (!reply || this.closing) return; // nowhere to answer, or no longer taking calls
    const parsed = callRequest.safeParse(jsonOf(msg.data));
    if (!parsed.success) {
      const message = `Invalid lmcp call over NATS: ${z.prettifyError(parsed.error)}`;
      this.send(reply, JSON.stringify({ k: "reply", rpc: { error: { code: -32600, message } } } satisfies ReplyMessage));
      return;
    }
    const req = parsed.data;
    const running = this.running.get(req.id);
    if (running) {
      running.reply = reply;
      this.send(reply, workingMessage);
      return;
    }
    const finished = this.done.get(req.id);
    if (finished) return this.send(reply, finished.payload);
    if (this.spent.has(req.id)) {
      const gone = `${this.opts.name} ran this call already and no longer keeps its answer; it was not run again`;
      return this.send(reply, JSON.stringify({ k: "lost", message: gone } satisfies ReplyMessage));
    }
    if (req.attempt > 1 && req.instance !== undefined && req.instance !== this.instance) {
      const lost = `${this.opts.name} restarted since the call was sent; whether it ran there is unknown, and it was not run again`;
      return this.send(reply, JSON.stringify({ k: "lost", message: lost } satisfies ReplyMessage));
    }
    this.run(req, reply);
  }

  private run(req: CallRequest, reply: string): void {
    const controller = new AbortController();
    let settle = () => {};
    const state: Running = { reply, controller, finished: new Promise<void>((r) => (settle = r)) };
    this.running.set(req.id, state);
    const keepalive = setInterval(() => this.send(state.reply, workingMessage), KEEPALIVE_MS);
    const meta = { ...(req.progress ? { progressToken: req.id } : {}), ...(req.traceparent ? { traceparent: req.traceparent } : {}) };
    const request: JSONRPCRequest = {
      jsonrpc: "2.0",
      id: req.id,
      method: "tools/call",
      params: { name: req.tool, arguments: req.arguments, ...(Object.keys(meta).length > 0 ? { _meta: meta } : {}) },
    };
    // The hub is the caller: its name is what the audit line records (no token crosses NATS).
    const authInfo: AuthInfo = { token: "", clientId: `hub=${req.hub}`, scopes: ["full"], extra: { client: "nats" } };
    this.transport
      .request(request, 0, { authInfo }, (n) => this.onNotification(state, n), controller.signal)
      .then(({ reply: rpc }) => this.finish(req.id, state, rpc))
      .catch((err: Error) => {
        // A bug in lmcp, not the caller's fault: answer (and remember the answer, so a resend does not run it again).
        logEvent(`error: NATS: call ${req.tool} failed inside lmcp: ${err.stack ?? err.message}`);
        this.finish(req.id, state, { jsonrpc: "2.0", id: req.id, error: { code: -32603, message: `internal error in lmcp: ${err.message} (a bug; please report it)` } });
      })
      .finally(() => {
        clearInterval(keepalive);
        this.running.delete(req.id);
        settle();
      });
  }

  private finish(id: string, state: Running, rpc: JSONRPCMessage): void {
    const max = Math.min(MAX_REPLY_BYTES, (this.nc?.info?.max_payload ?? 1024 * 1024) - WRAPPER_BYTES);
    const payload = `{"k":"reply","rpc":${new ReplyBudget(max).fit(rpc, true, false)}}`;
    this.done.set(id, { payload, at: Date.now() });
    this.doneChars += payload.length;
    this.trimDone();
    this.send(state.reply, payload);
  }

  private trimDone(): void {
    const old = Date.now() - DONE_KEEP_MS;
    for (const [id, d] of this.done) {
      if (this.done.size <= DONE_MAX && this.doneChars <= DONE_MAX_BYTES && d.at >= old) break; // oldest first: the rest are newer
      this.done.delete(id);
      this.doneChars -= d.payload.length;
      this.spent.set(id, d.at);
    }
    const spentOld = Date.now() - SPENT_KEEP_MS;
    for (const [id, at] of this.spent) {
      if (this.spent.size <= SPENT_MAX && at >= spentOld) break;
      this.spent.delete(id);
    }
  }

  private onNotification(state: Running, n: JSONRPCNotification): void {
    if (n.method !== "notifications/progress") return;
    const p = (n.params ?? {}) as { progress?: unknown; total?: unknown; message?: unknown };
    if (typeof p.progress !== "number") return;
    const m: ReplyMessage = {
      k: "progress",
      progress: p.progress,
      ...(typeof p.total === "number" ? { total: p.total } : {}),
      ...(typeof p.message === "string" ? { message: p.message } : {}),
    };
    this.send(state.reply, JSON.stringify(m));
  }

  private onControl(msg: Msg): void {
    const parsed = controlMessage.safeParse(jsonOf(msg.data));
    if (parsed.success) this.running.get(parsed.data.id)?.controller.abort();
  }

  /**
   * Tells the fleet's consoles about a call this host answered itself (HTTP or stdio); calls that came through a
   * hub over NATS are skipped, as that hub recorded them already. Dropped while not connected: a feed, not a record.
   */
  activity(e: AuditEntry): void {
    if (e.client === "nats" || !this.nc || this.closing) return;
    const cut = (s: string | undefined, n: number) => (s === undefined ? undefined : s.slice(0, n));
    const m: ActivityEvent = {
      v: WIRE_VERSION,
      host: this.opts.name,
      time: e.time,
      client: e.client.slice(0, 200),
      token: e.token.slice(0, 200),
      tool: e.tool.slice(0, 200),
      duration_ms: e.duration_ms,
      outcome: e.outcome,
      ...(e.command !== undefined ? { command: cut(e.command, 1000) } : {}),
      ...(e.path !== undefined ? { path: cut(e.path, 4096) } : {}),
      ...(e.job_id !== undefined ? { job_id: cut(e.job_id, 64) } : {}),
      ...(e.session_id !== undefined ? { session_id: cut(e.session_id, 64) } : {}),
      ...(e.exit_code !== undefined ? { exit_code: e.exit_code } : {}),
      ...(e.error !== undefined ? { error: cut(e.error, 1000) } : {}),
    };
    this.send(activitySubject(this.opts.name), JSON.stringify(m));
  }

  /** Calls in flight over NATS. */
  get inFlight(): number {
    return this.running.size;
  }

  /**
   * Stops taking calls and says goodbye (hubs show the host down at once), lets calls in flight finish for up to
   * `graceMs`, cancels the rest (their hubs get the cancellation), then flushes and closes the connection.
   */
  async close(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const nc = this.nc;
    if (!nc) return;
    this.callSub?.unsubscribe();
    this.announcer?.stop();
    const all = () => Promise.all([...this.running.values()].map((r) => r.finished));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)));
    if (!(await Promise.race([all().then(() => true), graceOver]))) {
      logEvent(`NATS: grace period over; cancelling ${this.running.size} call(s)`);
      this.transport.cancelAll("server shutting down");
      await all();
    }
    clearTimeout(timer);
    await nc.drain().catch(() => {});
  }
}
