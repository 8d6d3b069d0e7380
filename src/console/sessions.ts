// Console logins: a random session id in an HttpOnly, SameSite=Strict cookie
// (never the token), the session's CSRF token, idle expiry. In memory only, so a
// restart logs everyone out, and the token file stays the one credential.
import type { Caller } from "../http/auth.ts";
import { bytesEqual, randomBytes } from "../crypto.ts";

export const SESSION_COOKIE = "lmcp_session";
/** The login form's own double-submit cookie: a login is a POST too, and must come from this page. */
export const LOGIN_COOKIE = "lmcp_login";
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
/** Enough for every operator's browsers; past it the longest-idle session goes (a login flood cannot grow memory). */
export const MAX_SESSIONS = 256;

export interface Session {
  id: string;
  csrf: string;
  /** The token's index in the token file when logged in, and its name: both are checked again on every request. */
  identity: number;
  callerId: string;
  lastSeen: number;
}

export const randomId = () => randomBytes(32).toString("base64url");

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    readonly idleMs = SESSION_IDLE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  create(identity: number, caller: Caller): Session {
    this.sweep();
    if (this.byId.size >= MAX_SESSIONS) {
      // Map order is insertion order, and `get` re-inserts: the first one is the longest idle.
      const oldest = this.byId.keys().next().value;
      if (oldest !== undefined) this.byId.delete(oldest);
    }
    const s: Session = { id: randomId(), csrf: randomId(), identity, callerId: caller.id, lastSeen: this.now() };
    this.byId.set(s.id, s);
    return s;
  }

  /** The live session for a cookie value, touched; an idle one is ended on sight. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (!s) return undefined;
    const now = this.now();
    if (now - s.lastSeen > this.idleMs) {
      this.byId.delete(id);
      return undefined;
    }
    s.lastSeen = now;
    this.byId.delete(id);
    this.byId.set(id, s);
    return s;
  }

  end(id: string): void {
    this.byId.delete(id);
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.byId) if (now - s.lastSeen > this.idleMs) this.byId.delete(id);
  }
}

/** Constant-time check of a CSRF value against the expected one. */
export function csrfMatches(given: string | null | undefined, expected: string): boolean {
  return typeof given === "string" && bytesEqual(Buffer.from(given), Buffer.from(expected));
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A Set-Cookie value scoped to the console; `maxAgeS` 0 removes the cookie. */
export function setCookie(name: string, value: string, secure: boolean, maxAgeS?: number): string {
  return `${name}=${value}; Path=/ui; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}${maxAgeS === undefined ? "" : `; Max-Age=${maxAgeS}`}`;
}
