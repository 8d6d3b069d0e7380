// What each kind of NATS user in an lmcp fleet may publish and subscribe to
// (pure). These lists are the whole of credential isolation: the NATS server
// enforces them, so a host holding its own credentials can receive only the
// calls addressed to it and publish only its presence and the replies to
// those calls; it cannot read, answer or spoof another host's.
import {
  activityAll,
  activitySubject,
  callSubject,
  controlSubject,
  discoverSubject,
  enrollAll,
  enrollInbox,
  enrollSubject,
  hostToken,
  presenceAll,
  presenceSubject,
  revokedSubject,
} from "./subjects.ts";

export interface Permissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
}

/** A host: its calls, cancellations and the fleet's discover requests in; its presence, its own activity and its calls' replies out. */
export function hostPermissions(name: string): Permissions {
  return {
    sub: { allow: [callSubject(name), controlSubject(name), discoverSubject] },
    pub: { allow: [presenceSubject(name), activitySubject(name), `_INBOX.*.${hostToken(name)}.*`] },
  };
}

/** A hub: calls to any host, every presence and reply; enrollment answers for hubs that hold the authority. */
export function hubPermissions(): Permissions {
  return {
    sub: { allow: [presenceAll, activityAll, "_INBOX.>", enrollAll, revokedSubject] },
    pub: { allow: ["lmcp.call.*", "lmcp.ctl.*", discoverSubject, "_ENROLL.>", revokedSubject] },
  };
}

/** A host's one-time join credentials: its enrollment request out, the answer in, nothing else. */
export function enrollPermissions(name: string): Permissions {
  return {
    sub: { allow: [`${enrollInbox(name)}.>`] },
    pub: { allow: [enrollSubject(name)] },
  };
}

/** Subscriptions a host needs (calls, cancellations, discover) with room to spare; a bound on what a stolen credential can hold open. */
export const HOST_MAX_SUBS = 32;
