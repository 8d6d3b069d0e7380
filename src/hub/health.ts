// Probing backends and remembering the answers: an authenticated MCP request
// with a deadline (`server/discover` for 2026-07-28, `ping` for a 2025-only
// lmcp), all probes in parallel, results kept by the backoff arithmetic.
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type JSONRPCRequest,
  PROTOCOL_VERSION_META_KEY,
} from "@modelcontextprotocol/client";
import { version } from "../version.ts";
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

/** Which request answered: `server/discover` (2026-07-28) or the 2025 `ping`. */
export type Era = "modern" | "legacy";

export type ProbeResult =
  | { kind: "up"; latencyMs: number; era?: Era }
  | { kind: "auth_failed"; latencyMs: number }
  | { kind: "down"; error: string };

export const MODERN_REVISION = "2026-07-28";

/** The probe the v2 SDK client sends at connect: server/discover with the full `_meta` envelope. */
const discoverBody = JSON.stringify({
  jsonrpc: "2.0",
  id: "lmcp-hub-probe",
  method: "server/discover",
  params: {
    _meta: {
      [PROTOCOL_VERSION_META_KEY]: MODERN_REVISION,
      [CLIENT_INFO_META_KEY]: { name: "lmcp-hub", version },
      [CLIENT_CAPABILITIES_META_KEY]: {},
    },
  },
} satisfies JSONRPCRequest);
const pingBody = JSON.stringify({ jsonrpc: "2.0", id: "lmcp-hub-probe", method: "ping" } satisfies JSONRPCRequest);

/** How long a legacy verdict is trusted before a probe asks server/discover again (an lmcp upgraded in place). */
export const REDISCOVER_MS = 10 * 60_000;

/** Words for a fetch failure, without the URL's token-free noise. */
export function connectionError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  if (e?.code === "ConnectionRefused" || e?.code === "ECONNREFUSED") return "connection refused";
  return e?.code ? `${e.code}: ${e.message ?? ""}`.trim() : (e?.message ?? String(err));
}

/** The JSON-RPC message in a reply body: plain JSON, or the first `data:` line of an SSE stream. */
function replyMessage(text: string, contentType: string | null): { result?: unknown; error?: { code?: unknown } } | undefined {
  let json = text;
  if (contentType?.startsWith("text/event-stream")) {
    const line = text.split("\n").find((l) => l.startsWith("data:"));
    if (!line) return undefined;
    json = line.slice(5);
  }
  try {
    const m: unknown = JSON.parse(json);
    return m && typeof m === "object" ? (m as { result?: unknown; error?: { code?: unknown } }) : undefined;
  } catch {
    return undefined;
  }
}

type Exchange =
  | { kind: "answered"; status: number; latencyMs: number; message: ReturnType<typeof replyMessage> }
  | { kind: "failed"; error: string };

async function post(backend: Backend & { url: string }, body: string, headers: Record<string, string>, signal: AbortSignal, timeoutMs: number): Promise<Exchange> {
  const started = performance.now();
  try {
    const res = await fetch(backend.url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${backend.token ?? ""}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body,
      signal,
    });
    const latencyMs = performance.now() - started;
    const text = await res.text();
    return { kind: "answered", status: res.status, latencyMs, message: res.status === 200 ? replyMessage(text, res.headers.get("content-type")) : undefined };
  } catch (err) {
    return { kind: "failed", error: connectionError(err, timeoutMs) };
  }
}

/** True when a discover answer is a DiscoverResult: the backend speaks 2026-07-28 (or a later revision). */
function isDiscoverResult(m: ReturnType<typeof replyMessage>): boolean {
  const r = m?.result as { supportedVersions?: unknown } | undefined;
  return Array.isArray(r?.supportedVersions) && r.supportedVersions.every((v) => typeof v === "string");
}

/**
 * One authenticated probe of the backend's lmcp, bounded by `timeoutMs` in all. Unless `era` says the
 * backend is 2025-only, it asks `server/discover`; an answer that is no DiscoverResult (-32601, HTTP 404/400
 * from a 2025 server) falls back to `ping` within the same deadline. SSH is never a health check.
 */
export async function probeBackend(backend: Backend, timeoutMs: number, era?: Era): Promise<ProbeResult> {
  if (!backend.url) return { kind: "down", error: "no url: reachable over SSH only" };
  const target = { ...backend, url: backend.url };
  const signal = AbortSignal.timeout(timeoutMs);
  if (era !== "legacy") {
    const d = await post(target, discoverBody, { "mcp-protocol-version": MODERN_REVISION, "mcp-method": "server/discover" }, signal, timeoutMs);
    if (d.kind === "failed") return { kind: "down", error: d.error };
    if (d.status === 401) return { kind: "auth_failed", latencyMs: d.latencyMs };
    if (d.status === 200 && isDiscoverResult(d.message)) return { kind: "up", latencyMs: d.latencyMs, era: "modern" };
    // What a 2025-only server says to a request it does not know; anything else (5xx, 403) is a problem to report.
    const legacySignal = d.status === 200 || d.status === 400 || d.status === 404 || d.status === 405 || d.status === 406;
    if (!legacySignal) return { kind: "down", error: `HTTP ${d.status} from ${backend.url}` };
  }
  const p = await post(target, pingBody, {}, signal, timeoutMs);
  if (p.kind === "failed") return { kind: "down", error: p.error };
  if (p.status === 401) return { kind: "auth_failed", latencyMs: p.latencyMs };
  if (p.status !== 200) return { kind: "down", error: `HTTP ${p.status} from ${backend.url}` };
  if (!p.message || !("result" in p.message)) return { kind: "down", error: "the answer to ping was not an MCP result" };
  return { kind: "up", latencyMs: p.latencyMs, era: "legacy" };
}

export class HealthTable {
  private readonly table = new Map<string, Health>();
  /** Which probe last worked per host, and when it was learnt; a legacy one is re-checked after REDISCOVER_MS. */
  private readonly eras = new Map<string, { era: Era; since: number }>();
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

  /** The protocol era the last successful probe used for this host, if any. */
  era(name: string): Era | undefined {
    return this.eras.get(name)?.era;
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
    // A host that went away may come back upgraded (or replaced): its next probe asks server/discover again.
    if (result.kind === "down") this.eras.delete(name);
    this.table.set(name, next);
    return next;
  }

  /** The era to probe with: legacy straight to ping while that verdict is fresh, else discover first. */
  private probeEra(name: string): Era | undefined {
    const known = this.eras.get(name);
    if (known?.era === "legacy" && this.now() - known.since > REDISCOVER_MS) return undefined;
    return known?.era;
  }

  /** Probes now, sharing a probe already under way for the same host. */
  /** Told of every probe's result and time (the metrics). */
  onProbe?: (host: string, result: string, seconds: number) => void;

  probe(backend: Backend): Promise<Health> {
    const running = this.inflight.get(backend.name);
    if (running) return running;
    const asked = this.probeEra(backend.name);
    const started = performance.now();
    const p = probeBackend(backend, this.probeTimeoutMs, asked)
      .then((r) => {
        this.onProbe?.(backend.name, r.kind, (performance.now() - started) / 1000);
        // A new verdict, or a discover that found the backend still legacy, (re)starts the clock.
        if (r.kind === "up" && r.era && r.era !== asked) this.eras.set(backend.name, { era: r.era, since: this.now() });
        return this.record(backend.name, r);
      })
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
    for (const name of this.eras.keys()) if (!names.has(name)) this.eras.delete(name);
  }
}
