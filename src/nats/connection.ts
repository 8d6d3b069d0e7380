// Opens a NATS connection the same way for serve and hub: every server given
// (the client also learns the cluster's others), reconnecting forever so a
// dead node only moves the client to another, and status changes logged
// without credentials (host:port only).
import { type NatsConnection, connect, credsAuthenticator } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/file.ts";
import { logEvent } from "../http/log.ts";

/** Pause between reconnect attempts to one server; the others in the pool are tried meanwhile. */
const RECONNECT_WAIT_MS = 250;
/** How often a start that cannot reach NATS says so. */
const STILL_TRYING_MS = 10_000;

/** How this process proves itself to NATS and checks the servers: a creds file's bytes, and the CA to trust for TLS. */
export interface NatsAuth {
  creds?: Uint8Array;
  /** PEM; when set, the connection must be TLS and the server's certificate must chain to it. */
  ca?: string;
}

/**
 * Connects (retrying until the first connection succeeds, so a host may start before its NATS), then logs
 * disconnects and reconnects and calls `onReconnect` after each reconnect.
 */
export async function openNats(servers: string[], name: string, onReconnect: () => void, auth: NatsAuth = {}): Promise<NatsConnection> {
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
    ...(auth.creds ? { authenticator: credsAuthenticator(auth.creds) } : {}),
    ...(auth.ca ? { tls: { ca: auth.ca } } : {}),
  }).finally(() => clearInterval(quiet));
  logEvent(`NATS: connected to ${nc.getServer()} as "${name}"`);
  let revoked = false;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && /revoked/i.test(s.error.message)) revoked = true;
      if (s.type === "disconnect") logEvent(`NATS: disconnected from ${hostPort(s.server)}; reconnecting`);
      else if (s.type === "reconnect") {
        logEvent(`NATS: reconnected to ${hostPort(s.server)}`);
        onReconnect();
      } else if (s.type === "ldm") logEvent(`NATS: ${hostPort(s.server)} is entering lame duck mode; moving to another server`);
      else if (s.type === "error") logEvent(`NATS: ${s.error.message}`);
    }
  })();
  // The client gives up only when the servers keep refusing its credentials (a revoked host, say).
  void nc.closed().then((err) => {
    if (err) logEvent(`error: NATS: gave up on ${where}: ${err.message}. ${authHint(revoked ? "revoked" : err.message)}`);
  });
  return nc;
}

/**
 * A short-lived connection for one errand (a join, a revocation push, a notice to the hubs): TLS against `ca`, the
 * given credentials, no reconnecting (a failure is the errand's to report), and `timeoutMs` to connect.
 */
export function connectOnce(servers: string[], name: string, creds: Uint8Array, ca: string, timeoutMs: number, inboxPrefix?: string): Promise<NatsConnection> {
  return connect({
    servers,
    name,
    authenticator: credsAuthenticator(creds),
    tls: { ca },
    timeout: timeoutMs,
    maxReconnectAttempts: 0,
    ...(inboxPrefix ? { inboxPrefix } : {}),
  });
}

/** host:port of a server URL, never its credentials. */
export function hostPort(server: string): string {
  try {
    return new URL(server.includes("://") ? server : `nats://${server}`).host;
  } catch {
    return "(unparsable server address)";
  }
}

/** What to do when NATS refuses this process's credentials. */
export function authHint(message: string): string {
  if (/revoked/i.test(message)) return "This host's credentials were revoked (lmcp hub revoke); to bring it back, run `lmcp hub enroll NAME` on the hub and the `lmcp join …` it prints here, then restart lmcp";
  if (/authori[sz]ation|authentication|permission/i.test(message)) return "Check nats_creds (and nats_ca) in the config: they must come from this fleet's `lmcp join` (hosts) or its authority's hub.creds (hubs)";
  return "Check that the NATS servers are running and reachable";
}

/** Reads the creds and CA files a config names, saying which file and what to do when one cannot be read. */
export function loadNatsAuth(files: { credsFile: string | undefined; caFile: string | undefined }): NatsAuth {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const fix = e.code === "EACCES" ? "; make it readable by lmcp's user (and no one else)" : e.code === "ENOENT" ? "; `lmcp join` writes it (hosts), `lmcp hub nats-init` (hubs)" : "";
      throw new ConfigError(`cannot read the NATS ${what} ${file}: ${e.message}${fix}`);
    }
  };
  const creds = files.credsFile ? read(files.credsFile, "credentials") : undefined;
  if (creds && !new TextDecoder().decode(creds).includes("-----BEGIN NATS USER JWT-----")) {
    throw new ConfigError(`${files.credsFile} is not a NATS credentials file (it has no "BEGIN NATS USER JWT" block)`);
  }
  const ca = files.caFile ? read(files.caFile, "CA certificate").toString("utf8") : undefined;
  if (ca !== undefined && !ca.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`${files.caFile} is not a PEM certificate`);
  return { ...(creds ? { creds } : {}), ...(ca ? { ca } : {}) };
}
