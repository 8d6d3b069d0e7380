// Probing backends and remembering the answers: an authenticated MCP ping with
// a deadline, all probes in parallel, results kept by the backoff arithmetic.
import type { JSONRPCRequest } from "@modelcontextprotocol/sdk/types.js";
import {
  type BackoffPolicy,
  type Health,
  afterAuthFailure,
  afterFailure,
  afterSuccess,
  isDue,
  unknownHealth,
} from "./backoff.ts";
import type { Backend } from "./registry.ts";

export type ProbeResult =
  | { kind: "up"; latencyMs: number }
  | { kind: "auth_failed"; latencyMs: number }
  | { kind: "down"; error: string };

const pingMessage: JSONRPCRequest = { jsonrpc: "2.0", id: "lmcp-hub-probe", method: "ping" };
const pingBody = JSON.stringify(pingMessage);

/** Words for a fetch failure, without the URL's token-free noise. */
export function connectionError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  if (e?.code === "ConnectionRefused" || e?.code === "ECONNREFUSED") return "connection refused";
  return e?.code ? `${e.code}: ${e.message ?? ""}`.trim() : (e?.message ?? String(err));
}

/** One authenticated `ping` to the backend's lmcp, bounded by `timeoutMs`. SSH is never a health check. */
export async function probeBackend(backend: Backend, timeoutMs: number): Promise<ProbeResult> {
  if (!backend.url) return { kind: "down", error: "no url: reachable over SSH only" };
  const started = performance.now();
  try {
    const res = await fetch(backend.url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${backend.token ?? ""}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: pingBody,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const latencyMs = performance.now() - started;
    const text = await res.text();
    if (res.status === 401) return { kind: "auth_failed", latencyMs };
    if (res.status !== 200) return { kind: "down", error: `HTTP ${res.status} from ${backend.url}` };
    if (!text.includes('"result"')) return { kind: "down", error: "the answer to ping was not an MCP result" };
    return { kind: "up", latencyMs };
  } catch (err) {
    return { kind: "down", error: connectionError(err, timeoutMs) };
  }
}

export class HealthTable {
  private readonly table = new Map<string, Health>();
  /** Probes under way, so concurrent askers share one probe per host. */
  private readonly inflight = new Map<string, Promise<Health>>();

  constructor(
    readonly policy: BackoffPolicy,
    readonly probeTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(name: string): Health {
    return this.table.get(name) ?? unknownHealth();
  }

  /** Records what a call (not a probe) taught us. */
  record(name: string, result: ProbeResult): Health {
    const now = this.now();
    const prev = this.get(name);
    const next =
      result.kind === "up"
        ? afterSuccess(now, result.latencyMs, this.policy)
        : result.kind === "auth_failed"
          ? afterAuthFailure(now, result.latencyMs, this.policy)
          : afterFailure(prev, now, result.error, this.policy);
    this.table.set(name, next);
    return next;
  }

  /** Probes now, sharing a probe already under way for the same host. */
  probe(backend: Backend): Promise<Health> {
    const running = this.inflight.get(backend.name);
    if (running) return running;
    const p = probeBackend(backend, this.probeTimeoutMs)
      .then((r) => this.record(backend.name, r))
      .finally(() => this.inflight.delete(backend.name));
    this.inflight.set(backend.name, p);
    return p;
  }

  /** The cached state when still fresh, else a new probe. */
  fresh(backend: Backend): Promise<Health> {
    const h = this.get(backend.name);
    return isDue(h, this.now()) ? this.probe(backend) : Promise.resolve(h);
  }

  /** Probes, in parallel, every backend that is due (or all with `force`); SSH-only backends are never probed. */
  async refresh(backends: Backend[], force: boolean): Promise<void> {
    await Promise.all(backends.filter((b) => b.url).map((b) => (force ? this.probe(b) : this.fresh(b))));
  }

  /** Forget hosts no longer in the registry (after SIGHUP). */
  retain(names: Set<string>): void {
    for (const name of this.table.keys()) if (!names.has(name)) this.table.delete(name);
  }
}
