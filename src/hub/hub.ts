// The hub's state and routing: the registry, each backend's health and link,
// the SSH runner, and the rule that sends a call to lmcp or to SSH.
import type { ApprovalPolicy } from "../config/hub.ts";
import type { AuthSetting } from "../config/server.ts";
import { logEvent } from "../http/log.ts";
import { realTarget } from "../policy/rules.ts";
import type { ToolContext, ToolDef, ToolOutcome } from "../tools/tool.ts";
import { type BackoffPolicy, type Health, currentBackoffMs } from "./backoff.ts";
import { BackendLink, LinkError } from "./backend_link.ts";
import { HealthTable } from "./health.ts";
import type { Backend } from "./registry.ts";
import { sshFallbacks } from "./ssh/fallbacks.ts";
import type { RemotePolicy } from "./ssh/perl.ts";
import { SshRunner, type SshTarget } from "./ssh/runner.ts";

export type Via = "lmcp" | "ssh" | "nats";

export interface HubOptions {
  policy: BackoffPolicy;
  probeTimeoutMs: number;
  sshHardTimeoutMs: number;
  sshMaxConcurrent: number;
  /** ssh processes one host may hold at once (default: all of sshMaxConcurrent). */
  sshMaxPerHost?: number;
  /** The hub's own files, secrets the SSH fallback never reads or writes on a backend that is the hub's host. */
  auth?: AuthSetting;
  configFile?: string | undefined;
  backendsFile?: string;
  auditLog?: string | undefined;
  /** When remote_shell_many asks the human first; undefined: the defaults (src/hub/approvals.ts). */
  approvals?: ApprovalPolicy;
  /** NATS mode (src/nats/hub_link.ts): hosts come from presence and calls go through it; registry urls are unused. */
  fleet?: Fleet;
}

/** A host as a fleet transport sees it (NATS presence): what it announced, and up or down by the age of that. */
export interface FleetHost {
  name: string;
  tags: string[];
  version: string;
  /** ms since the epoch of its last announcement. */
  lastSeen: number;
  state: "up" | "down";
  /** Why down (missed heartbeats, said goodbye); undefined when up. */
  error: string | undefined;
}

/**
 * Hosts reached through a message bus instead of a link per host: implemented by src/nats/hub_link.ts and
 * plugged in by cli/hub.ts, so hub/ never imports the transport. `route` answers, or says why the host cannot
 * be reached (`problem`), after which the SSH fallback is tried where the registry has one.
 */
export interface Fleet {
  host(name: string): FleetHost | undefined;
  hosts(): FleetHost[];
  route(def: ToolDef, host: string, args: Record<string, unknown>, ctx: ToolContext): Promise<Routed | { problem: string }>;
}

/** A routed call's answer: the tool outcome and the path it took. */
export type Routed = { via: Via; outcome: ToolOutcome<Record<string, unknown>> } | { via: undefined; outcome: ToolOutcome<never> };

/** How to leave a down period early, for both readers of a host error: the agent and the operator. */
const reprobeHint = "remote_list_hosts with force=true, or `lmcp hosts --force`, re-probes it now";

/** Tools that only change state idempotently (or not at all) may be retried over SSH even if the lmcp request may have arrived. */
export const safeToRetry = new Set(["read_file", "write_file", "list_dir", "search_files", "transfer_read"]);

export class Hub {
  private backends = new Map<string, Backend>();
  private links = new Map<string, BackendLink>();
  /** Real paths (and as written) of the hub's token, config, registry and audit files and every backend's token file. */
  private secretPaths: string[] = [];
  readonly health: HealthTable;
  readonly ssh: SshRunner;

  constructor(backends: Backend[], readonly options: HubOptions) {
    this.health = new HealthTable(options.policy, options.probeTimeoutMs);
    this.ssh = new SshRunner({ maxConcurrent: options.sshMaxConcurrent, maxPerHost: options.sshMaxPerHost, hardTimeoutMs: options.sshHardTimeoutMs });
    this.replaceRegistry(backends);
  }

  /** Swaps in a new registry (SIGHUP); links of changed backends are rebuilt, health of kept ones is kept. */
  replaceRegistry(backends: Backend[]): void {
    const next = new Map(backends.map((b) => [b.name, b]));
    for (const [name, link] of this.links) {
      const b = next.get(name);
      if (!b || b.url !== link.backend.url || b.token !== link.backend.token) {
        link.reset();
        this.links.delete(name);
      }
    }
    this.backends = next;
    this.health.retain(new Set(next.keys()));
    this.secretPaths = hubSecretPaths(this.options, backends);
  }

  /** How the SSH fallback reaches a backend, with the policy its remote program enforces there. */
  sshTarget(b: Backend & { ssh: string }): SshTarget {
    const policy: RemotePolicy = { allowedPaths: b.allowedPaths, secretPaths: this.secretPaths };
    return { name: b.name, ssh: b.ssh, ssh_port: b.ssh_port, ssh_options: b.ssh_options, policy };
  }

  list(): Backend[] {
    const fleet = this.options.fleet;
    if (!fleet) return [...this.backends.values()];
    // Registry entries first (they may add ssh), then hosts only presence knows, by name.
    const seen = fleet.hosts();
    const byName = new Map(seen.map((h) => [h.name, h]));
    const listed = [...this.backends.values()].map((b) => {
      const h = byName.get(b.name);
      return h ? withPresence(b, h) : b;
    });
    const extra = seen.filter((h) => !this.backends.has(h.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [...listed, ...extra.map((h) => withPresence(undefined, h))];
  }

  get(name: string): Backend | undefined {
    const b = this.backends.get(name);
    const h = this.options.fleet?.host(name);
    return h ? withPresence(b, h) : b;
  }

  /** Backends selected by explicit names and/or a tag; unknown names are reported, not dropped. */
  select(names: string[] | undefined, tag: string | undefined): { backends: Backend[]; unknown: string[] } {
    const unknown: string[] = [];
    const picked = new Map<string, Backend>();
    for (const n of names ?? []) {
      const b = this.get(n);
      if (b) picked.set(n, b);
      else unknown.push(n);
    }
    if (tag !== undefined) for (const b of this.options.fleet ? this.list() : this.backends.values()) if (b.tags.includes(tag)) picked.set(b.name, b);
    return { backends: [...picked.values()], unknown };
  }

  private link(b: Backend): BackendLink {
    let l = this.links.get(b.name);
    if (!l) {
      l = new BackendLink(b);
      this.links.set(b.name, l);
    }
    return l;
  }

  /** The path a call to this host would take now, for remote_list_hosts. */
  viaFor(b: Backend, h: Health): Via | "none" {
    if (b.url && h.state !== "down") return "lmcp";
    return b.ssh ? "ssh" : "none";
  }

  backoffMs(h: Health): number {
    return currentBackoffMs(h, this.options.policy);
  }

  unknownHostError(name: string): ToolOutcome<never> {
    const names = this.options.fleet ? this.list().map((b) => b.name) : [...this.backends.keys()];
    if (this.options.fleet && names.length === 0) {
      return { ok: false, error: `unknown host "${name}": no host has announced itself on NATS to this hub yet (hosts run \`lmcp serve --nats URL\`; the hub's log says whether it is connected)` };
    }
    const known = this.options.fleet ? "this hub knows (NATS presence and the registry)" : "the registry has";
    return { ok: false, error: `unknown host "${name}"; ${known}: ${names.slice(0, 50).join(", ")}${names.length > 50 ? ", …" : ""} (remote_list_hosts lists them)` };
  }

  /** Sends one tool call to a host: its lmcp when up or unknown, else (or on connection failure) SSH where configured. */
  async route(def: ToolDef, host: string, args: Record<string, unknown>, ctx: ToolContext): Promise<Routed> {
    const b = this.get(host);
    if (!b) return { via: undefined, outcome: this.unknownHostError(host) };
    let lmcpProblem: string | undefined;

    if (this.options.fleet) {
      const r = await this.options.fleet.route(def, host, args, ctx);
      if (!("problem" in r)) return r;
      lmcpProblem = r.problem;
    } else if (b.url) {
      // An unknown or stale host gets a bounded probe first, so a hung server costs one probe timeout, not a call timeout.
      const h = await this.health.fresh(b);
      if (h.state === "down") lmcpProblem = `its lmcp is down (${h.error}; next probe ${new Date(h.nextProbe).toISOString()}; ${reprobeHint})`;
      else {
        const started = performance.now();
        try {
          const result = await this.link(b).callTool(def.name, args, {
            signal: ctx.signal,
            timeoutMs: callTimeoutMs(def.name, args),
            traceparent: ctx.traceparent,
            // Only when our own caller wants progress: asking for it makes the backend answer as an SSE stream, which costs more than JSON.
            onprogress: ctx.progressWanted ? (p) => void ctx.progress(p.message ?? "", p.progress, p.total) : undefined,
          });
          this.health.record(b.name, { kind: "up", latencyMs: performance.now() - started });
          const text = result.content.map((c) => (c.type === "text" ? c.text : `[${c.type} content]`)).join("\n");
          if (result.isError) return { via: "lmcp", outcome: { ok: false, error: `${host}: ${text}` } };
          return { via: "lmcp", outcome: { ok: true, data: (result.structuredContent ?? {}) as Record<string, unknown>, text } };
        } catch (err) {
          if (!(err instanceof LinkError)) throw err;
          const f = err.failure;
          if (f.kind === "rpc_error") return { via: "lmcp", outcome: { ok: false, error: `${host}'s lmcp refused the call: ${f.message}` } };
          if (f.kind === "auth_failed") {
            this.health.record(b.name, { kind: "auth_failed", latencyMs: performance.now() - started });
            return { via: "lmcp", outcome: { ok: false, error: `${host}: ${f.message}. Not retried over SSH: a refused token is a configuration error.` } };
          }
          if (ctx.signal.aborted) {
            // Our caller gave up, which proves nothing about the host (a long command may have been cancelled);
            // but one that stopped answering must not stay `up` for its whole TTL: a bounded probe settles it now.
            this.health.probe(b).catch(() => {});
            return { via: "lmcp", outcome: { ok: false, error: `${host}: the call was cancelled` } };
          }
          // Recorded now, not at the next probe: the next call and remote_list_hosts must not trust a stale `up`.
          this.health.record(b.name, { kind: "down", error: f.message });
          logEvent(`hub: ${host} marked down: ${f.message}`);
          if (f.kind === "broken" && !safeToRetry.has(def.name)) {
            return {
              via: "lmcp",
              outcome: { ok: false, error: `${host}: the connection to its lmcp failed during the call (${f.message}); not retried over SSH because the command may have run. Check with remote_shell_bg_status or retry.` },
            };
          }
          lmcpProblem = `its lmcp failed (${f.message}; ${reprobeHint})`;
        }
      }
    }

    const fallback = sshFallbacks[def.name];
    if (!b.ssh) {
      return { via: undefined, outcome: { ok: false, error: `${host} cannot be reached: ${lmcpProblem ?? "no url"}, and it has no ssh fallback in the registry.` } };
    }
    if (!fallback) {
      return {
        via: undefined,
        outcome: { ok: false, error: `${host}: ${def.name} needs lmcp on that host (no SSH fallback for it), and ${lmcpProblem ?? "it has no url in the registry"}. Start lmcp there, or use remote_shell.` },
      };
    }
    let outcome: ToolOutcome<unknown>;
    try {
      outcome = await fallback(this.ssh, this.sshTarget({ ...b, ssh: b.ssh }), args, ctx);
    } catch (err) {
      // Whatever went wrong with ssh, this call gets an answer and the hub keeps serving.
      logEvent(`error: the SSH fallback to ${host} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      outcome = { ok: false, error: `${host}: the SSH fallback failed (${err instanceof Error ? err.message : String(err)}); retry, or check the host with remote_list_hosts` };
    }
    return { via: "ssh", outcome: outcome as ToolOutcome<Record<string, unknown>> };
  }
}

/** A host as the router uses it in fleet mode: its registry entry (ssh, allowed_paths) with presence's tags added. */
function withPresence(b: Backend | undefined, h: FleetHost): Backend {
  const base: Backend = b ?? { name: h.name, url: undefined, token: undefined, ssh: undefined, ssh_port: undefined, ssh_options: [], tags: [], tokenFile: undefined, allowedPaths: undefined };
  return { ...base, url: undefined, tags: b ? [...new Set([...base.tags, ...h.tags])] : h.tags };
}

/**
 * The files a backend that is the hub's own host must never hand out over SSH:
 * the hub's token file, config, registry and audit log, and the backends'
 * token files, each as written and as its real path.
 */
export function hubSecretPaths(o: Pick<HubOptions, "auth" | "configFile" | "backendsFile" | "auditLog">, backends: Backend[]): string[] {
  const files = [o.auth?.mode === "file" ? o.auth.file : undefined, o.configFile, o.backendsFile, o.auditLog, ...backends.map((b) => b.tokenFile)];
  const out = new Set<string>();
  for (const f of files) {
    if (!f || !f.startsWith("/")) continue;
    out.add(f);
    out.add(realTarget(f));
  }
  return [...out];
}

/** Longest delay a timer takes: past it, setTimeout fires after 1 ms, and the SDK would time the call out at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long the hub waits for a backend's answer: the call's own timeout_s (shell, shell_bg_wait) plus margin, else two minutes. */
export function callTimeoutMs(tool: string, args: Record<string, unknown>): number {
  if (typeof args.timeout_s === "number") return Math.min(args.timeout_s * 1000 + 15_000, MAX_TIMER_MS);
  if (tool === "shell") return 135_000;
  return 120_000;
}
