// The console's handler without a browser: refused off loopback without TLS and
// to a foreign Host or Origin, login and CSRF, a read-only session's actions
// refused and audited, the feed ring, sessions' idle expiry, the emergency
// stop's refusal through the MCP handlers, a slow SSE reader dropped, and the
// per-call view (head and tail of a real shell call's output, its spool file).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import { startServer, waitFor } from "../helpers/server.ts";
import { consoleLogin } from "../helpers/console.ts";

const FULL = `full-${crypto.randomUUID()}`;
const RO = `ro-${crypto.randomUUID()}`;
const auth = new BearerAuth([
  { token: FULL, scope: "full", name: "operator" },
  { token: RO, scope: "read-only", name: "watcher" },
]);

/** What the MCP layer hands a tool handler, for calls made straight to toolHandlers (no HTTP, no client). */
const callExtra = () => ({ mcpReq: { signal: new AbortController().signal, _meta: undefined, envelope: undefined, requestState: () => undefined }, http: undefined }) as unknown as Parameters<ReturnType<typeof toolHandlers>["call"]>[1];

const audited: AuditEntry[] = [];
const kills: string[] = [];
const jobs: JobControl = {
  async list() {
    return { rows: [{ kind: "job", host: "h1", id: "j-aaaaaaaaaa", pid: 4242, command: "sleep 99", started_at: new Date().toISOString(), size: 0 }], problems: [] };
  },
  async kill(kind, host, jobId, signal) {
    kills.push(`${kind} ${host} ${jobId} ${signal}`);
    return { ok: true, text: `sent SIG${signal} to job ${jobId}` };
  },
};
const ui = openConsole({ role: "serve", name: "h1", version: "0.0.0" }, { write: (e) => audited.push(e) });
const noFiles = { page: async () => ({ error: "no files in this test", denied: false }) };
const handler = createConsole({ id: { role: "serve", name: "h1", version: "0.0.0" }, activity: ui.activity, stop: ui.stop, fleet: { hosts: async () => [] }, jobs, files: noFiles, audit: ui.mcpHooks.audit });

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
async function login(token: string, at = base): Promise<{ cookie: string; csrf: string }> {
  const r = await consoleLogin(at, token);
  expect(r.status).toBe(303);
  expect(r.setCookie).toContain("HttpOnly");
  expect(r.setCookie).toContain("SameSite=Strict");
  expect(r.setCookie).toContain("Path=/ui");
  expect(r.setCookie).not.toContain(token);
  const page = await (await fetch(`${at}/ui`, { headers: { cookie: r.cookie } })).text();
  const csrf = /name="lmcp-csrf" content="([^"]+)"/.exec(page)![1]!;
  return { cookie: r.cookie, csrf };
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
    expect(kills).toEqual(["job h1 j-aaaaaaaaaa TERM"]);
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
    const extra = callExtra();
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

describe("per-call view", () => {
  let dir: string;
  let pc: ReturnType<typeof openConsole>;
  let pcHandler: ConsoleHandler;
  let pcServer: Bun.Server<undefined>;
  let pcBase: string;
  let handlers: ReturnType<typeof toolHandlers>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-console-call-"));
    const { serveTools } = await import("../../src/tools/registry.ts");
    const context = { limits: { maxOutputBytes: 16 * 1024, maxReadBytes: 96 * 1024, maxTimeoutS: 600 }, stateDir: join(dir, "state") };
    pc = openConsole({ role: "serve", name: "h3", version: "0" }, undefined);
    handlers = toolHandlers({ name: "t", title: "t", version: "0", instructions: "", tools: serveTools, context, ...pc.mcpHooks });
    // The real composition: sources from the server's own tools (read_file serves the spool).
    pcHandler = pc.handler({ tools: serveTools, context });
    pcServer = serveWith(pcHandler, ctx);
    pcBase = `http://127.0.0.1:${pcServer.port}`;
  });
  afterAll(() => {
    pcHandler?.close();
    pcServer?.stop(true);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const shellCall = async (command: string) => {
    const r = (await handlers.call({ params: { name: "shell", arguments: { command } } }, callExtra())) as { structuredContent: Record<string, unknown>; content: unknown };
    if (!r.structuredContent) throw new Error(`shell failed: ${JSON.stringify(r.content)}`);
    const seq = pc.activity.recent({ tool: "shell" }, 1)[0]!.seq;
    return { seq, data: r.structuredContent };
  };

  test("a spooled shell call: head and tail of its output (escaped), its fields, and the whole stdout through the console", async () => {
    const { seq, data } = await shellCall("seq 1 100000; echo '<script>alert(1)</script> & done'");
    expect(typeof data.full_output_path).toBe("string");
    const s = await login(RO, pcBase); // a read-only viewer may see calls and their output
    const feed = await (await fetch(`${pcBase}/ui/feed`, { headers: { cookie: s.cookie } })).text();
    expect(feed).toContain(`href="/ui/call/${seq}"`);
    const r = await fetch(`${pcBase}/ui/call/${seq}`, { headers: { cookie: s.cookie } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    const page = await r.text();
    const head = /<pre class="output" id="output-head">([^<]*)<\/pre>/.exec(page)![1]!;
    const tail = /<pre class="output" id="output-tail">([^<]*)<\/pre>/.exec(page)![1]!;
    expect(head.startsWith("1\n2\n3\n")).toBe(true);
    expect(head.length).toBe(2048);
    expect(tail).toContain("&#60;script&#62;alert(1)&#60;/script&#62; &#38; done");
    expect(tail).toContain("[exit 0");
    expect(page).not.toContain("<script>alert(1)");
    expect(page).toContain("characters not kept here");
    expect(page).toContain("seq 1 100000"); // the command, from the audit entry
    expect(page).toContain(String(data.full_output_path));
    // The whole stdout, streamed a read_file page at a time: byte for byte the spool file.
    const file = await fetch(`${pcBase}/ui/call/${seq}/stdout`, { headers: { cookie: s.cookie } });
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(file.headers.get("x-content-type-options")).toBe("nosniff");
    const body = await file.text();
    expect(body).toBe(readFileSync(String(data.full_output_path), "utf8"));
    expect(body.length).toBeGreaterThan(500_000);
    // Only files this call's result named: it spooled no stderr, and no other name is a file.
    expect((await fetch(`${pcBase}/ui/call/${seq}/stderr`, { headers: { cookie: s.cookie } })).status).toBe(404);
    expect((await fetch(`${pcBase}/ui/call/${seq}/etc`, { headers: { cookie: s.cookie } })).status).toBe(404);
  });

  test("a short answer is kept whole; a call the console no longer holds, or never had, is a 404; no session, no view", async () => {
    const { seq } = await shellCall("echo short-and-sweet");
    const s = await login(FULL, pcBase);
    const page = await (await fetch(`${pcBase}/ui/call/${seq}`, { headers: { cookie: s.cookie } })).text();
    expect(/id="output-head">short-and-sweet\n\[exit 0 /.test(page)).toBe(true);
    expect(page).not.toContain('id="output-tail"');
    expect((await fetch(`${pcBase}/ui/call/${seq + 1000}`, { headers: { cookie: s.cookie } })).status).toBe(404);
    expect((await fetch(`${pcBase}/ui/call/0`, { headers: { cookie: s.cookie } })).status).toBe(404);
    const anon = await fetch(`${pcBase}/ui/call/${seq}`, { redirect: "manual" });
    expect(anon.status).toBe(303);
    expect(anon.headers.get("location")).toBe("/ui");
  });

  test("the ring keeps entries and outputs for the newest calls only, and an outcome lands only on its own entry", async () => {
    const { Activity, OUTPUT_HEAD_CHARS, OUTPUT_TAIL_CHARS, captureOutput } = await import("../../src/console/activity.ts");
    const a = new Activity("here", 4, 2);
    const entry = (n: number): AuditEntry => ({ time: new Date().toISOString(), client: "c", token: "t", tool: `t${n}`, outcome: "ok", duration_ms: 1 });
    const entries = [1, 2, 3, 4, 5].map(entry);
    for (const e of entries) {
      a.record(e);
      a.attachOutcome(e, { ok: true, data: {}, text: `out of ${e.tool}` });
    }
    a.attachOutcome(entries[3]!, { ok: true, data: {}, text: "late, for an older call" });
    expect(a.detail(1)).toBeUndefined(); // left the ring of 4
    expect(a.detail(2)).toMatchObject({ entry: undefined, output: undefined }); // in the ring, but past the 2 kept in full
    expect(a.detail(4)?.output?.head).toBe("out of t4");
    expect(a.detail(5)?.entry?.tool).toBe("t5");
    expect(a.detail(6)).toBeUndefined();
    const big = captureOutput({ ok: true, data: { full_output_path: "/x/spool/a.stdout", log_path: "relative/ignored" }, text: "h".repeat(3000) + "t".repeat(3000) });
    expect(big.head).toBe("h".repeat(OUTPUT_HEAD_CHARS));
    expect(big.tail).toBe("t".repeat(OUTPUT_TAIL_CHARS));
    expect(big.omitted).toBe(6000 - OUTPUT_HEAD_CHARS - OUTPUT_TAIL_CHARS);
    expect(big.files).toEqual([{ field: "full_output_path", path: "/x/spool/a.stdout" }]);
    expect(captureOutput({ ok: false, error: "nope" })).toMatchObject({ head: "nope", isError: true, omitted: 0 });
  });
});

describe("the kill list: foreground shell commands and PTY sessions (serve, through its own tools)", () => {
  let dir: string;
  let k: ReturnType<typeof openConsole>;
  let kHandler: ConsoleHandler;
  let kServer: Bun.Server<undefined>;
  let kBase: string;
  let handlers: ReturnType<typeof toolHandlers>;
  const pids: number[] = [];
  type Result = { isError?: boolean; content: { text: string }[]; structuredContent: Record<string, unknown> };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-console-kill-"));
    const { serveTools } = await import("../../src/tools/registry.ts");
    const context = { limits: { maxOutputBytes: 4096, maxReadBytes: 96 * 1024, maxTimeoutS: 600 }, stateDir: join(dir, "state") };
    k = openConsole({ role: "serve", name: "h4", version: "0" }, undefined);
    handlers = toolHandlers({ name: "t", title: "t", version: "0", instructions: "", tools: serveTools, context, ...k.mcpHooks });
    kHandler = k.handler({ tools: serveTools, context });
    kServer = serveWith(kHandler, ctx);
    kBase = `http://127.0.0.1:${kServer.port}`;
  });
  afterAll(async () => {
    const { pidAlive } = await import("../helpers/server.ts");
    for (const pid of pids) if (pidAlive(pid)) process.kill(-pid, "SIGKILL");
    kHandler?.close();
    kServer?.stop(true);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const jobsHtml = async (s: { cookie: string }) => (await fetch(`${kBase}/ui/jobs`, { headers: { cookie: s.cookie } })).text();
  /** The row of `kind` whose command contains `marker`, once the list shows it: its id. */
  const rowId = (s: { cookie: string }, kind: string, marker: string) =>
    waitFor(`a ${kind} row for ${marker}`, async () => {
      const m = new RegExp(`<tr data-job="([a-z0-9-]+)" data-kind="${kind}">(?:(?!</tr>).)*${marker}`).exec(await jobsHtml(s));
      return m?.[1];
    });

  test("a running shell command is listed; a read-only kill is refused; kill ends it and its call returns with the signal, audited", async () => {
    const marker = `fg-${crypto.randomUUID().slice(0, 8)}`;
    const pidFile = join(dir, "fg.pid");
    const call = handlers.call({ params: { name: "shell", arguments: { command: `echo $$ > ${pidFile}; : ${marker}; exec sleep 300` } } }, callExtra()) as Promise<Result>;
    const { waitForPidFile, pidAlive } = await import("../helpers/server.ts");
    const pid = await waitForPidFile(pidFile);
    pids.push(pid);
    const ro = await login(RO, kBase);
    const id = await rowId(ro, "shell", marker);
    expect(id).toMatch(/^c-[a-z2-7]{10}$/);
    expect(await jobsHtml(ro)).not.toContain("/ui/jobs/kill"); // no buttons for a read-only viewer
    expect((await postAt(kBase, "/ui/jobs/kill", ro, { csrf: ro.csrf, kind: "shell", host: "h4", job_id: id, signal: "KILL" })).status).toBe(403);
    expect(pidAlive(pid)).toBe(true);
    const s = await login(FULL, kBase);
    const killed = await postAt(kBase, "/ui/jobs/kill", s, { csrf: s.csrf, kind: "shell", host: "h4", job_id: id, signal: "TERM" }, { "hx-request": "true" });
    expect(killed.status).toBe(200);
    const panel = await killed.text();
    expect(panel).toContain(`sent SIGTERM to shell command ${id}`);
    expect(panel).not.toContain(marker); // gone from the list
    const r = await call;
    expect(r.structuredContent).toMatchObject({ exit_code: null, signal: "SIGTERM" });
    expect(r.content[0]!.text).toContain("killed by SIGTERM, sent with shell_kill");
    const kills = k.activity.recent({ tool: "console/kill" }, 10);
    expect(kills.map((e) => `${e.token} ${e.outcome}`)).toEqual(["operator ok", "watcher denied"]);
    expect(kills[0]!.what).toBe(`kill -TERM shell command ${id}`);
  });

  test("a PTY session is listed and closed from the console", async () => {
    const marker = `pty-${crypto.randomUUID().slice(0, 8)}`;
    const started = (await handlers.call({ params: { name: "session_start", arguments: { command: `: ${marker}; exec sleep 300` } } }, callExtra())) as Result;
    expect(started.isError).toBeUndefined();
    const sessionId = String(started.structuredContent.session_id);
    const pid = Number(started.structuredContent.pid);
    pids.push(pid);
    const s = await login(FULL, kBase);
    expect(await rowId(s, "session", marker)).toBe(sessionId);
    const closed = await postAt(kBase, "/ui/jobs/kill", s, { csrf: s.csrf, kind: "session", host: "h4", job_id: sessionId, signal: "TERM" }, { "hx-request": "true" });
    expect(closed.status).toBe(200);
    expect(await closed.text()).toContain(`closed session ${sessionId}`);
    const { processGone } = await import("../helpers/server.ts");
    await waitFor(`session ${sessionId}'s program (pid ${pid}) to end`, () => (processGone(pid) ? true : undefined));
    const list = (await handlers.call({ params: { name: "session_list", arguments: {} } }, callExtra())) as Result;
    expect(JSON.stringify(list.structuredContent)).not.toContain(sessionId);
    expect(k.activity.recent({ tool: "console/kill" }, 1)[0]).toMatchObject({ what: `close session ${sessionId}`, outcome: "ok" });
  });
});

/** `post`, to another console than the shared one. */
function postAt(at: string, path: string, s: { cookie: string }, body: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${at}${path}`, { method: "POST", redirect: "manual", headers: { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(body) });
}
