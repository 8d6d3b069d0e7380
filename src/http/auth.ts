// Bearer token check: constant time (both sides hashed, then timingSafeEqual),
// against every configured token so rotation needs no downtime. Each token
// carries a scope and an id for logs; the token itself is never logged.
import { bytesEqual, sha256 } from "../crypto.ts";
import type { AuthSetting } from "../config/server.ts";
import { type TokenEntry, type TokenScope, ensureTokenFile, readTokenEntries, tokenFileTooOpen } from "../config/tokens.ts";

/** Who is calling: what logs and the audit log may say about a token. */
export interface Caller {
  /** `name=` from the token file, else `sha256:` and the first 12 hex digits of the token's hash. */
  id: string;
  scope: TokenScope;
}

/** The caller when auth is off. */
export const anonymous: Caller = { id: "no-auth", scope: "full" };

export class BearerAuth {
  private digests: Buffer[] = [];
  private callers: Caller[] = [];

  constructor(tokens: (string | TokenEntry)[]) {
    this.replace(tokens);
  }

  /** Swaps the accepted tokens (SIGHUP rotation). */
  replace(tokens: (string | TokenEntry)[]): void {
    const entries = tokens.map((t) => (typeof t === "string" ? { token: t, scope: "full" as const, name: undefined } : t));
    this.digests = entries.map((e) => sha256(e.token));
    this.callers = entries.map((e, i) => ({ id: e.name ?? `sha256:${this.digests[i]!.toString("hex").slice(0, 12)}`, scope: e.scope }));
  }

  get count(): number {
    return this.digests.length;
  }

  caller(identity: number): Caller {
    return this.callers[identity] ?? anonymous;
  }

  /**
   * Returns the index of the matching token (the caller's identity, never the token), or -1.
   * Every configured token is compared, so timing does not reveal which one matched.
   */
  check(authorization: string | null): number {
    if (!authorization || authorization.length > 4096) return -1;
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization);
    if (!m?.[1]) return -1;
    const presented = sha256(m[1]);
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) {
      if (bytesEqual(presented, this.digests[i]!) && found < 0) found = i;
    }
    return found;
  }
}

/** The auth a server runs with, and how SIGHUP reloads it. */
export interface AuthState {
  auth: BearerAuth | null;
  /** For the start-up line: where the token lives, never the token. */
  describe: string;
  /** Re-reads the token file; a bad file keeps the old tokens. Returns what happened, for the log. */
  reload(): string;
}

export function openAuth(setting: AuthSetting): AuthState {
  if (setting.mode === "none") {
    return { auth: null, describe: "auth OFF (--no-auth): anyone who can reach this port gets a shell", reload: () => "auth is off; nothing to reload" };
  }
  if (setting.mode === "env") {
    return { auth: new BearerAuth([setting.token]), describe: "token from LMCP_TOKEN", reload: () => "token comes from LMCP_TOKEN; nothing to reload" };
  }
  const file = setting.file;
  const { tokens, minted } = setting.isDefault ? ensureTokenFile(file) : { tokens: readTokenEntries(file), minted: false };
  const auth = new BearerAuth(tokens);
  const open = tokenFileTooOpen(file) ? " (WARNING: readable by group/others; chmod 600 it)" : "";
  const readOnly = tokens.filter((t) => t.scope === "read-only").length;
  return {
    auth,
    describe: `token file ${file}${minted ? " (minted now)" : ""}, ${tokens.length} token(s)${readOnly ? `, ${readOnly} read-only` : ""}${open}`,
    reload() {
      try {
        const fresh = readTokenEntries(file);
        auth.replace(fresh);
        return `reloaded ${fresh.length} token(s) from ${file}`;
      } catch (err) {
        return `kept the old tokens: ${(err as Error).message}`;
      }
    },
  };
}
