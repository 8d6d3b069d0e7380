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

/** The calls a host answered itself (not through a hub), for the fleet's consoles. */
export const activitySubject = (host: string) => `lmcp.activity.${hostToken(host)}`;

/** Every host's activity, for hubs. */
export const activityAll = "lmcp.activity.*";

/** Every host's presence, for hubs. */
export const presenceAll = "lmcp.presence.*";

/** A hub that (re)connects asks here; every host answers by announcing itself at once. */
export const discoverSubject = "lmcp.discover";

/**
 * The queue group a host's call subscription joins: two processes that claim the same name never both run a
 * call (one of them gets it), though both announce themselves.
 */
export const callQueue = "lmcp-serve";

/** Where one hub's replies arrive: `_INBOX.<hub id>.<host>.<call id>`. */
export const replyPrefix = (hubId: string) => `_INBOX.${hubId}`;

/**
 * A call's reply subject names the host it was sent to, so a host's credentials may publish only on reply subjects
 * of calls addressed to it (`_INBOX.*.<host>.*`): it cannot answer, or send progress for, another host's calls.
 */
export const replySubject = (prefix: string, host: string, callId: string) => `${prefix}.${hostToken(host)}.${callId}`;

/** Hosts joining the fleet ask here (`lmcp join`), with the single-use enrollment credentials `lmcp hub enroll` made. */
export const enrollSubject = (host: string) => `lmcp.enroll.${hostToken(host)}`;

/** Every enrollment, for the hubs that hold the fleet authority. */
export const enrollAll = "lmcp.enroll.*";

/** A joining host's inbox prefix: its enrollment credentials may subscribe here and nowhere else. */
export const enrollInbox = (host: string) => `_ENROLL.${hostToken(host)}`;

/** `lmcp hub revoke` tells every hub here that a host is out (`{name}`), so none lists it up until its beats stop. */
export const revokedSubject = "lmcp.fleet.revoked";

export function hostToken(host: string): string {
  return host.replaceAll(".", "~");
}
