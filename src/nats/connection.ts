// Opens a NATS connection the same way for serve and hub: every server given
// (the client also learns the cluster's others), reconnecting forever so a
// dead node only moves the client to another, and status changes logged
// without credentials (host:port only).
import { type NatsConnection, connect } from "@nats-io/transport-node";
import { logEvent } from "../http/log.ts";

/** Pause between reconnect attempts to one server; the others in the pool are tried meanwhile. */
const RECONNECT_WAIT_MS = 250;
/** How often a start that cannot reach NATS says so. */
const STILL_TRYING_MS = 10_000;

/**
 * Connects (retrying until the first connection succeeds, so a host may start before its NATS), then logs
 * disconnects and reconnects and calls `onReconnect` after each reconnect.
 */
export async function openNats(servers: string[], name: string, onReconnect: () => void): Promise<NatsConnection> {
  const where = servers.map(hostPort).join(", ");
  logEvent(`NATS: connecting to ${where} as "${name}"`);
  // The client retries quietly until the first connection; the operator should hear that it has not happened.
  const quiet = setInterval(() => logEvent(`NATS: still not connected to ${where}; retrying`), STILL_TRYING_MS);
  const nc = await connect({
    servers,
    name,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: 100,
    // A server that stops answering without closing the socket is noticed within 15 s, not the default 4 min.
    pingInterval: 5000,
    maxPingOut: 3,
    timeout: 5000,
  }).finally(() => clearInterval(quiet));
  logEvent(`NATS: connected to ${nc.getServer()} as "${name}"`);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") logEvent(`NATS: disconnected from ${hostPort(s.server)}; reconnecting`);
      else if (s.type === "reconnect") {
        logEvent(`NATS: reconnected to ${hostPort(s.server)}`);
        onReconnect();
      } else if (s.type === "ldm") logEvent(`NATS: ${hostPort(s.server)} is entering lame duck mode; moving to another server`);
      else if (s.type === "error") logEvent(`NATS: ${s.error.message}`);
    }
  })();
  return nc;
}

/** host:port of a server URL, never its credentials. */
export function hostPort(server: string): string {
  try {
    return new URL(server.includes("://") ? server : `nats://${server}`).host;
  } catch {
    return "(unparsable server address)";
  }
}
