// The hub's tools: every serve tool as remote_<name> (its own schemas plus
// `host` and `via`, never written twice), remote_list_hosts, remote_shell_many.
import { z } from "zod";
import { cutMiddle } from "../tools/output_cut.ts";
import { shell } from "../tools/shell.ts";
import { type ToolDef, ask, defineTool, fail, ok } from "../tools/tool.ts";
import { decide, defaultApprovals } from "./approvals.ts";
import { rolloutInput, rolloutStages, shouldStop } from "./rollout.ts";
import type { Hub } from "./hub.ts";
import { remoteCopyTool } from "./remote_copy.ts";
import { sshFallbacks } from "./ssh/fallbacks.ts";

const hostField = z.string().min(1).describe("Name of the backend host, as listed by remote_list_hosts.");
const viaField = z.enum(["lmcp", "ssh", "nats"]).describe('How the call reached the host: "lmcp" (its lmcp server), "nats" (its lmcp, over NATS) or "ssh" (fallback).');

/** remote_<name> for one serve tool: same input plus `host`, same output plus `host` and `via`. */
export function remoteTool(def: ToolDef, hub: Hub): ToolDef {
  const bySsh = sshFallbacks[def.name] !== undefined;
  return {
    name: `remote_${def.name}`,
    title: `${def.title} (on a host)`,
    description:
      `${def.description} Runs on the host named by \`host\`, through its lmcp server` +
      (bySsh ? ", or over SSH when that server is down and the host has an ssh fallback." : "; needs lmcp on that host (no SSH fallback)."),
    input: def.input.extend({ host: hostField }),
    output: def.output.extend({ host: z.string().describe("The host that answered."), via: viaField }),
    annotations: { ...def.annotations, openWorldHint: true },
    async run(args, ctx) {
      const { host, ...rest } = args as { host: string } & Record<string, unknown>;
      const routed = await hub.route(def, host, rest, ctx);
      if (!routed.outcome.ok) return routed.outcome;
      return ok({ ...routed.outcome.data, host, via: routed.via }, `[${host} via ${routed.via}]\n${routed.outcome.text}`);
    },
  };
}

const hostRow = z.object({
  name: z.string(),
  state: z.enum(["up", "down", "auth_failed", "unknown"]),
  via: z.enum(["lmcp", "ssh", "nats", "none"]).describe("Where a call would go now."),
  latency_ms: z.number().nullable(),
  last_probe: z.string().nullable().describe("ISO time of the last probe or call that told the hub something."),
  next_probe: z.string().nullable().describe("ISO time after which the state is re-checked (null: never probed yet, or SSH only)."),
  backoff_s: z.number().describe("Current down backoff in seconds (0 unless down)."),
  error: z.string().nullable(),
  tags: z.array(z.string()),
  url: z.string().nullable(),
  ssh: z.boolean().describe("Whether the host has an SSH fallback."),
  source: z.enum(["backends.toml", "ssh_config", "ansible"]).describe("Where the host came from (the first source naming it)."),
  version: z.string().nullable().optional().describe("NATS mode: the lmcp version the host announced."),
  last_seen: z.string().nullable().optional().describe("NATS mode: ISO time of the host's last announcement; it is down after three missed heartbeats."),
});

export function listHostsTool(hub: Hub): ToolDef {
  return defineTool({
    name: "remote_list_hosts",
    title: "List the fleet's hosts",
    description:
      "Lists every backend host with its state (up, down, auth_failed, unknown), how a call would reach it, latency and probe times. " +
      "Probes hosts whose cached state is stale, all in parallel; force=true probes every host now.",
    input: z.object({
      force: z.boolean().optional().describe("Probe every host now instead of trusting cached states."),
      tag: z.string().optional().describe("Only hosts with this tag."),
    }),
    output: z.object({ hosts: z.array(hostRow), summary: z.string() }),
    annotations: { readOnlyHint: true, openWorldHint: true },
    async run(args) {
      const backends = args.tag === undefined ? hub.list() : hub.select(undefined, args.tag).backends;
      const fleet = hub.options.fleet;
      // NATS mode: presence is the state (no probes; `force` has nothing to refresh); registry-only hosts are unknown.
      if (!fleet) await hub.health.refresh(backends, args.force ?? false);
      const hosts = backends.map((b) => {
        if (fleet) {
          const p = fleet.host(b.name);
          const seen = p ? new Date(p.lastSeen).toISOString() : null;
          return {
            name: b.name,
            state: p?.state ?? ("unknown" as const),
            via: p?.state === "up" ? ("nats" as const) : b.ssh ? ("ssh" as const) : ("none" as const),
            latency_ms: null,
            last_probe: seen,
            next_probe: null,
            backoff_s: 0,
            error: p ? (p.error ?? null) : "not seen on NATS",
            tags: b.tags,
            url: null,
            ssh: b.ssh !== undefined,
          source: b.source ?? "backends.toml",
            version: p?.version ?? null,
            last_seen: seen,
          };
        }
        const h = hub.health.get(b.name);
        return {
          name: b.name,
          state: h.state,
          via: hub.viaFor(b, h),
          latency_ms: h.latencyMs === undefined ? null : Math.round(h.latencyMs * 100) / 100,
          last_probe: h.lastProbe === undefined ? null : new Date(h.lastProbe).toISOString(),
          next_probe: b.url && h.lastProbe !== undefined ? new Date(h.nextProbe).toISOString() : null,
          backoff_s: hub.backoffMs(h) / 1000,
          error: h.error ?? null,
          tags: b.tags,
          url: b.url ?? null,
          ssh: b.ssh !== undefined,
          source: b.source ?? "backends.toml",
        };
      });
      const count = (s: string) => hosts.filter((h) => h.state === s).length;
      const summary = `${hosts.length} hosts: ${count("up")} up, ${count("down")} down, ${count("auth_failed")} auth_failed, ${count("unknown")} unknown`;
      const lines = hosts.map((h) => `${h.name}  ${h.state}  via ${h.via}${h.latency_ms === null ? "" : `  ${h.latency_ms} ms`}${h.error ? `  (${h.error})` : ""}`);
      return ok({ hosts, summary }, [summary, ...lines].join("\n"));
    },
  });
}

/** Per host, a reply keeps this much of each stream (head and tail): many hosts must fit one agent context. */
const MANY_STREAM_BYTES = 4096;
const DEFAULT_MANY_CONCURRENCY = 16;

const manyResult = z.object({
  host: z.string(),
  ok: z.boolean().describe("True when the command ran (whatever its exit code)."),
  via: z.enum(["lmcp", "ssh", "nats"]).nullable(),
  exit_code: z.number().nullable(),
  stdout: z.string().describe(`Head and tail of stdout (at most ${MANY_STREAM_BYTES} bytes, marker between); call remote_shell on the host for all of it.`),
  stderr: z.string().describe(`Head and tail of stderr, like stdout.`),
  timed_out: z.boolean(),
  duration_ms: z.number(),
  error: z.string().nullable().describe("Why the host could not run the command (unreachable, unknown host…)."),
});

const manyGroup = z.object({
  hosts: z.array(z.string()).describe("Hosts whose exit code, stdout and stderr were identical."),
  exit_code: z.number().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  error: z.string().nullable(),
});

type ManyResult = z.output<typeof manyResult>;

/** Head and tail of a stream for a many-host reply. */
const brief = (s: string) =>
  cutMiddle(Buffer.from(s, "utf8"), MANY_STREAM_BYTES, (n) => `\n[lmcp: ${n} bytes cut; run remote_shell on this host for the whole output]\n`).text;

/** Hosts with identical results, largest group first, so 200 hosts that agree read as one answer. */
export function groupResults(results: ManyResult[]): z.output<typeof manyGroup>[] {
  const groups = new Map<string, z.output<typeof manyGroup>>();
  for (const r of results) {
    const key = JSON.stringify([r.ok, r.exit_code, r.stdout, r.stderr, r.ok ? null : r.error]);
    const g = groups.get(key);
    if (g) g.hosts.push(r.host);
    else groups.set(key, { hosts: [r.host], exit_code: r.exit_code, stdout: r.stdout, stderr: r.stderr, error: r.ok ? null : r.error });
  }
  return [...groups.values()].sort((a, b) => b.hosts.length - a.hosts.length);
}

/** Runs `f` over `items` with at most `limit` at once, in order of start. */
async function mapLimited<T, R>(items: T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function shellManyTool(hub: Hub): ToolDef {
  return defineTool({
    name: "remote_shell_many",
    title: "Run a command on many hosts",
    description:
      "Runs one shell command on several hosts in parallel (named in `hosts`, and/or every host with `tag`; with neither, every host in the registry) and returns one result per host, " +
      "hosts with identical output grouped, and a summary (ok / failed / unreachable). A host that cannot be reached is a per-host error, not a failure of the call. " +
      `Each host's output is cut to its head and tail (${MANY_STREAM_BYTES} bytes per stream).`,
    input: z.object({
      hosts: z.array(z.string().min(1)).optional().describe("Host names to run on. Omit both `hosts` and `tag` to run on every host."),
      tag: z.string().optional().describe("Run on every host with this tag (added to `hosts`)."),
      command: shell.input.shape.command,
      timeout_s: shell.input.shape.timeout_s.describe("Per host: seconds before that host's command is killed (default 120)."),
      max_concurrency: z.int().min(1).max(256).optional().describe(`How many hosts run at once (default ${DEFAULT_MANY_CONCURRENCY}); the rest wait their turn.`),
      rollout: rolloutInput
        .optional()
        .describe("Canary mode: run on `first` hosts, then `then_percent` of them, then the rest, stopping after a stage once `max_errors` hosts have failed; the reply says where it stopped and which hosts never ran."),
    }),
    output: z.object({
      results: z.array(manyResult),
      groups: z.array(manyGroup),
      counts: z.object({ ok: z.number(), failed: z.number(), unreachable: z.number(), total: z.number() }),
      summary: z.string(),
      approved: z.boolean().describe("True when the human confirmed this run (many hosts, or a guarded tag such as prod)."),
      rollout: z
        .object({
          stages: z.array(z.object({ hosts: z.array(z.string()), ok: z.number(), failed: z.number() })).describe("The stages that ran, in order."),
          stopped_after_stage: z.int().nullable().describe("1-based stage after which failures stopped the rollout; null when every stage ran."),
          not_run: z.array(z.string()).describe("Hosts never run on because the rollout stopped."),
        })
        .optional(),
    }),
    annotations: { destructiveHint: true, readOnlyHint: false, openWorldHint: true },
    async run(args, ctx) {
      // An empty list is more likely a computed selection that came out empty than a wish for every host.
      if (args.hosts?.length === 0 && args.tag === undefined) return fail("`hosts` is empty: name at least one host, or omit `hosts` to run on every host");
      const everyHost = args.hosts === undefined && args.tag === undefined;
      const { backends, unknown } = everyHost ? { backends: hub.list(), unknown: [] } : hub.select(args.hosts, args.tag);
      if (everyHost && backends.length === 0) return fail("the hub's registry has no hosts; add one with `lmcp hub add NAME --url URL --token-file FILE`, then reload the hub (SIGHUP)");
      if (backends.length === 0 && unknown.length === 0) return fail(`no host has the tag "${args.tag}"; remote_list_hosts shows each host's tags`);
      // The human is asked first when the blast radius calls for it (src/hub/approvals.ts); unknown hosts never run.
      const verdict = decide({ command: args.command, hosts: backends.map((b) => ({ name: b.name, tags: b.tags })) }, hub.options.approvals ?? defaultApprovals, ctx);
      if (verdict.kind === "ask") return ask(`asking the user to confirm: ${verdict.reason}`, verdict.ask);
      if (verdict.kind === "refuse") return fail(verdict.message);
      const shellArgs = { command: args.command, ...(args.timeout_s === undefined ? {} : { timeout_s: args.timeout_s }) };
      const total = backends.length + unknown.length;
      let finished = 0;
      // Progress per finished host; a per-host call's own progress is not relayed (it would interleave).
      const quiet = { ...ctx, progress: async () => {}, progressWanted: false };
      const runOne = async (name: string): Promise<ManyResult> => {
        const started = performance.now();
        const routed = await hub.route(shell, name, shellArgs, quiet);
        const duration_ms = Math.round(performance.now() - started);
        const r: ManyResult = routed.outcome.ok
          ? (() => {
              const d = routed.outcome.data as { exit_code: number | null; stdout: string; stderr: string; timed_out: boolean };
              return { host: name, ok: true, via: routed.via ?? null, exit_code: d.exit_code, stdout: brief(d.stdout), stderr: brief(d.stderr), timed_out: d.timed_out, duration_ms, error: null };
            })()
          : { host: name, ok: false, via: routed.via ?? null, exit_code: null, stdout: "", stderr: "", timed_out: false, duration_ms, error: routed.outcome.error };
        finished++;
        await ctx.progress(`${finished}/${total} hosts done; ${name}: ${r.ok ? `exit ${r.exit_code}` : "unreachable"}`, finished, total);
        return r;
      };
      const stages = args.rollout ? rolloutStages(backends.map((b) => b.name), args.rollout) : [backends.map((b) => b.name)];
      const ran: ManyResult[] = [];
      const stageReport: { hosts: string[]; ok: number; failed: number }[] = [];
      let stoppedAfter: number | null = null;
      for (const [i, stage] of stages.entries()) {
        if (ctx.signal.aborted) break;
        const got = await mapLimited(stage, args.max_concurrency ?? DEFAULT_MANY_CONCURRENCY, runOne);
        ran.push(...got);
        const bad = got.filter((r) => !r.ok || r.exit_code !== 0 || r.timed_out).length;
        stageReport.push({ hosts: stage, ok: got.length - bad, failed: bad });
        const failuresSoFar = stageReport.reduce((n, s) => n + s.failed, 0);
        if (args.rollout && i < stages.length - 1 && shouldStop(failuresSoFar, args.rollout)) {
          stoppedAfter = i + 1;
          break;
        }
      }
      const notRun = stages.slice(stageReport.length).flat();
      const results = [
        ...ran,
        ...unknown.map((name): ManyResult => ({ host: name, ok: false, via: null, exit_code: null, stdout: "", stderr: "", timed_out: false, duration_ms: 0, error: `unknown host "${name}"` })),
      ];
      const counts = {
        ok: results.filter((r) => r.ok && r.exit_code === 0).length,
        failed: results.filter((r) => r.ok && r.exit_code !== 0).length,
        unreachable: results.filter((r) => !r.ok).length,
        total: results.length,
      };
      const rolloutLine =
        args.rollout === undefined
          ? ""
          : stoppedAfter === null
            ? `; rollout: all ${stages.length} stages ran`
            : `; rollout stopped after stage ${stoppedAfter} of ${stages.length} (${stageReport.reduce((n, s) => n + s.failed, 0)} failed), ${notRun.length} host(s) not run: ${notRun.slice(0, 20).join(", ")}${notRun.length > 20 ? "…" : ""}`;
      const summary = `${counts.total} hosts: ${counts.ok} ok, ${counts.failed} failed, ${counts.unreachable} unreachable${rolloutLine}`;
      const groups = groupResults(results);
      const text = [
        summary,
        ...groups.map((g) => {
          const who = g.hosts.length > 10 ? `${g.hosts.slice(0, 10).join(", ")} and ${g.hosts.length - 10} more` : g.hosts.join(", ");
          if (g.error !== null) return `--- ${who}: ${g.error}`;
          return `--- ${who} (exit ${g.exit_code})\n${g.stdout}${g.stderr ? `[stderr]\n${g.stderr}` : ""}`;
        }),
      ].join("\n");
      const rollout = args.rollout === undefined ? undefined : { stages: stageReport, stopped_after_stage: stoppedAfter, not_run: notRun };
      return ok({ results, groups, counts, summary, approved: verdict.approved, ...(rollout ? { rollout } : {}) }, text);
    },
  });
}

/** Every tool the hub offers, derived from the serve tools. */
export function hubTools(hub: Hub, serveTools: ToolDef[]): ToolDef[] {
  return [listHostsTool(hub), ...serveTools.map((t) => remoteTool(t, hub)), shellManyTool(hub), remoteCopyTool(hub)];
}
