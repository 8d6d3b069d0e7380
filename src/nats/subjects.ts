// The NATS subjects lmcp uses, in one place (pure). A host's name is one
// subject token: "." (allowed in names, a level separator in NATS) becomes "~"
// (not allowed in names), so the mapping is one-to-one and `lmcp.call.*` style
// permissions can name exactly one host.

/** Calls addressed to one host (request-reply; the reply subject carries progress, keep-alives and the answer). */
export const callSubject = (host: string) => `lmcp.call.${hostToken(host)}`;

/** Cancellations of one host's calls (`{op: "cancel", id}`), sent by the hub that made the call. */
export const controlSubject = (host: string) => `lmcp.ctl.${hostToken(host)}`;

/** One host's presence: its announcements (heartbeats, and a goodbye when it stops). */
export const presenceSubject = (host: string) => `lmcp.presence.${hostToken(host)}`;

/** Every host's presence, for hubs. */
export const presenceAll = "lmcp.presence.*";

/** A hub that (re)connects asks here; every host answers by announcing itself at once. */
export const discoverSubject = "lmcp.discover";

/**
 * The queue group a host's call subscription joins: two processes that claim the same name never both run a
 * call (one of them gets it), though both announce themselves.
 */
export const callQueue = "lmcp-serve";

/** Where one hub's replies arrive: `_INBOX.<hub id>.<call id>` (the `_INBOX.>` space NATS permissions grant for replies). */
export const replyPrefix = (hubId: string) => `_INBOX.${hubId}`;

export function hostToken(host: string): string {
  return host.replaceAll(".", "~");
}
