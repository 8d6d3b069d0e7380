// Pending sudo password requests: each is a one-time page (/sudo/ID on the
// server's own listener) where the human types the password, which then waits
// here, in memory only, for the shell call that asked for it. Nothing is
// written to disk or logged; an unanswered request expires after 5 minutes, an
// answered one is taken once and zeroed by its user.
import { randomBytes } from "../crypto.ts";
import type { SudoAsker } from "./tool.ts";

export const PROMPT_TTL_MS = 5 * 60_000;
/** More pending requests than this is an agent looping, not a human typing. */
export const MAX_PENDING = 16;

interface Pending {
  command: string;
  expires: number;
  password?: Buffer;
}

/** What the page shows and accepts for a request (src/http/sudo_page.ts reads it through this). */
export interface SudoPromptView {
  command: string;
  host: string;
  user: string;
  answered: boolean;
}

export class SudoPrompts implements SudoAsker {
  private readonly pending = new Map<string, Pending>();
  /** The listener's base URL (scheme, host, port), set once it listens; undefined until then. */
  baseUrl: string | undefined;
  /** Why no page can be offered on this listener (plain HTTP off loopback), set with baseUrl. */
  unusable: string | undefined;

  constructor(
    readonly host: string,
    readonly user: string,
    private readonly now: () => number = Date.now,
  ) {}

  open(command: string): { id: string; url: string } | { error: string } {
    this.expire();
    if (!this.baseUrl) return { error: "this server serves no password page (it is not listening on HTTP)" };
    if (this.unusable) return { error: this.unusable };
    if (this.pending.size >= MAX_PENDING) return { error: `${MAX_PENDING} sudo password pages are already open; answer or let them expire (5 minutes) first` };
    const id = randomBytes(18).toString("base64url");
    this.pending.set(id, { command, expires: this.now() + PROMPT_TTL_MS });
    return { id, url: `${this.baseUrl}/sudo/${id}` };
  }

  view(id: string): SudoPromptView | undefined {
    this.expire();
    const p = this.pending.get(id);
    return p && { command: p.command, host: this.host, user: this.user, answered: p.password !== undefined };
  }

  /** Stores the password typed on page `id`; false when the page is unknown, expired or already answered. */
  answer(id: string, password: Buffer): boolean {
    this.expire();
    const p = this.pending.get(id);
    if (!p || p.password) return false;
    p.password = password;
    return true;
  }

  take(id: string): Buffer | undefined {
    this.expire();
    const p = this.pending.get(id);
    if (!p?.password) return undefined;
    this.pending.delete(id);
    return p.password;
  }

  private expire(): void {
    const now = this.now();
    for (const [id, p] of this.pending) {
      if (p.expires <= now) {
        p.password?.fill(0);
        this.pending.delete(id);
      }
    }
  }
}
