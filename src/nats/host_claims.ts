// Which tags a hub believes a host has. In an enrolled fleet the authority puts
// a host's tags in its user JWT, and the host announces that JWT; a hub checks
// the signature against the fleet account that signed its own credentials and
// the name against the subject, so a compromised host cannot claim a tag (and
// with it `remote_shell_many` calls meant for other hosts). Without such
// credentials (a hub with no JWT of its own) the announced tags are all there is.
import { decode } from "@nats-io/jwt";
import { logEvent } from "../http/log.ts";
import type { Announcement } from "./wire.ts";

/** The user JWT inside a NATS creds file, if there is one. */
export function jwtOfCreds(creds: Uint8Array | undefined): string | undefined {
  if (!creds) return undefined;
  return /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.-]+)\s*------END NATS USER JWT------/.exec(new TextDecoder().decode(creds))?.[1];
}

interface UserClaims {
  iss?: string;
  name?: string;
  exp?: number;
  nats?: { type?: string; tags?: unknown };
}

/** Verified JWTs, by their text: heartbeats repeat the same one. Bounded: a churning fleet does not grow it forever. */
const MAX_CACHED = 20_000;

export class HostClaims {
  private readonly verified = new Map<string, { name: string; tags: string[]; exp: number | undefined } | null>();
  private readonly warned = new Set<string>();

  /** `account`: the public key that signed the hub's own JWT; undefined means trust announcements as they are. */
  constructor(private readonly account: string | undefined) {}

  static fromHubCreds(creds: Uint8Array | undefined): HostClaims {
    const jwt = jwtOfCreds(creds);
    let account: string | undefined;
    if (jwt) {
      try {
        account = (decode<unknown>(jwt) as UserClaims).iss;
      } catch {
        account = undefined;
      }
    }
    return new HostClaims(account);
  }

  /** The announcement as the hub should believe it: tags from a JWT the fleet account signed for this name, else none. */
  vouch(a: Announcement): Announcement {
    if (!this.account) return a;
    const c = a.jwt ? this.check(a.jwt) : null;
    if (c && c.name === a.name && (c.exp === undefined || c.exp * 1000 > Date.now())) return { ...a, tags: c.tags };
    if (!this.warned.has(a.name) && this.warned.size < 1000) {
      this.warned.add(a.name);
      logEvent(`NATS: ${a.name} announces itself without credentials this fleet signed for that name; its tags are ignored`);
    }
    return { ...a, tags: [] };
  }

  private check(jwt: string): { name: string; tags: string[]; exp: number | undefined } | null {
    const hit = this.verified.get(jwt);
    if (hit !== undefined) return hit;
    let out: { name: string; tags: string[]; exp: number | undefined } | null = null;
    try {
      const c = decode<unknown>(jwt) as UserClaims; // throws unless the signature is its issuer's
      const tags = Array.isArray(c.nats?.tags) ? c.nats.tags.filter((t): t is string => typeof t === "string") : [];
      if (c.iss === this.account && c.nats?.type === "user" && typeof c.name === "string") out = { name: c.name, tags, exp: c.exp };
    } catch {
      out = null;
    }
    if (this.verified.size >= MAX_CACHED) this.verified.clear();
    this.verified.set(jwt, out);
    return out;
  }
}
