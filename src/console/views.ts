// The console's HTML, rendered on the server: the login form, the refusal pages,
// the dashboard (status bar, fleet, what runs, activity feed), the per-call view
// and the fragments htmx swaps in. Every value from outside goes through `esc`.
import type { AuditEntry } from "../audit/audit_log.ts";
import type { CallDetail, CallEvent, FeedFilter, OutputFileField } from "./activity.ts";
import { assetUrl } from "./assets.ts";
import type { PauseState } from "./pause.ts";
import type { FleetHost, JobRow, JobsView } from "./sources.ts";

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const securityHeaders: Record<string, string> = {
  "content-security-policy": CSP,
  "x-frame-options": "DENY",
  // Not no-referrer: with it Chromium sends `Origin: null` on form POSTs, and the Origin check needs the real one.
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

/** An HTML response with the console's headers. */
export function html(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", ...securityHeaders, ...headers } });
}

/** htmx reads its settings from this meta: no eval, no inline styles (the CSP forbids both anyway). */
const HTMX_CONFIG = esc(JSON.stringify({ includeIndicatorStyles: false, allowEval: false, allowScriptTags: false, historyCacheSize: 0, selfRequestsOnly: true }));

function pageDocument(title: string, body: string, csrf?: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><link rel="stylesheet" href="${assetUrl("console.css")}"><link rel="icon" href="${assetUrl("favicon.svg")}">` +
    `<meta name="htmx-config" content="${HTMX_CONFIG}">${csrf ? `<meta name="lmcp-csrf" content="${esc(csrf)}">` : ""}` +
    `</head><body>${body}` +
    (csrf ? `<script src="${assetUrl("htmx.min.js")}"></script><script src="${assetUrl("console.js")}"></script>` : "") +
    "</body></html>"
  );
}

export interface Identity {
  role: "serve" | "hub";
  /** The server's name (settings.name). */
  name: string;
  version: string;
}

const roleLabel = (id: Identity) => (id.role === "hub" ? `hub ${id.name}` : `host ${id.name}`);

/** A page that explains why the console is not offered here, or what went wrong. */
export function messagePage(status: number, title: string, bodyHtml: string): Response {
  return html(status, pageDocument(title, `<div class="message"><h1>${esc(title)}</h1>${bodyHtml}</div>`));
}

export function loginPage(id: Identity, loginCsrf: string, error?: string): string {
  return pageDocument(
    `lmcp console · ${roleLabel(id)}`,
    `<form class="login" method="post" action="/ui/login"><h1>lmcp console</h1><p class="muted">${esc(roleLabel(id))} · lmcp ${esc(id.version)}</p>` +
      (error ? `<p class="error">${esc(error)}</p>` : "") +
      `<label for="token">Token (the same as for /mcp; a read-only token gives a read-only view)</label>` +
      `<input type="password" id="token" name="token" autocomplete="current-password" autofocus required>` +
      `<input type="hidden" name="csrf" value="${esc(loginCsrf)}"><button type="submit">Log in</button>` +
      `<p class="muted">The token is checked and forgotten: the browser keeps only a session cookie (12 h idle).</p></form>`,
  );
}

export interface Viewer {
  callerId: string;
  readOnly: boolean;
  csrf: string;
}

const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${esc(value)}">`;

/** The header bar and, while paused, the banner: one fragment (#status) swapped when the state changes. */
export function statusBar(id: Identity, viewer: Viewer, paused: PauseState | undefined): string {
  const control = viewer.readOnly
    ? ""
    : paused
      ? `<form method="post" action="/ui/resume" hx-post="/ui/resume" hx-target="#status" hx-swap="outerHTML">${hidden("csrf", viewer.csrf)}<button class="resume" type="submit">Resume agents</button></form>`
      : `<form method="post" action="/ui/stop" hx-post="/ui/stop" hx-target="#status" hx-swap="outerHTML">${hidden("csrf", viewer.csrf)}<button class="stop" type="submit" title="Refuse every tool call of every agent token until resumed">Emergency stop</button></form>`;
  const banner = paused
    ? `<div class="banner" id="paused">Agents paused since ${esc(paused.at.toISOString().slice(11, 19))} UTC by ${esc(paused.by)}: every tool call is refused.${viewer.readOnly ? " An operator with a full token can resume." : ""}</div>`
    : "";
  return (
    `<div id="status"><header class="bar"><span class="brand">lmcp</span><span class="where">${esc(roleLabel(id))} · ${esc(id.version)}</span>` +
    `<span class="badge ${paused ? "ro" : "live"}" id="agents">${paused ? "agents paused" : "agents running"}</span>` +
    `<span class="spacer"></span>${control}` +
    `<span class="who">signed in as <b>${esc(viewer.callerId)}</b>${viewer.readOnly ? ' <span class="badge ro">read-only</span>' : ""}</span>` +
    `<form method="post" action="/ui/logout">${hidden("csrf", viewer.csrf)}<button type="submit">Log out</button></form></header>${banner}</div>`
  );
}

function ago(ms: number | undefined, now: number): string {
  if (ms === undefined) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

const tags = (t: string[]) => t.map((x) => `<span class="tag">${esc(x)}</span>`).join("");

export function fleetPanel(id: Identity, hosts: FleetHost[], now = Date.now()): string {
  const up = hosts.filter((h) => h.state === "up").length;
  // The hub does not learn its hosts' protocol revision: no column of dashes.
  const protocol = hosts.some((h) => h.protocol !== undefined);
  const rows = hosts
    .map(
      (h) =>
        `<tr data-host="${esc(h.name)}"><td><b>${esc(h.name)}</b></td><td class="state ${esc(h.state)}">${esc(h.state)}</td><td>${esc(h.via)}</td>` +
        `<td class="num">${h.latencyMs === undefined ? "–" : `${h.latencyMs < 10 ? h.latencyMs.toFixed(1) : Math.round(h.latencyMs)} ms`}</td>` +
        `<td class="muted">${esc(ago(h.lastSeen, now))}</td>${protocol ? `<td class="mono">${esc(h.protocol ?? "–")}</td>` : ""}<td class="mono">${esc(h.version ?? "–")}</td>` +
        `<td>${tags(h.tags)}</td><td class="muted" title="${esc(h.error ?? "")}">${esc(short(h.error ?? "", 60))}</td></tr>`,
    )
    .join("");
  return (
    `<section class="panel" id="fleet-panel" hx-get="/ui/fleet" hx-trigger="every 5s" hx-swap="outerHTML">` +
    `<h2>${id.role === "hub" ? "Fleet" : "This host"} <span class="count">${hosts.length} host${hosts.length === 1 ? "" : "s"} · ${up} up</span></h2>` +
    `<table><thead><tr><th>host</th><th>state</th><th>via</th><th>latency</th><th>last seen</th>${protocol ? "<th>protocol</th>" : ""}<th>version</th><th>tags</th><th>problem</th></tr></thead>` +
    `<tbody>${rows || '<tr class="empty"><td colspan="9">no hosts in the registry</td></tr>'}</tbody></table></section>`
  );
}

const KIND_LABEL: Record<JobRow["kind"], string> = { shell: "shell", job: "job", session: "session" };

/** The buttons that end one row: kill / kill -9 for commands and jobs, close (hang up) for a session. */
function endButtons(j: JobRow, viewer: Viewer): string {
  if (viewer.readOnly) return "";
  const what = j.kind === "session" ? `Close session ${j.id} on ${j.host} (SIGHUP to every process in it, SIGKILL 2 s later)?` : `Signal ${j.kind === "job" ? "job" : "shell command"} ${j.id} on ${j.host}?`;
  const buttons =
    j.kind === "session"
      ? `<button class="danger" type="submit" name="signal" value="TERM" title="Hang up the session's terminal (session_close)">close</button>`
      : `<button class="danger" type="submit" name="signal" value="TERM" title="SIGTERM to the process group">kill</button> ` +
        `<button class="danger" type="submit" name="signal" value="KILL" title="SIGKILL to the process group">kill -9</button>`;
  return (
    `<form method="post" action="/ui/jobs/kill" hx-post="/ui/jobs/kill" hx-target="#jobs-panel" hx-swap="outerHTML" hx-confirm="${esc(what)}">` +
    `${hidden("csrf", viewer.csrf)}${hidden("kind", j.kind)}${hidden("host", j.host)}${hidden("job_id", j.id)}${buttons}</form>`
  );
}

/** What runs now (shell commands, shell_bg jobs, PTY sessions); without `view` a placeholder that loads it at once (on the hub, listing takes calls per host). */
export function jobsPanel(view: JobsView | undefined, viewer: Viewer, notice?: { ok: boolean; text: string }, now = Date.now()): string {
  if (!view) {
    return (
      `<section class="panel" id="jobs-panel" hx-get="/ui/jobs" hx-trigger="load, every 5s" hx-swap="outerHTML"><h2>Running</h2>` +
      `<table><tbody><tr class="empty"><td>loading…</td></tr></tbody></table></section>`
    );
  }
  const rows = view.rows
    .map(
      (j) =>
        `<tr data-job="${esc(j.id)}" data-kind="${j.kind}"><td class="kind k-${j.kind}">${KIND_LABEL[j.kind]}</td><td>${esc(j.host)}</td><td class="id">${esc(j.id)}</td><td class="num">${j.pid}</td>` +
        `<td class="what" title="${esc(j.command)}">${esc(j.command)}</td><td class="muted">${esc(ago(Date.parse(j.started_at), now))}</td>` +
        `<td class="num" title="${j.kind === "session" ? "unread output" : j.kind === "job" ? "log size" : ""}">${j.size === null ? "–" : bytes(j.size)}</td><td>${endButtons(j, viewer)}</td></tr>`,
    )
    .join("");
  const count = (kind: JobRow["kind"]) => {
    const n = view.rows.filter((r) => r.kind === kind).length;
    return `${n} ${kind === "shell" ? "shell" : `${kind}${n === 1 ? "" : "s"}`}`;
  };
  return (
    `<section class="panel" id="jobs-panel" hx-get="/ui/jobs" hx-trigger="every 5s" hx-swap="outerHTML">` +
    `<h2>Running <span class="count">${count("shell")} · ${count("job")} · ${count("session")}</span></h2>` +
    (notice ? `<div class="notice${notice.ok ? "" : " bad"}">${esc(notice.text)}</div>` : "") +
    (view.problems.length ? `<div class="problems">${view.problems.map(esc).join("<br>")}</div>` : "") +
    `<table><thead><tr><th>kind</th><th>host</th><th>id</th><th>pid</th><th>command</th><th>started</th><th>output</th><th></th></tr></thead>` +
    `<tbody>${rows || '<tr class="empty"><td colspan="8">no shell command, shell_bg job or terminal session is running</td></tr>'}</tbody></table></section>`
  );
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function result(e: CallEvent): { text: string; cls: string } {
  if (e.outcome !== "ok") return { text: e.outcome, cls: `r-${e.outcome}` };
  if (typeof e.exitCode === "number") return { text: `exit ${e.exitCode}`, cls: e.exitCode === 0 ? "r-ok" : "r-error" };
  // shell's exit_code is null when a signal ended the command (a kill, a timeout); other tools' null means "not yet".
  if (e.exitCode === null && /(^|_)shell$/.test(e.tool)) return { text: "signal", cls: "r-error" };
  return { text: "ok", cls: "r-ok" };
}

/** One feed row; the same HTML goes into the page and down the SSE stream. */
export function feedRow(e: CallEvent, fresh = false): string {
  const r = result(e);
  const t = new Date(e.time).toISOString();
  return (
    `<tr data-seq="${e.seq}"${fresh ? ' class="new"' : ""}><td class="time" title="${t}">${t.slice(11, 23)}</td><td>${esc(e.token)}</td><td>${esc(e.host)}${e.via ? ` <span class="muted">${esc(e.via)}</span>` : ""}</td>` +
    `<td class="mono"><a href="/ui/call/${e.seq}" title="this call's fields and output">${esc(e.tool)}</a></td><td class="what" title="${esc(short(e.what, 2000))}">${esc(short(e.what, 400))}</td><td class="num">${e.durationMs}</td>` +
    `<td class="${r.cls}">${esc(r.text)}</td><td class="muted what" title="${esc(e.error ?? "")}">${esc(short(e.error ?? "", 200))}</td></tr>`
  );
}

export function feedRows(events: CallEvent[]): string {
  return events.length ? events.map((e) => feedRow(e)).join("") : '<tr class="empty"><td colspan="8">no calls yet: they appear here as they end</td></tr>';
}

export interface DashboardModel {
  id: Identity;
  viewer: Viewer;
  paused: PauseState | undefined;
  hosts: FleetHost[];
  events: CallEvent[];
  filter: FeedFilter;
  lastSeq: number;
}

const filterInput = (name: string, value: string | undefined) =>
  `<label>${name} <input name="${name}" value="${esc(value ?? "")}" placeholder="any" autocomplete="off" spellcheck="false"></label>`;

export function dashboard(m: DashboardModel): string {
  return pageDocument(
    `lmcp console · ${roleLabel(m.id)}`,
    statusBar(m.id, m.viewer, m.paused) +
      `<main>${fleetPanel(m.id, m.hosts)}${jobsPanel(undefined, m.viewer)}` +
      `<section class="panel wide" id="activity-panel"><h2>Activity <span class="badge off" id="live">connecting</span><span class="spacer"></span>` +
      `<form class="filters" id="filters" method="get" action="/ui">${filterInput("host", m.filter.host)}${filterInput("tool", m.filter.tool)}${filterInput("token", m.filter.token)}</form></h2>` +
      `<div class="feed"><table><thead><tr><th>time (UTC)</th><th>token</th><th>host</th><th>tool</th><th>command / path</th><th>ms</th><th>result</th><th>detail</th></tr></thead>` +
      `<tbody id="feed-rows" data-after="${m.lastSeq}">${feedRows(m.events)}</tbody></table></div></section></main>`,
    m.viewer.csrf,
  );
}

/** The URL segment of each file field a result can name, and how the page labels it. */
export const FILE_ROUTES: Record<string, { field: OutputFileField; label: string }> = {
  stdout: { field: "full_output_path", label: "complete stdout" },
  stderr: { field: "full_stderr_path", label: "complete stderr" },
  log: { field: "log_path", label: "the job's log" },
};
const routeOf = (field: OutputFileField) => Object.entries(FILE_ROUTES).find(([, r]) => r.field === field)!;

/** The audit entry's fields, in the order an operator reads them; absent ones are left out. */
const ENTRY_FIELDS: [keyof AuditEntry, string][] = [
  ["command", "command"],
  ["cwd", "cwd"],
  ["path", "path"],
  ["job_id", "job"],
  ["session_id", "session"],
  ["log_path", "log"],
  ["from_host", "from host"],
  ["from_path", "from path"],
  ["to_host", "to host"],
  ["to_path", "to path"],
  ["sudo", "sudo"],
  ["bytes", "bytes"],
  ["sha256", "sha256"],
  ["client", "client"],
  ["traceparent", "traceparent"],
];

const fieldRow = (name: string, value: string, cls = "") => `<tr><th>${esc(name)}</th><td class="${cls}">${esc(value)}</td></tr>`;

export interface CallPageModel {
  id: Identity;
  viewer: Viewer;
  paused: PauseState | undefined;
  detail: CallDetail;
}

/** /ui/call/SEQ: one call's fields, its output's head and tail, and links to the files holding the rest. */
export function callPage(m: CallPageModel): string {
  const { event: e, entry, output } = m.detail;
  const r = result(e);
  const rows = [
    fieldRow("time (UTC)", new Date(e.time).toISOString()),
    fieldRow("token", e.token),
    fieldRow("host", e.via ? `${e.host} (via ${e.via})` : e.host),
    fieldRow("tool", e.tool, "mono"),
    `<tr><th>result</th><td class="${r.cls}">${esc(r.text)}</td></tr>`,
    fieldRow("duration", `${e.durationMs} ms`),
    ...(e.error ? [fieldRow("error", e.error, "pre")] : []),
  ];
  if (entry) {
    for (const [key, label] of ENTRY_FIELDS) {
      const v = entry[key];
      if (v !== undefined && v !== null && v !== "") rows.push(fieldRow(label, String(v), "pre"));
    }
  } else if (e.what) rows.push(fieldRow("command / path", e.what, "pre"));
  let out: string;
  if (output) {
    const total = output.head.length + output.omitted + output.tail.length;
    out =
      `<h2>${output.isError ? "Error" : "Output"} <span class="count">${total.toLocaleString("en")} characters${output.omitted ? `, first and last ${output.head.length.toLocaleString("en")} kept` : ""}</span></h2>` +
      `<pre class="output" id="output-head">${esc(output.head)}</pre>` +
      (output.omitted
        ? `<div class="cut">… ${output.omitted.toLocaleString("en")} characters not kept here${output.files.length ? "; the whole output is in the file below" : ""} …</div><pre class="output" id="output-tail">${esc(output.tail)}</pre>`
        : "") +
      (output.files.length
        ? `<ul class="files">${output.files
            .map((f) => {
              const [segment, route] = routeOf(f.field);
              const where = m.id.role === "hub" ? ` on ${e.host}` : "";
              return `<li><a href="/ui/call/${e.seq}/${segment}" id="file-${segment}">${esc(route.label)}</a> <span class="mono muted">${esc(f.path)}${esc(where)}</span></li>`;
            })
            .join("")}</ul>`
        : "");
  } else {
    out =
      `<h2>Output</h2><p class="muted pad">` +
      (entry
        ? "No output kept: the call was refused before it ran, or it is one of the console's own actions."
        : "No longer kept: the console keeps the output of the last 500 calls (and the audit log keeps no output).") +
      "</p>";
  }
  return pageDocument(
    `${e.tool} · call ${e.seq} · lmcp console`,
    statusBar(m.id, m.viewer, m.paused) +
      `<main class="call"><section class="panel wide" id="call-panel"><h2><a href="/ui">← console</a> Call ${e.seq} <span class="count">${esc(e.tool)} on ${esc(e.host)}</span></h2>` +
      `<table class="fields">${rows.join("")}</table></section>` +
      `<section class="panel wide" id="output-panel">${out}</section></main>`,
    m.viewer.csrf,
  );
}
