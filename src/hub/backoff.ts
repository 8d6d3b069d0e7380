// The health cache as plain arithmetic: what a probe result means for a host's
// state and when it is next worth probing. No clocks or sockets here.
import type { BackoffPolicy } from "../config/hub.ts";

export type HostState = "up" | "down" | "auth_failed" | "unknown";

export interface Health {
  state: HostState;
  /** ms since the epoch of the last probe or call that told us something; undefined before any. */
  lastProbe: number | undefined;
  /** ms since the epoch after which the cached state is stale; 0 = due now. */
  nextProbe: number;
  /** Consecutive failures; sets the down backoff. */
  failures: number;
  latencyMs: number | undefined;
  /** Why the host is down or refused us, in words. */
  error: string | undefined;
}

/** The probe timings, from hub.toml (defined in config/, which must not import the hub). */
export type { BackoffPolicy };

export const defaultPolicy: BackoffPolicy = { ttlUpMs: 30_000, ttlDownMinMs: 60_000, ttlDownMaxMs: 900_000 };

export const unknownHealth = (): Health => ({ state: "unknown", lastProbe: undefined, nextProbe: 0, failures: 0, latencyMs: undefined, error: undefined });

/** The down period after `failures` consecutive failures: min, 2·min, 4·min, … capped at max. */
export function downBackoff(failures: number, policy: BackoffPolicy): number {
  const doublings = Math.max(0, failures - 1);
  // Beyond 30 doublings the cap has long been reached; avoid overflowing to Infinity.
  return Math.min(policy.ttlDownMaxMs, policy.ttlDownMinMs * 2 ** Math.min(doublings, 30));
}

export function afterSuccess(now: number, latencyMs: number, policy: BackoffPolicy): Health {
  return { state: "up", lastProbe: now, nextProbe: now + policy.ttlUpMs, failures: 0, latencyMs, error: undefined };
}

export function afterFailure(prev: Health, now: number, error: string, policy: BackoffPolicy): Health {
  const failures = prev.failures + 1;
  return { state: "down", lastProbe: now, nextProbe: now + downBackoff(failures, policy), failures, latencyMs: undefined, error };
}

/** A 401 is a fact about our token, not about the host's health: re-checked as often as an up host. */
export function afterAuthFailure(now: number, latencyMs: number, policy: BackoffPolicy): Health {
  return { state: "auth_failed", lastProbe: now, nextProbe: now + policy.ttlUpMs, failures: 0, latencyMs, error: "the backend refused the hub's token (401)" };
}

export const isDue = (h: Health, now: number): boolean => now >= h.nextProbe;

/** The current down period, for display: 0 when the host is not down. */
export const currentBackoffMs = (h: Health, policy: BackoffPolicy): number => (h.state === "down" ? downBackoff(h.failures, policy) : 0);
