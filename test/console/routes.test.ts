// The console's handler without a browser: refused off loopback without TLS and
// to a foreign Host or Origin, login and CSRF, a read-only session's actions
// refused and audited, the feed ring, sessions' idle expiry, the emergency
// stop's refusal through the MCP handlers, and a slow SSE reader dropped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as netConnect } from "node:net";
import type { AuditEntry } from "../../src/audit/audit_log.ts";
import { Activity } from "../../src/console/activity.ts";
import { openConsole } from "../../src/console/console.ts";
import { QUEUE_LIMIT } from "../../src/console/events.ts";
import { createConsole } from "../../src/console/routes.ts";
import { Sessions } from "../../src/console/sessions.ts";
import type { JobControl } from "../../src/console/sources.ts";
import { BearerAuth } from "../../src/http/auth.ts";
import type { ConsoleContext, ConsoleHandler } from "../../src/http/listen.ts";
import type { RequestLog } from "../../src/http/log.ts";
import { toolHandlers } from "../../src/mcp/server.ts";
import { listDir } from "../../src/tools/list_dir.ts";
import { waitFor } from "../helpers/server.ts";

const FULL = `full-${crypto.randomUUID()}`;
const RO = `ro-${crypto.randomUUID()}`;
const auth = new BearerAuth([
  { token: FULL, scope: "full", name: "operator" },
  { token: RO, scope: "read-only", name: "watcher" },
]);

const audited: AuditEntry[] = [];
const kills: string[] = [];
const jobs: JobControl = {
  async list() {
    return { rows: [{ host: "h1", job_id: "j-aaaaaaaaaa", pid: 4242, command: "sleep 99", started_at: new Date().toISOString(), log_size: 0 }], problems: [] };
  },
  async kill(host, jobId, signal) {
    kills.push(`${host} ${jobId} ${signal}`);
    return { ok: true, text: `sent SIG${signal} to job ${jobId}` };
  },
};
const ui = openConsole({ role: "serve", name: "h1", version: "0.0.0" }, { write: (e) => audited.push(e) });
const handler = createConsole({ id: { role: "serve", name: "h1", version: "0.0.0" }, activity: ui.activity, stop: ui.stop, fleet: { hosts: async () => [] }, jobs, audit: ui.mcpHooks.audit });

let server: Bun.Server<undefined>;
let base: string;
const ctx: ConsoleContext = { auth, hostCheck: null, private: true, secure: false, allowedOrigins: new Set() };

function serveWith(h: ConsoleHandler, c: ConsoleContext) {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const log: RequestLog = { client: "test", status: 0, outcome: "ok" };
      const url = new URL(req.url);
      return h.handle(req, url.pathname + url.search, c, log);
    },
  });
}

beforeAll(() => {
  server = serveWith(handler, ctx);
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(() => {
  handler.close();
  server?.stop(true);
});

/** Logs in with `token` as a browser would (the login form's cookie and field first); returns the cookie and CSRF. */
async function login(token: string): Promise<{ cookie: string; csrf: string }> {
  const form = await fetch(`${base}/ui`);
  const loginCookie = /lmcp_login=([^;]+)/.exec(form.headers.get("set-cookie") ?? "")![1]!;
  const r = await fetch(`${base}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: `lmcp_login=${loginCookie}`, "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ token, csrf: loginCookie }),
  });
  expect(r.status).toBe(303);
  const session = /lmcp_session=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")![1]!;
  expect(r.headers.get("set-cookie")).toContain("HttpOnly");
  expect(r.headers.get("set-cookie")).toContain("SameSite=Strict");
  expect(r.headers.get("set-cookie")).toContain("Path=/ui");
  expect(r.headers.get("set-cookie")).not.toContain(token);
  const page = await (await fetch(`${base}/ui`, { headers: { cookie: `lmcp_session=${session}` } })).text();
  const csrf = /name="lmcp-csrf" content="([^"]+)"/.exec(page)![1]!;
  return { cookie: `lmcp_session=${session}`, csrf };
}

const post = (path: string, s: { cookie: string }, body: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: "POST", redirect: "manual", headers: { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(body) });

describe("access", () => {
  test("a listener that is neither loopback nor HTTPS gets a page that says why, not a login form", async () => {
    const open = serveWith(handler, { ...ctx, private: false });
    try {
      const r = await fetch(`http://127.0.0.1:${open.port}/ui`);
      expect(r.status).toBe(403);
      const text = await r.text();
      expect(text).toContain("neither on loopback nor HTTPS");
      expect(text).toContain("tls_cert");
      expect(text).not.toContain('name="token"');
    } finally {
      open.stop(true);
    }
  });

  test("a foreign Host is refused (DNS rebinding)", async () => {
    const strict = serveWith(handler, { ...ctx, hostCheck: { allows: (h) => h.startsWith("127.0.0.1"), expected: "127.0.0.1" } });
    try {
      const r = await fetch(`http://127.0.0.1:${strict.port}/ui`, { headers: { host: "evil.example" } });
      expect(r.status).toBe(403);
    } finally {
      strict.stop(true);
    }
  });

  test("a wrong token is refused; the login form's CSRF must match its cookie", async () => {
    const form = await fetch(`${base}/ui`);
    const c = /lmcp_login=([^;]+)/.exec(form.headers.get("set-cookie") ?? "")![1]!;
    const wrong = await fetch(`${base}/ui/login`, { method: "POST", redirect: "manual", headers: { cookie: `lmcp_login=${c}`, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: "nope", csrf: c }) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie") ?? "").not.toContain("lmcp_session");
    const forged = await fetch(`${base}/ui/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: FULL, csrf: c }) });
    expect(forged.status).toBe(403);
    expect(forged.headers.get("set-cookie") ?? "").not.toContain("lmcp_session");
  });

  test("fragments need a session: htmx is sent to the login page", async () => {
    const r = await fetch(`${base}/ui/fleet`, { headers: { "hx-request": "true" } });
    expect(r.status).toBe(401);
    expect(r.headers.get("hx-redirect")).toBe("/ui");
  });

  test("an action without the session's CSRF token, or from another Origin, is refused and changes nothing", async () => {
    const s = await login(FULL);
    expect((await post("/ui/stop", s, {})).status).toBe(403);
    expect((await post("/ui/stop", s, { csrf: "x".repeat(s.csrf.length) })).status).toBe(403);
    expect((await post("/ui/stop", s, { csrf: s.csrf }, { origin: "http://evil.example" })).status).toBe(403);
    expect(ui.stop.current).toBeUndefined();
  });

  test("a read-only session cannot stop or kill (403), and the refusal is audited", async () => {
    const s = await login(RO);
    const page = await (await fetch(`${base}/ui`, { headers: { cookie: s.cookie } })).text();
    expect(page).not.toContain("Emergency stop");
    const jobsHtml = await (await fetch(`${base}/ui/jobs`, { headers: { cookie: s.cookie } })).text();
    expect(jobsHtml).toContain("j-aaaaaaaaaa");
    expect(jobsHtml).not.toContain("/ui/jobs/kill");
    expect((await post("/ui/stop", s, { csrf: s.csrf })).status).toBe(403);
    expect((await post("/ui/jobs/kill", s, { csrf: s.csrf, host: "h1", job_id: "j-aaaaaaaaaa", signal: "KILL" })).status).toBe(403);
    expect(ui.stop.current).toBeUndefined();
    expect(kills).toEqual([]);
    const denied = audited.filter((e) => e.outcome === "denied" && e.token === "watcher");
    expect(denied.map((e) => e.tool).sort()).toEqual(["console/kill", "console/stop"]);
  });

  test("a full session stops, resumes and kills; each is audited with its token's name", async () => {
    const s = await login(FULL);
    expect((await post("/ui/stop", s, { csrf: s.csrf })).status).toBe(303);
    expect(ui.stop.current?.by).toBe("operator");
    expect(ui.mcpHooks.paused()).toContain("paused all agents from the lmcp console");
    expect((await post("/ui/resume", s, {}, { "x-csrf-token": s.csrf, "hx-request": "true" })).status).toBe(200);
    expect(ui.stop.current).toBeUndefined();
    const killed = await post("/ui/jobs/kill", s, { csrf: s.csrf, host: "h1", job_id: "j-aaaaaaaaaa", signal: "TERM" }, { "hx-request": "true" });
    expect(killed.status).toBe(200);
    expect(await killed.text()).toContain("sent SIGTERM");
    expect(kills).toEqual(["h1 j-aaaaaaaaaa TERM"]);
    const mine = audited.filter((e) => e.token === "operator" && e.outcome === "ok").map((e) => e.tool);
    expect(mine).toEqual(expect.arrayContaining(["console/stop", "console/resume", "console/kill"]));
  });

  test("logout ends the session", async () => {
    const s = await login(FULL);
    expect((await post("/ui/logout", s, { csrf: s.csrf })).status).toBe(303);
    const r = await fetch(`${base}/ui/fleet`, { redirect: "manual", headers: { cookie: s.cookie } });
    expect(r.status).toBe(303);
  });
});

describe("pieces", () => {
  test("the ring keeps the newest calls, filters by substring, and answers what came after a seq", () => {
    const a = new Activity("here", 3);
    const entry = (tool: string, host?: string): AuditEntry => ({ time: new Date().toISOString(), client: "c", token: "t", tool, outcome: "ok", duration_ms: 1, ...(host ? { host } : {}) });
    a.record(entry("shell"));
    a.record(entry("read_file", "alpha"));
    a.record(entry("remote_shell", "beta"));
    a.record(entry("list_dir"));
    expect(a.recent({}, 10).map((e) => e.tool)).toEqual(["list_dir", "remote_shell", "read_file"]);
    expect(a.recent({ tool: "SHELL" }, 10).map((e) => e.host)).toEqual(["beta"]);
    expect(a.recent({}, 10, 3).map((e) => e.seq)).toEqual([4]);
    expect(a.recent({}, 10)[0]!.host).toBe("here");
  });

  test("sessions end after 12 h idle, not while used", () => {
    let now = 0;
    const s = new Sessions(12 * 3600_000, () => now);
    const one = s.create(0, { id: "a", scope: "full" });
    now += 11 * 3600_000;
    expect(s.get(one.id)).toBeDefined();
    now += 11 * 3600_000;
    expect(s.get(one.id)).toBeDefined();
    now += 12 * 3600_000 + 1;
    expect(s.get(one.id)).toBeUndefined();
  });

  test("while stopped, every tools/call is refused with the stop's message, reads included, and audited", async () => {
    const seen: AuditEntry[] = [];
    const hooks = openConsole({ role: "serve", name: "h2", version: "0" }, { write: (e) => seen.push(e) });
    const handlers = toolHandlers({ name: "t", title: "t", version: "0", instructions: "", tools: [listDir], context: { limits: { maxOutputBytes: 1024, maxReadBytes: 1024, maxTimeoutS: 10 }, stateDir: "/nonexistent" }, ...hooks.mcpHooks });
    hooks.stop.consoleUrl = "http://127.0.0.1:1/ui";
    hooks.stop.stop("operator");
    const extra = { mcpReq: { signal: new AbortController().signal, _meta: undefined, envelope: undefined, requestState: () => undefined }, http: undefined } as unknown as Parameters<typeof handlers.call>[1];
    const r = (await handlers.call({ params: { name: "list_dir", arguments: { path: "/" } } }, extra)) as { isError?: boolean; content: { text: string }[] };
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toContain("paused all agents from the lmcp console");
    expect(r.content[0]!.text).toContain("Resume on the console at http://127.0.0.1:1/ui");
    expect(seen.at(-1)).toMatchObject({ tool: "list_dir", outcome: "denied" });
    hooks.stop.resume();
    const ok = (await handlers.call({ params: { name: "list_dir", arguments: { path: "/" } } }, extra)) as { isError?: boolean };
    expect(ok.isError).toBeUndefined();
    // A read that was not refused is not audited, but the feed still sees it (onCall).
    expect(hooks.activity.recent({}, 1)[0]).toMatchObject({ tool: "list_dir", outcome: "ok" });
  });

  test("a browser that stops reading the event stream is dropped, not buffered without limit", async () => {
    const s = await login(FULL);
    const before = ui.activity.listenerCount;
    const socket = netConnect({ host: "127.0.0.1", port: server.port as number });
    try {
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      let head = "";
      socket.once("data", (d) => {
        head = d.toString("latin1");
        socket.pause(); // from now on, read nothing: the kernel's buffers fill, then lmcp's queue
      });
      socket.write(`GET /ui/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${s.cookie}\r\nAccept: text/event-stream\r\n\r\n`);
      await waitFor("the stream to open", () => (ui.activity.listenerCount > before && head.includes("200") ? true : undefined));
      const big = "x".repeat(8192);
      // Far more than the kernel's socket buffers and the queue hold; bounded, and stops as soon as the drop happens.
      for (let i = 0; i < 50 * QUEUE_LIMIT && ui.activity.listenerCount > before; i++) {
        ui.mcpHooks.onCall({ time: new Date().toISOString(), client: "c", token: "t", tool: "shell", command: big, outcome: "ok", duration_ms: 0 });
        if (i % 64 === 0) await Bun.sleep(0); // let the server write what the socket takes
      }
      await waitFor("the slow stream to be dropped", () => (ui.activity.listenerCount === before ? true : undefined));
    } finally {
      socket.destroy();
    }
  });
});

describe("settings", () => {
  test("console = false turns /ui off (404); on by default on loopback, with its assets embedded", async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { startServer } = await import("../helpers/server.ts");
    const dir = mkdtempSync(join(tmpdir(), "lmcp-console-off-"));
    writeFileSync(join(dir, "lmcp.toml"), "console = false\n");
    const off = await startServer({ args: ["--config", join(dir, "lmcp.toml")] });
    const on = await startServer();
    try {
      expect((await fetch(`${off.base}/ui`)).status).toBe(404);
      const page = await fetch(`${on.base}/ui`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('name="token"');
      expect((await fetch(`${on.base}/ui/assets/htmx.min.js`)).headers.get("content-type")).toContain("javascript");
    } finally {
      await off.stop();
      await on.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
