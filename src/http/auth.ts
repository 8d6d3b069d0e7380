// Bearer token check: constant time (both sides hashed, then timingSafeEqual),
// against every configured token so rotation needs no downtime.
import { createHash, timingSafeEqual } from "node:crypto";
import type { AuthSetting } from "../config/server.ts";
import { ensureTokenFile, readTokenFile, tokenFileTooOpen } from "../config/tokens.ts";

const sha256 = (s: string) => createHash("sha256").update(s).digest();

export class BearerAuth {
  private digests: Buffer[] = [];

  constructor(tokens: string[]) {
    this.replace(tokens);
  }

  /** Swaps the accepted tokens (SIGHUP rotation). */
  replace(tokens: string[]): void {
    this.digests = tokens.map(sha256);
  }

  get count(): number {
    return this.digests.length;
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
      if (timingSafeEqual(presented, this.digests[i]!) && found < 0) found = i;
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
  const { tokens, minted } = setting.isDefault ? ensureTokenFile(file) : { tokens: readTokenFile(file), minted: false };
  const auth = new BearerAuth(tokens);
  const open = tokenFileTooOpen(file) ? " (WARNING: readable by group/others; chmod 600 it)" : "";
  return {
    auth,
    describe: `token file ${file}${minted ? " (minted now)" : ""}${open}`,
    reload() {
      try {
        const fresh = readTokenFile(file);
        auth.replace(fresh);
        return `reloaded ${fresh.length} token(s) from ${file}`;
      } catch (err) {
        return `kept the old tokens: ${(err as Error).message}`;
      }
    },
  };
}
