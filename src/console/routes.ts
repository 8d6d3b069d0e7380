// The web console at /ui: login with a token (the same as /mcp) into a cookie
// session, the dashboard and its fragments, the SSE feed, the per-call view (and
// the files a call named), and the actions (kill a job, emergency stop, resume),
// each a POST that needs the session's CSRF token and a full token, and each
// audited. Refused on a listener that is neither loopback nor HTTPS, and to a
// foreign Host or Origin.
import type { AuditEntry, AuditSink } from "../audit/audit_log.ts";
import { type Caller, anonymous } from "../http/auth.ts";
import type { ConsoleContext, ConsoleHandler } from "../http/listen.ts";
import type { RequestLog } from "../http/log.ts";
import type { Activity, FeedFilter } from "./activity.ts";
import { serveAsset } from "./assets.ts";
import { eventStream } from "./events.ts";
import type { EmergencyStop } from "./pause.ts";
import { LOGIN_COOKIE, SESSION_COOKIE, type Session, Sessions, cookieValue, csrfMatches, randomId, setCookie } from "./sessions.ts";
import { type FleetSource, type JobControl, type JobsView, type OutputFiles, RUN_KINDS } from "./sources.ts";
import { FILE_ROUTES, type Identity, type Viewer, callPage, dashboard, esc, feedRows, fleetPanel, html, jobsPanel, loginPage, messagePage, securityHeaders, statusBar } from "./views.ts";
import { readSmallBody } from "../http/small_body.ts";

export interface ConsoleOptions {
  id: Identity;
  activity: Activity;
  stop: EmergencyStop;
  fleet: FleetSource;
  jobs: JobControl;
  /** The files calls' results named (spooled output, job logs), read with the file policy of read_file. */
  files: OutputFiles;
  /** Where console actions and refusals are audited (the tee, so they show in the feed too). */
  audit: AuditSink;
}

/** A form is a few short fields; anything larger is not ours. */
const MAX_FORM_BYTES = 4096;
const FEED_ROWS = 200;
/** Several open pages poll the jobs; on the hub each listing is a call per host, so they share one for this long. */
const JOBS_CACHE_MS = 2000;

type Authed = { session: Session; caller: Caller };

/** /ui/call/SEQ, and /ui/call/SEQ/stdout (stderr, log): the file that field of the call's result named. */
const CALL_PATH = /^\/ui\/call\/(\d{1,15})(?:\/([a-z]{1,10}))?$/;
/** What one file download may send: the spool's own cap (a job's log may grow without one). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Reads a small form body, refusing one over the cap before and while reading. */
async function readForm(req: Request): Promise<URLSearchParams | Response> {
  const body = await readSmallBody(req, MAX_FORM_BYTES);
  if (!body) return messagePage(413, "Too large", "<p>A console form is a few short fields.</p>");
  // A form body is ASCII (%XX escapes); URLSearchParams decodes the escapes as UTF-8.
  return new URLSearchParams(body.toString("latin1"));
}

const filterOf = (params: URLSearchParams): FeedFilter => ({
  host: params.get("host")?.slice(0, 200) || undefined,
  tool: params.get("tool")?.slice(0, 200) || undefined,
  token: params.get("token")?.slice(0, 200) || undefined,
});

const redirect = (to: string, headers: Record<string, string> = {}) => new Response(null, { status: 303, headers: { location: to, "cache-control": "no-store", ...headers } });

export function createConsole(opts: ConsoleOptions): ConsoleHandler {
  const sessions = new Sessions();
  const streams = new Set<() => void>();
  let jobsCache: { at: number; view: Promise<JobsView> } | undefined;
  const listJobs = () => {
    const now = Date.now();
    if (!jobsCache || now - jobsCache.at > JOBS_CACHE_MS) jobsCache = { at: now, view: opts.jobs.list() };
    return jobsCache.view;
  };

  const audit = (entry: Omit<AuditEntry, "time" | "duration_ms"> & { duration_ms?: number }) => {
    opts.audit.write({ time: new Date().toISOString(), duration_ms: 0, ...entry });
  };

  /** The session behind the cookie, while its token is still one of the server's (a reload may have removed it). */
  const authed = (req: Request, ctx: ConsoleContext): Authed | undefined => {
    const session = sessions.get(cookieValue(req.headers.get("cookie"), SESSION_COOKIE));
    if (!session) return undefined;
    const caller = ctx.auth ? ctx.auth.caller(session.identity) : anonymous;
    const current = ctx.auth ? session.identity < ctx.auth.count : session.identity < 0;
    if (!current || caller.id !== session.callerId) {
      sessions.end(session.id);
      return undefined;
    }
    return { session, caller };
  };

  const viewerOf = (a: Authed): Viewer => ({ callerId: a.caller.id, readOnly: a.caller.scope === "read-only", csrf: a.session.csrf });
  const isHtmx = (req: Request) => req.headers.get("hx-request") === "true";

  /** Not logged in: htmx is told to load the login page; a plain request is sent there. */
  const loginFirst = (req: Request, log: RequestLog) => {
    log.outcome = "unauthorized";
    if (isHtmx(req) || req.method !== "GET") return html(401, "<p>Log in first: <a href=\"/ui\">/ui</a></p>", { "hx-redirect": "/ui" });
    return redirect("/ui");
  };

  const loginForm = (ctx: ConsoleContext, status: number, error?: string) => {
    const loginCsrf = randomId();
    return html(status, loginPage(opts.id, loginCsrf, error), { "set-cookie": setCookie(LOGIN_COOKIE, loginCsrf, ctx.secure, 600) });
  };

  /** A POST from another site is refused whatever it carries: its Origin (when sent) must be this console's. */
  const foreignOrigin = (req: Request, ctx: ConsoleContext): boolean => {
    const origin = req.headers.get("origin")?.toLowerCase();
    if (origin === undefined) return req.headers.get("sec-fetch-site") === "cross-site";
    const own = `${new URL(req.url).protocol}//${req.headers.get("host") ?? ""}`.toLowerCase();
    return origin !== own && !ctx.allowedOrigins.has(origin);
  };

  const forbidden = (log: RequestLog, outcome: string, title: string, body: string) => {
    log.outcome = outcome;
    return messagePage(403, title, `<p>${body}</p>`);
  };

  async function login(req: Request, ctx: ConsoleContext, log: RequestLog): Promise<Response> {
    const form = await readForm(req);
    if (form instanceof Response) return form;
    if (!csrfMatches(form.get("csrf"), cookieValue(req.headers.get("cookie"), LOGIN_COOKIE) ?? "\0")) {
      log.outcome = "csrf";
      return loginForm(ctx, 403, "This login form expired or came from elsewhere; log in again here.");
    }
    let identity = -1;
    let caller = anonymous;
    if (ctx.auth) {
      identity = ctx.auth.check(`Bearer ${form.get("token") ?? ""}`);
      if (identity < 0) {
        log.outcome = "unauthorized";
        return loginForm(ctx, 401, "That token is not one of this server's tokens (the ones /mcp accepts).");
      }
      caller = ctx.auth.caller(identity);
    }
    const session = sessions.create(identity, caller);
    audit({ client: log.client, token: caller.id, tool: "console/login", outcome: "ok" });
    log.outcome = "login";
    const headers = new Headers({ location: "/ui", "cache-control": "no-store" });
    headers.append("set-cookie", setCookie(SESSION_COOKIE, session.id, ctx.secure));
    headers.append("set-cookie", setCookie(LOGIN_COOKIE, "", ctx.secure, 0));
    return new Response(null, { status: 303, headers });
  }

  /** An action: the session's CSRF token, then a full token; a read-only one is refused (403) and audited. */
  async function action(req: Request, a: Authed, tool: string, log: RequestLog, run: (form: URLSearchParams) => Promise<Response>): Promise<Response> {
    const form = await readForm(req);
    if (form instanceof Response) return form;
    if (!csrfMatches(req.headers.get("x-csrf-token") ?? form.get("csrf"), a.session.csrf)) {
      return forbidden(log, "csrf", "Refused", "The request did not carry this page's CSRF token. Reload the console and try again.");
    }
    if (a.caller.scope === "read-only") {
      const reason = `${tool} needs a full token: ${a.caller.id} is read-only`;
      audit({ client: log.client, token: a.caller.id, tool, outcome: "denied", error: reason });
      return forbidden(log, "forbidden_read_only", "Refused: read-only", esc(reason));
    }
    return run(form);
  }

  const answerFragment = (req: Request, fragment: string) => (isHtmx(req) ? html(200, fragment) : redirect("/ui"));

  const gone = (log: RequestLog, seq: number) => {
    log.outcome = "not_found";
    return messagePage(404, "Call not kept", `<p>Call ${seq} is not in the console's memory: it keeps the last ${opts.activity.capacity.toLocaleString("en")} calls (their output for the last ${opts.activity.detailCapacity}). The audit log is the record: <code>lmcp audit</code>.</p><p><a href="/ui">Back to the console</a></p>`);
  };

  /** GET /ui/call/SEQ[/FILE]: the call's view, or the whole file its result named, streamed a read_file page at a time. */
  async function callView(a: Authed, seq: number, segment: string | undefined, log: RequestLog): Promise<Response> {
    const detail = opts.activity.detail(seq);
    if (!detail) return gone(log, seq);
    log.outcome = "ok";
    if (segment === undefined) return html(200, callPage({ id: opts.id, viewer: viewerOf(a), paused: opts.stop.current, detail }));
    const route = Object.hasOwn(FILE_ROUTES, segment) ? FILE_ROUTES[segment] : undefined;
    // Only a file this call's own result named: the console is not a file reader for any path a URL asks for.
    const file = route ? detail.output?.files.find((f) => f.field === route.field) : undefined;
    if (!file) {
      log.outcome = "not_found";
      return messagePage(404, "No such file", `<p>Call ${seq}'s result named no such file (or its output is no longer kept). <a href="/ui/call/${seq}">Back to the call</a></p>`);
    }
    const host = opts.id.role === "hub" ? detail.event.host : undefined;
    const first = await opts.files.page(host, file.path, 0);
    if ("error" in first) {
      log.outcome = first.denied ? "forbidden_policy" : "file_error";
      return messagePage(first.denied ? 403 : 404, "Cannot read the file", `<p>${esc(file.path)}: ${esc(first.error)}</p><p>Spool files are kept 24 h. <a href="/ui/call/${seq}">Back to the call</a></p>`);
    }
    const encoder = new TextEncoder();
    let page: typeof first | undefined = first;
    let offset = 0;
    let sent = 0;
    // Pulled as the browser reads: one page in memory at a time, however large the file.
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(c) {
          const p = page ?? (await opts.files.page(host, file.path, offset));
          page = undefined;
          if ("error" in p) {
            c.enqueue(encoder.encode(`\n[lmcp console: the rest could not be read: ${p.error}]\n`));
            c.close();
            return;
          }
          const bytes = p.bytes.subarray(0, Math.max(0, MAX_FILE_BYTES - sent));
          if (bytes.length) c.enqueue(bytes);
          sent += bytes.length;
          if (sent >= MAX_FILE_BYTES && p.next !== undefined) {
            c.enqueue(encoder.encode(`\n[lmcp console: stopped after ${MAX_FILE_BYTES} bytes; read the rest with read_file offset=${offset + bytes.length}]\n`));
            c.close();
          } else if (p.next === undefined || p.next <= offset || p.bytes.length === 0) c.close();
          else offset = p.next;
        },
      },
      { highWaterMark: 0 },
    );
    const name = file.path.slice(file.path.lastIndexOf("/") + 1).replace(/[^\w.-]/g, "_") || "output";
    return new Response(body, {
      headers: { ...securityHeaders, "content-type": "text/plain; charset=utf-8", "content-disposition": `inline; filename="${name}"` },
    });
  }

  async function route(req: Request, path: string, params: URLSearchParams, ctx: ConsoleContext, log: RequestLog): Promise<Response> {
    const get = req.method === "GET" || req.method === "HEAD";
    if (path.startsWith("/ui/assets/")) {
      if (!get) return messagePage(405, "Not allowed", "<p>Assets answer GET.</p>");
      return serveAsset(path.slice("/ui/assets/".length), req) ?? messagePage(404, "No such file", "<p>The console has no such asset.</p>");
    }
    if (req.method === "POST" && foreignOrigin(req, ctx)) return forbidden(log, "forbidden_origin", "Refused", "The form was sent from another site.");
    if (path === "/ui/login") {
      if (req.method !== "POST") return redirect("/ui");
      return login(req, ctx, log);
    }
    const a = authed(req, ctx);
    if (!a && !ctx.auth && (path === "/ui" || path === "/ui/") && get) {
      // Auth is off (--no-auth): there is no token to ask for; the session still carries the CSRF token.
      const session = sessions.create(-1, anonymous);
      return redirect("/ui", { "set-cookie": setCookie(SESSION_COOKIE, session.id, ctx.secure) });
    }
    if (path === "/ui" || path === "/ui/") {
      if (!get) return messagePage(405, "Not allowed", "<p>/ui answers GET.</p>");
      if (!a) return loginForm(ctx, 200);
      log.outcome = "ok";
      const hosts = await opts.fleet.hosts();
      const filter = filterOf(params);
      return html(200, dashboard({ id: opts.id, viewer: viewerOf(a), paused: opts.stop.current, hosts, events: opts.activity.recent(filter, FEED_ROWS), filter, lastSeq: opts.activity.lastSeq }));
    }
    if (!a) return loginFirst(req, log);
    const viewer = viewerOf(a);
    const callMatch = get ? CALL_PATH.exec(path) : null;
    if (callMatch) return callView(a, Number(callMatch[1]), callMatch[2], log);
    switch (`${get ? "GET" : req.method} ${path}`) {
      case "POST /ui/logout": {
        const form = await readForm(req);
        if (form instanceof Response) return form;
        if (!csrfMatches(form.get("csrf") ?? req.headers.get("x-csrf-token"), a.session.csrf)) return forbidden(log, "csrf", "Refused", "The request did not carry this page's CSRF token.");
        sessions.end(a.session.id);
        log.outcome = "logout";
        return redirect("/ui", { "set-cookie": setCookie(SESSION_COOKIE, "", ctx.secure, 0) });
      }
      case "GET /ui/status":
        return html(200, statusBar(opts.id, viewer, opts.stop.current));
      case "GET /ui/fleet":
        return html(200, fleetPanel(opts.id, await opts.fleet.hosts()));
      case "GET /ui/jobs":
        return html(200, jobsPanel(await listJobs(), viewer));
      case "GET /ui/feed": {
        const events = opts.activity.recent(filterOf(params), FEED_ROWS);
        return html(200, feedRows(events), { "x-lmcp-last-seq": String(opts.activity.lastSeq) });
      }
      case "GET /ui/events": {
        log.outcome = "stream";
        const lastId = Number(req.headers.get("last-event-id") ?? params.get("after") ?? "0");
        const session = a.session;
        return eventStream({
          activity: opts.activity,
          stop: opts.stop,
          filter: filterOf(params),
          after: Number.isFinite(lastId) && lastId > 0 ? lastId : 0,
          alive: () => sessions.get(session.id) !== undefined,
          track: (end) => {
            streams.add(end);
            return () => streams.delete(end);
          },
        });
      }
      case "POST /ui/stop":
        return action(req, a, "console/stop", log, async () => {
          if (opts.stop.stop(viewer.callerId)) audit({ client: log.client, token: viewer.callerId, tool: "console/stop", outcome: "ok" });
          log.outcome = "stopped";
          return answerFragment(req, statusBar(opts.id, viewer, opts.stop.current));
        });
      case "POST /ui/resume":
        return action(req, a, "console/resume", log, async () => {
          if (opts.stop.resume()) audit({ client: log.client, token: viewer.callerId, tool: "console/resume", outcome: "ok" });
          log.outcome = "resumed";
          return answerFragment(req, statusBar(opts.id, viewer, opts.stop.current));
        });
      case "POST /ui/jobs/kill":
        return action(req, a, "console/kill", log, async (form) => {
          const host = form.get("host") ?? "";
          const id = form.get("job_id") ?? "";
          const kind = RUN_KINDS.find((k) => k === form.get("kind")) ?? "job";
          const signal = form.get("signal") === "KILL" ? "KILL" : "TERM";
          const started = performance.now();
          const r = await opts.jobs.kill(kind, host, id, signal);
          audit({
            client: log.client,
            token: viewer.callerId,
            tool: "console/kill",
            host: host.slice(0, 256),
            ...(kind === "job" ? { job_id: id.slice(0, 128) } : kind === "session" ? { session_id: id.slice(0, 64) } : {}),
            command: (kind === "session" ? `close session ${id}` : `kill -${signal} ${kind === "shell" ? "shell command " : ""}${id}`).slice(0, 200),
            outcome: r.ok ? "ok" : "error",
            ...(r.ok ? {} : { error: r.text.slice(0, 500) }),
            duration_ms: Math.round(performance.now() - started),
          });
          log.outcome = r.ok ? "killed" : "kill_failed";
          jobsCache = undefined;
          return answerFragment(req, jobsPanel(await listJobs(), viewer, r));
        });
      default:
        log.outcome = "not_found";
        return messagePage(404, "No such page", '<p>The console is at <a href="/ui">/ui</a>.</p>');
    }
  }

  return {
    async handle(req, fullPath, ctx, log) {
      log.method = "console";
      const q = fullPath.indexOf("?");
      const path = q < 0 ? fullPath : fullPath.slice(0, q);
      const host = req.headers.get("host") ?? "";
      if (ctx.hostCheck && !ctx.hostCheck.allows(host)) {
        return forbidden(log, "forbidden_host", "Wrong address", `This server does not answer to ${esc(host)}; it answers to ${esc(ctx.hostCheck.expected)}.`);
      }
      if (!ctx.private) {
        log.outcome = "not_private";
        return messagePage(
          403,
          "The console is off on this listener",
          "<p>This listener is neither on loopback nor HTTPS, so a token typed here and the session cookie would cross the network in clear. " +
            "lmcp offers the console only on a loopback listener or with TLS (<code>tls_cert</code> and <code>tls_key</code>).</p>" +
            "<p>To reach a loopback console from another machine, tunnel it: <code>ssh -L 8766:127.0.0.1:8766 THIS-HOST</code>, then open http://127.0.0.1:8766/ui.</p>",
        );
      }
      return route(req, path, new URLSearchParams(q < 0 ? "" : fullPath.slice(q + 1)), ctx, log);
    },
    close() {
      for (const end of [...streams]) end();
    },
  };
}
