// Presence and inventory on NATS. Each host announces itself (name, tags,
// version, instance, heartbeat period) when it connects or reconnects, on every
// heartbeat, whenever a hub asks on lmcp.discover, and with a goodbye when it
// stops; a hub keeps what it heard and counts a host down after three missed
// beats (or at once on a goodbye).
//
// Heartbeats on core NATS rather than a JetStream KV bucket: presence is soft
// state that must fade when its host dies, which a heartbeat does by itself
// (a KV entry would need the same refreshing puts plus a bucket TTL); core
// NATS needs no JetStream, no storage and no RAFT group to keep alive when a
// cluster node dies, so presence survives exactly what calls survive; and a
// hub that starts (hubs are stateless) learns the whole fleet in one
// lmcp.discover round trip instead of reading a bucket.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { FleetHost } from "../hub/hub.ts";
import type { HostClaims } from "./host_claims.ts";
import { discoverSubject, presenceAll, presenceSubject } from "./subjects.ts";
import { type Announcement, WIRE_VERSION, announcement, jsonOf } from "./wire.ts";

/** A host that misses this many heartbeats in a row is down. */
export const MISSED_BEATS = 3;
/** A host not heard from for this long is dropped from the listing (a hub's memory stays bounded in a churning fleet). */
export const FORGET_AFTER_MS = 24 * 3600_000;

interface Entry {
  a: Announcement;
  lastSeen: number;
  leftAt?: number;
  /** When `lmcp hub revoke` cut it off: it stays down whatever it announced before NATS closed its connection. */
  revokedAt?: number;
}

/** What one hub has heard; states are computed from ages when asked, so no timer runs per host. */
export class PresenceTable {
  private readonly entries = new Map<string, Entry>();
  /** Called when a host says goodbye: calls in flight to it will get no answer. */
  onLeft?: (name: string) => void;

  constructor(private readonly now: () => number = Date.now) {}

  heard(a: Announcement): void {
    const now = this.now();
    const before = this.entries.get(a.name);
    // Announcements the host sent before NATS cut it off may still arrive: a revoked name stays down until it rejoins.
    if (before?.revokedAt !== undefined && a.instance === before.a.instance) return;
    if (a.state === "left") {
      this.entries.set(a.name, { a, lastSeen: now, leftAt: now });
      this.onLeft?.(a.name);
      return;
    }
    this.entries.set(a.name, { a, lastSeen: now });
  }

  /** A host revoked by the fleet's authority: down at once, and calls in flight to it end. */
  revoked(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    e.revokedAt = this.now();
    this.onLeft?.(name);
  }

  get(name: string): FleetHost | undefined {
    const e = this.entries.get(name);
    return e ? this.view(e, this.now()) : undefined;
  }

  /** The host instance last heard under this name (a new one means it restarted). */
  instance(name: string): string | undefined {
    return this.entries.get(name)?.a.instance;
  }

  all(): FleetHost[] {
    const now = this.now();
    const out: FleetHost[] = [];
    for (const [name, e] of this.entries) {
      if (now - e.lastSeen > FORGET_AFTER_MS) this.entries.delete(name);
      else out.push(this.view(e, now));
    }
    return out;
  }

  private view(e: Entry, now: number): FleetHost {
    const age = now - e.lastSeen;
    const error =
      e.revokedAt !== undefined
        ? `its credentials were revoked at ${new Date(e.revokedAt).toISOString()} (lmcp hub revoke)`
        : e.leftAt !== undefined
        ? `it disconnected from NATS (said goodbye at ${new Date(e.leftAt).toISOString()})`
        : age > MISSED_BEATS * e.a.every_ms
          ? `no heartbeat for ${(age / 1000).toFixed(1)} s (it announces every ${e.a.every_ms / 1000} s)`
          : undefined;
    return { name: e.a.name, tags: e.a.tags, version: e.a.version, lastSeen: e.lastSeen, state: error ? "down" : "up", error };
  }
}

/**
 * Hub side: keeps `table` up to date from every host's announcements and asks the fleet to announce itself now.
 * An announcement counts only on its own host's subject, so (once per-host credentials limit what a host may
 * publish) no host can speak for another.
 */
export function watchPresence(nc: NatsConnection, table: PresenceTable, claims?: HostClaims): Subscription {
  const sub = nc.subscribe(presenceAll, {
    callback: (_err, msg) => {
      const parsed = announcement.safeParse(jsonOf(msg.data));
      if (parsed.success && msg.subject === presenceSubject(parsed.data.name)) table.heard(claims ? claims.vouch(parsed.data) : parsed.data);
    },
  });
  return sub;
}

/** Asks every host to announce itself (a hub that starts or reconnects), once the presence subscription is in place. */
export async function discover(nc: NatsConnection): Promise<void> {
  await nc.flush();
  nc.publish(discoverSubject);
}

/** Serve side: announces this host at start, every `every_ms`, on lmcp.discover and on `announce()`; a goodbye on stop. */
export class Announcer {
  private timer: ReturnType<typeof setInterval> | undefined;
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly me: Omit<Announcement, "v" | "state">,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(discoverSubject, { callback: () => this.announce() });
    this.announce();
    this.timer = setInterval(() => this.announce(), this.me.every_ms);
  }

  announce(state: Announcement["state"] = "up"): void {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    this.nc.publish(presenceSubject(this.me.name), JSON.stringify({ v: WIRE_VERSION, ...this.me, state } satisfies Announcement));
  }

  /** Stops announcing and says goodbye, so hubs show the host down at once rather than after missed beats. */
  stop(): void {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
    this.announce("left");
  }
}
