// Logs in to a console at `base` as a browser would: the login form's cookie
// first (it doubles as the form's CSRF value), then the token.
export interface ConsoleSession {
  /** `lmcp_session=…`, for a Cookie header. */
  cookie: string;
  /** The login answer's Set-Cookie header, for checks of its attributes. */
  setCookie: string;
  status: number;
}

export async function consoleLogin(base: string, token: string): Promise<ConsoleSession> {
  const form = await fetch(`${base}/ui`);
  const loginCookie = /lmcp_login=([^;]+)/.exec(form.headers.get("set-cookie") ?? "")?.[1];
  if (!loginCookie) throw new Error(`${base}/ui set no login cookie (status ${form.status})`);
  const r = await fetch(`${base}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: `lmcp_login=${loginCookie}`, "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ token, csrf: loginCookie }),
  });
  const setCookie = r.headers.get("set-cookie") ?? "";
  const session = /lmcp_session=([^;]+)/.exec(setCookie)?.[1];
  return { cookie: session ? `lmcp_session=${session}` : "", setCookie, status: r.status };
}
