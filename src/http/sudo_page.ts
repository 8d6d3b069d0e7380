// GET/POST /sudo/ID: the page where the human types a sudo password that lmcp
// asked for (MCP URL elicitation), so the password never passes through the
// agent's client or conversation. The unguessable one-time ID is the page's
// only key: there is no Bearer token in a browser. The page shows the exact
// command, takes the password once, and is refused off loopback without TLS,
// to a foreign Host, and (for the POST) from another origin.
import type { HostCheck } from "./boundary.ts";
import type { RequestLog } from "./log.ts";
import { readSmallBody } from "./small_body.ts";

/** What the page needs from the prompts (src/tools/sudo_prompts.ts implements it). */
export interface PasswordPrompts {
  view(id: string): { command: string; host: string; user: string; answered: boolean } | undefined;
  answer(id: string, password: Buffer): boolean;
}

export interface PageContext {
  hostCheck: HostCheck | null;
  /** HTTPS, or a loopback listener: a password may be typed here. */
  private: boolean;
}

const MAX_FORM_BYTES = 4096;

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(status: number, title: string, body: string): Response {
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>` +
      "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}" +
      "pre{background:#f3f4f6;padding:.75rem;border-radius:6px;white-space:pre-wrap;word-break:break-all}" +
      "input{font:inherit;padding:.4rem;width:16rem}button{font:inherit;padding:.4rem 1rem}.muted{color:#57606a}</style></head>" +
      `<body><h1>${escape(title)}</h1>${body}</body></html>`,
    {
      status,
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
      },
    },
  );
}

/** The request's own origin, as a browser on this page would send it. */
function ownOrigin(req: Request, host: string): string {
  return `${new URL(req.url).protocol}//${host}`.toLowerCase();
}

/** Answers /sudo/ID, or undefined for any other path. */
export async function sudoPage(req: Request, path: string, prompts: PasswordPrompts, ctx: PageContext, log: RequestLog): Promise<Response | undefined> {
  const m = /^\/sudo\/([A-Za-z0-9_-]{16,64})$/.exec(path);
  if (!m) return path.startsWith("/sudo/") ? page(404, "No such page", "<p>This password page does not exist.</p>") : undefined;
  log.method = "sudo-page";
  const host = req.headers.get("host") ?? "";
  if (ctx.hostCheck && !ctx.hostCheck.allows(host)) {
    log.outcome = "forbidden_host";
    return page(403, "Wrong address", `<p>This server does not answer to ${escape(host)}.</p>`);
  }
  if (!ctx.private) {
    log.outcome = "not_private";
    return page(403, "Not over this connection", "<p>A password would cross the network unencrypted here. lmcp offers this page only on a loopback listener or with TLS (tls_cert, tls_key).</p>");
  }
  const id = m[1]!;
  const prompt = prompts.view(id);
  if (!prompt) {
    log.outcome = "unknown_prompt";
    return page(404, "This page has expired", "<p>It was used already, or 5 minutes passed. Ask the agent to run the command again for a new page.</p>");
  }
  const what = `<p>The agent asks to run this command as root on <b>${escape(prompt.host)}</b>, with sudo, as user <b>${escape(prompt.user)}</b>:</p><pre>${escape(prompt.command)}</pre>`;
  if (req.method === "GET" || req.method === "HEAD") {
    if (prompt.answered) return page(200, "Password received", `${what}<p>Return to your agent: it can go on.</p>`);
    log.outcome = "ok";
    return page(
      200,
      "sudo password",
      `${what}<form method="post"><p><label>Password of ${escape(prompt.user)}: <input type="password" name="password" autocomplete="current-password" autofocus required></label></p>` +
        '<p><button type="submit">Run it</button></p></form><p class="muted">The password is kept in memory for this one command, then discarded. It is not shown to the agent, logged or stored. Close this page to refuse.</p>',
    );
  }
  if (req.method !== "POST") return page(405, "Not allowed", "<p>This page answers GET and POST.</p>");
  const origin = req.headers.get("origin");
  if (origin !== null && origin.toLowerCase() !== ownOrigin(req, host)) {
    log.outcome = "forbidden_origin";
    return page(403, "Refused", "<p>The form was sent from another site.</p>");
  }
  // Capped while streaming too: a chunked body declares no length, and whoever has the page's URL may send one.
  const body = await readSmallBody(req, MAX_FORM_BYTES);
  if (!body) return page(413, "Too large", "<p>That is not a password.</p>");
  // A form body is ASCII (%XX escapes); URLSearchParams decodes the escapes as UTF-8.
  const value = new URLSearchParams(body.toString("ascii")).get("password");
  body.fill(0);
  if (value === null || value === "") return page(400, "No password", `${what}<p>The form held no password. Go back and type it.</p>`);
  const password = Buffer.from(value, "utf8");
  if (!prompts.answer(id, password)) {
    password.fill(0);
    return page(409, "Already answered", "<p>This page took a password already.</p>");
  }
  log.outcome = "password_received";
  return page(200, "Password received", `${what}<p>Return to your agent: it can go on.</p>`);
}
