// Runs an MCP server over HTTP for serve and hub alike: Bun.serve behind the
// boundary checks, one log line per request, SIGHUP reload, graceful SIGTERM.
import { hostname } from "node:os";
import { ConfigError } from "../config/file.ts";
import type { ServerSettings } from "../config/server.ts";
import { type BearerAuth, openAuth } from "./auth.ts";
import { type Admitted, type BoundaryOptions, type HostCheck, admit, corsHeaders, hostCheck, pathOf, route, text } from "./boundary.ts";
import { type PageContext, type PasswordPrompts, sudoPage } from "./sudo_page.ts";
import { BodySlots, LARGE_BODY_SLOTS } from "./body_slots.ts";
import { canonicalHost, isLoopback, loopbackOrigins } from "./host_names.ts";
import { type RequestLog, flushLog, logEvent, logRequest } from "./log.ts";
import { lmcpCommandName } from "../version.ts";

export interface RunningHttp {
  url: string;
  /**
   * Hands over a SIGTERM/SIGINT that arrived after the listening line but before exitOnSignals took over (and
   * stops catching them here); undefined when none did.
   */
  takeEarlySignal(): NodeJS.Signals | undefined;
  /** Where a browser on this host reaches the listener: the URL's origin, with a wildcard address named by the host name. */
  pageBase: string;
  /** HTTPS, or a loopback listener: pages that take a password may be served. */
  private: boolean;
  /** Stops accepting, waits (bounded) for calls in flight, then cancels the rest. */
  shutdown(reason: string): Promise<void>;
}

/** What answers an admitted POST /mcp (src/mcp/endpoint.ts builds it; this layer only calls it). */
export interface McpHttpHandler {
  handle(admitted: Admitted, req: Request, log: RequestLog, headers: Record<string, string>): Promise<Response>;
  /** Calls being handled now. */
  inFlight(): number;
  /** Ends every call in flight with a cancellation reply. */
  cancelAll(reason: string): void;
}

/** What the listener hands the web console: the same tokens, Host check and privacy verdict as the rest of it. */
export interface ConsoleContext {
  /** null when auth was turned off with --no-auth. */
  auth: BearerAuth | null;
  hostCheck: HostCheck | null;
  /** HTTPS, or a loopback listener: a token may be typed and a session cookie sent. */
  private: boolean;
  /** HTTPS: cookies get Secure. */
  secure: boolean;
  allowedOrigins: ReadonlySet<string>;
}

/** The web console at /ui (src/console/routes.ts builds it; this layer only calls it). */
export interface ConsoleHandler {
  handle(req: Request, path: string, ctx: ConsoleContext, log: RequestLog): Promise<Response>;
  /** Ends its live streams (SSE), so shutdown does not wait for them. */
  close(): void;
}

export interface HttpOptions {
  settings: ServerSettings;
  mcp: McpHttpHandler;
  /** Extra SIGHUP work (the hub re-reads its registry); returns a line for the log. */
  onReload?: () => string;
  /** A tool's scope by name, so a read-only token's write or exec call is refused from its Mcp-Name header. */
  toolScope?: BoundaryOptions["toolScope"];
  /** Audits a call refused from its headers. */
  onDenied?: BoundaryOptions["onDenied"];
  /** Pending sudo password requests, answered on /sudo/ID pages (serve only). */
  passwordPrompts?: PasswordPrompts;
  /** GET /metrics: the Prometheus exposition, and the tokens allowed to read it (null: anyone who reaches the port). */
  metrics?: { render(): Promise<{ body: string; contentType: string }>; tokenFile: string | undefined };
  /** GET/POST /ui and /ui/*: the web console (on unless `console = false`). */
  webConsole?: ConsoleHandler;
}

/** Long tool calls must not be cut by Bun's idle timeout once the body is in. */
const IDLE_TIMEOUT_S = 30;

/**
 * A burst of calls leaves garbage that JavaScriptCore would otherwise keep until the next burst;
 * once the server has had no request for a whole interval this long (or since it began listening), one full
 * collection gives it back, so a host's idle lmcp stays at its floor however busy it was before.
 */
const IDLE_GC_MS = 1000;

function idleCollector(): { touch(): void } {
  let calls = 0;
  let callsAtLastTick = 0;
  let garbage = true; // start-up's own counts too
  // A tick per interval rather than a timer re-armed per request: the hot path only counts.
  setInterval(() => {
    if (calls !== callsAtLastTick) {
      callsAtLastTick = calls;
      garbage = true;
    } else if (garbage) {
      garbage = false;
      Bun.gc(true);
    }
  }, IDLE_GC_MS).unref();
  return {
    touch() {
      calls++;
    },
  };
}

/**
 * The address the socket really bound: `127.1`, `0x7f.1`, `localhost` or a host name in /etc/hosts all end up as
 * one numeric address, and the Host check must see that one, not the spelling in the config.
 */
function boundAddress(server: Bun.Server<undefined>, configured: string): string {
  // Bun reports it as `server.address` (not in its type declarations yet); the configured name is the fallback.
  const address = (server as unknown as { address?: { address?: unknown } }).address?.address;
  return typeof address === "string" && address !== "" ? address : configured;
}

/** Bun's "Is port N in use?" names neither the address nor how to pick another: this does. */
function listenOrExplain<T>(settings: ServerSettings, listen: () => T): T {
  try {
    return listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = settings.hostname.includes(":") ? `[${settings.hostname}]:${settings.port}` : `${settings.hostname}:${settings.port}`;
    if (code === "EADDRINUSE") {
      throw new ConfigError(`cannot listen on ${where}: the address is already in use (another lmcp, or another server?); pick another with --listen HOST:PORT, LMCP_LISTEN or listen in the config file`);
    }
    if (code === "EACCES") throw new ConfigError(`cannot listen on ${where}: permission denied (ports below 1024 need root); pick another with --listen HOST:PORT`);
    if (code === "EADDRNOTAVAIL") throw new ConfigError(`cannot listen on ${where}: no interface on this host has that address; pick another with --listen HOST:PORT`);
    throw err;
  }
}

export async function startHttp({ settings, mcp, onReload, toolScope, onDenied, passwordPrompts, metrics, webConsole }: HttpOptions): Promise<RunningHttp> {
  const authState = openAuth(settings.auth);
  // Its own tokens: a scraper's token opens /metrics and nothing else (and an agent's token does not open /metrics).
  const metricsAuth = metrics?.tokenFile ? openAuth({ mode: "file", file: metrics.tokenFile, isDefault: false }) : undefined;
  const allowedOrigins = new Set(settings.allowedOrigins.map((o) => o.toLowerCase()));
  // The Host check and the loopback Origins depend on the address really bound, known once listening (below).
  const boundary: BoundaryOptions = {
    auth: authState.auth,
    allowedOrigins,
    hostCheck: null,
    maxBodyBytes: settings.maxBodyBytes,
    largeBodies: new BodySlots(LARGE_BODY_SLOTS),
    toolScope,
    onDenied,
  };

  const pageCtx: PageContext = { hostCheck: null, private: false };
  const consoleCtx: ConsoleContext = { auth: authState.auth, hostCheck: null, private: false, secure: Boolean(settings.tls), allowedOrigins };
  const idleGc = idleCollector();
  const server = listenOrExplain(settings, () => Bun.serve({
    hostname: settings.hostname,
    port: settings.port,
    idleTimeout: IDLE_TIMEOUT_S,
    // Bun's own cap would answer 413 before auth runs; ours (in the boundary) runs after auth, on
    // Content-Length and then while streaming, so an unauthenticated body is never read at all.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    ...(settings.tls ? { tls: { cert: Bun.file(settings.tls.cert), key: Bun.file(settings.tls.key) } } : {}),
    async fetch(req, srv) {
      const started = performance.now();
      idleGc.touch();
      const ip = srv.requestIP(req);
      const log: RequestLog = { client: ip ? (ip.family === "IPv6" ? `[${ip.address}]:${ip.port}` : `${ip.address}:${ip.port}`) : "-", status: 0, outcome: "ok" };
      let res: Response;
      try {
        const page = passwordPrompts && req.url.includes("/sudo/") ? await sudoPage(req, pathOf(req.url), passwordPrompts, pageCtx, log) : undefined;
        const ui = webConsole && req.url.includes("/ui") ? await answerConsole(req, log) : undefined;
        res = page ?? ui ?? (metrics && req.url.endsWith("/metrics") ? await answerMetrics(req, log) : undefined) ?? route(req, log) ?? (await answerMcp(req, srv, log));
      } catch (err) {
        if (req.signal.aborted) {
          // The client closed before its body was complete: nobody to answer, and no bug of ours.
          log.outcome = "client_closed";
          res = text(400, "bad request: the connection closed before the request body was complete");
        } else {
          log.outcome = "internal_error";
          logEvent(`error: ${err instanceof Error ? err.stack || err.message : String(err)}`);
          res = text(500, "internal error (a bug in lmcp; the server keeps running)");
        }
      }
      log.status = res.status;
      if (log.settled) log.settled.then(() => logRequest(log, started));
      else logRequest(log, started);
      return res;
    },
    error(err) {
      logEvent(`error: ${err.stack ?? err.message}`);
      return text(500, "internal error");
    },
  }));

  /** GET /metrics for Prometheus: the same Host check as /mcp, then the metrics token when one is set. */
  async function answerMetrics(req: Request, log: RequestLog): Promise<Response | undefined> {
    if (pathOf(req.url) !== "/metrics") return undefined;
    log.method = "metrics";
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed: /metrics answers GET", { allow: "GET, HEAD" });
    const host = req.headers.get("host");
    if (boundary.hostCheck && (host === null || !boundary.hostCheck.allows(host))) {
      log.outcome = "forbidden_host";
      return text(403, `forbidden: Host ${JSON.stringify(host ?? "")} is not a name of this server`);
    }
    if (metricsAuth?.auth && metricsAuth.auth.check(req.headers.get("authorization")) < 0) {
      log.outcome = "unauthorized";
      return text(401, "unauthorized: /metrics needs a token from metrics_token_file (Authorization: Bearer TOKEN)", { "www-authenticate": 'Bearer realm="lmcp-metrics"' });
    }
    const { body, contentType } = await metrics!.render();
    return new Response(req.method === "HEAD" ? null : body, { headers: { "content-type": contentType, "cache-control": "no-store" } });
  }

  /** /ui and /ui/*: the console's own checks (Host, loopback or TLS, session, CSRF) are in src/console/routes.ts. */
  async function answerConsole(req: Request, log: RequestLog): Promise<Response | undefined> {
    const path = pathOf(req.url);
    if (!(path === "/ui" || path.startsWith("/ui/") || path.startsWith("/ui?"))) return undefined;
    return webConsole!.handle(req, path, consoleCtx, log);
  }

  async function answerMcp(req: Request, srv: Bun.Server<undefined>, log: RequestLog): Promise<Response> {
    const admitted = await admit(req, boundary, log);
    if (admitted instanceof Response) return admitted;
    srv.timeout(req, 0);
    const headers = admitted.corsOrigin ? corsHeaders(admitted.corsOrigin) : {};
    let res: Response;
    try {
      res = await mcp.handle(admitted, req, log, headers);
    } catch (err) {
      admitted.release();
      throw err;
    }
    // A large body's slot is held until its answer is complete: a streamed one when its stream ends.
    if (log.settled) log.settled.then(admitted.release);
    else admitted.release();
    return res;
  }

  // Set before this function yields, so no request is ever checked without them.
  const bound = boundAddress(server, settings.hostname);
  boundary.hostCheck = hostCheck(bound, settings.allowedHosts);
  const boundHost = canonicalHost(bound);
  pageCtx.hostCheck = boundary.hostCheck;
  pageCtx.private = Boolean(settings.tls) || (boundHost !== null && isLoopback(boundHost));
  consoleCtx.hostCheck = boundary.hostCheck;
  consoleCtx.private = pageCtx.private;
  if (boundHost !== null && isLoopback(boundHost) && server.port !== undefined) {
    // Pages on this listener's own loopback origin are not a rebinding attack (and the conformance suite sends them).
    for (const o of loopbackOrigins(boundHost, server.port)) allowedOrigins.add(o);
  }

  const scheme = settings.tls ? "https" : "http";
  const shownHost = server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname;
  const url = `${scheme}://${shownHost}:${server.port}/mcp`;

  process.on("SIGHUP", () => {
    logEvent(`SIGHUP: ${authState.reload()}`);
    if (metricsAuth) logEvent(`SIGHUP: metrics tokens: ${metricsAuth.reload()}`);
    if (onReload) logEvent(`SIGHUP: ${onReload()}`);
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      webConsole?.close();
      logEvent(`${reason}: no longer accepting; waiting up to ${settings.shutdownGraceS}s for ${mcp.inFlight()} call(s) in flight`);
      const drained = server.stop(false).then(() => true);
      const timer = new Promise<boolean>((r) => setTimeout(() => r(false), settings.shutdownGraceS * 1000).unref());
      if (!(await Promise.race([drained, timer]))) {
        logEvent(`${reason}: grace period over; cancelling ${mcp.inFlight()} call(s)`);
        mcp.cancelAll("server shutting down");
        await server.stop(true);
      }
      flushLog();
    })();
    return stopping;
  };

  // The binary starts with a reluctant JIT so run-once start-up code stays interpreted (build/build.ts);
  // from here on the code that runs is the code that serves calls, and it should be compiled.
  Bun.unsafe.setJITPolicy(1);

  // From the listening line on, a SIGTERM must shut down cleanly, even before the caller installs exitOnSignals.
  let early: NodeJS.Signals | undefined;
  const keepEarly = (signal: NodeJS.Signals) => {
    early ??= signal;
  };
  process.on("SIGTERM", keepEarly);
  process.on("SIGINT", keepEarly);
  const takeEarlySignal = () => {
    process.off("SIGTERM", keepEarly);
    process.off("SIGINT", keepEarly);
    return early;
  };

  const role = settings.role === "hub" ? "hub" : "serve";
  logEvent(`lmcp ${role} "${settings.name}" listening on ${url} (${authState.describe}); run \`${lmcpCommandName} client-config${role === "hub" ? " --hub" : ""}\` to set up a client`);
  if (!authState.auth) logEvent("WARNING: auth is off (--no-auth); every request is accepted");
  const wildcard = server.hostname === "0.0.0.0" || server.hostname === "::";
  const pageBase = wildcard ? `${scheme}://${hostname()}:${server.port}` : url.replace(/\/mcp$/, "");
  return { url, pageBase, private: pageCtx.private, shutdown, takeEarlySignal };
}

/** SIGTERM and SIGINT end the process cleanly after in-flight calls finish. */
export function exitOnSignals(running: RunningHttp): void {
  const stop = (signal: NodeJS.Signals) => void running.shutdown(signal).then(() => process.exit(0));
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop(signal));
  const early = running.takeEarlySignal();
  if (early) stop(early);
}
