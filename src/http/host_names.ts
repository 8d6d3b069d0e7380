// Host and Origin names for the DNS-rebinding checks: what address a listener
// really bound, whether that is loopback, and a strict parse of the Host header.
// Every name is compared in one canonical form (the WHATWG URL host), so
// `127.1`, `0x7f.1` and `127.0.0.1` are one address and `[::1]evil.com` is none.

/** The canonical form of a host (lowercase name, dotted IPv4, bracketed compressed IPv6), or null when it is not one. */
export function canonicalHost(host: string): string | null {
  if (host === "") return null;
  const literal = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  try {
    const parsed = new URL(`http://${literal}/`);
    // The URL parser would accept a trailing port or path bits inside `literal`; only a bare host is one.
    return parsed.port === "" && parsed.pathname === "/" && parsed.username === "" && parsed.search === "" && parsed.hash === "" ? parsed.hostname : null;
  } catch {
    return null;
  }
}

/** IPv4 127.0.0.0/8, IPv6 ::1 and IPv4-mapped 127/8 (canonical forms) are loopback; `localhost` names it. */
export function isLoopback(canonical: string): boolean {
  if (canonical === "localhost" || canonical.endsWith(".localhost")) return true;
  if (/^127\.\d+\.\d+\.\d+$/.test(canonical)) return true;
  if (canonical === "[::1]") return true;
  // The URL parser writes ::ffff:127.0.0.1 as [::ffff:7f00:1]: the mapped 127/8 block is 7f00:0 to 7fff:ffff.
  return /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/**
 * RFC 9110 Host = uri-host [ ":" port ], uri-host per RFC 3986: an IP-literal in brackets, or a reg-name / IPv4
 * (unreserved, sub-delims, percent escapes). Anything else, such as `[::1]evil.com` or `localhost:80x`, is no host.
 */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::(\d{1,5}))?$/;

/** The canonical host of a Host header value, or null when the value is not a valid host[:port]. */
export function parseHostHeader(value: string): { host: string; port: number | undefined } | null {
  const m = HOST_HEADER.exec(value);
  if (!m) return null;
  const host = canonicalHost(m[1]!);
  if (host === null) return null;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return null;
  return { host, port };
}

/** Names a loopback listener answers to by default, besides the address it bound. */
export const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"] as const;

/** The Origins of pages on this very loopback listener: loopback names with its port, over http or https. */
export function loopbackOrigins(boundHost: string, port: number): string[] {
  const names = new Set<string>([...LOOPBACK_NAMES, boundHost]);
  const origins: string[] = [];
  for (const name of names) {
    for (const scheme of ["http", "https"]) {
      origins.push(`${scheme}://${name}:${port}`);
      // A browser leaves the scheme's default port out of the Origin it sends.
      if ((scheme === "http" && port === 80) || (scheme === "https" && port === 443)) origins.push(`${scheme}://${name}`);
    }
  }
  return origins;
}
