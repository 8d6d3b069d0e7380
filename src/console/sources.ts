// What the console shows and acts on, behind small interfaces the composition
// roots fill: the fleet (the hub's hosts, or this one host) and the running
// shell_bg jobs, listed and killed through the same tool code agents call
// (shell_bg_list / shell_bg_kill on serve, their remote_* forms on the hub).
import { z } from "zod";
import type { ToolContext, ToolDef } from "../tools/tool.ts";

export interface FleetHost {
  name: string;
  state: string;
  via: string;
  latencyMs: number | undefined;
  /** ms since the epoch of the last probe or call that heard from it. */
  lastSeen: number | undefined;
  tags: string[];
  /** Which MCP revision the host answered with (hub), or what this server speaks (serve). */
  protocol: string | undefined;
  version: string | undefined;
  error: string | undefined;
}

export interface FleetSource {
  /** Bounded: the hub probes only hosts whose state is stale, each within the probe timeout. */
  hosts(): Promise<FleetHost[]>;
}

export interface JobRow {
  host: string;
  job_id: string;
  pid: number;
  command: string;
  started_at: string;
  log_size: number | null;
}

export interface JobsView {
  rows: JobRow[];
  /** Hosts whose jobs could not be listed, and why. */
  problems: string[];
}

export interface JobControl {
  list(): Promise<JobsView>;
  kill(host: string, jobId: string, signal: "TERM" | "KILL"): Promise<{ ok: boolean; text: string }>;
}

const listed = z.object({
  jobs: z.array(z.object({ job_id: z.string(), pid: z.number(), command: z.string(), started_at: z.string(), state: z.string(), log_size: z.number().nullable() })),
});

/** A listing or kill is the operator waiting on a page: bounded well below a browser's patience. */
const CALL_TIMEOUT_MS = 10_000;

export interface ToolJobsOptions {
  /** shell_bg_list and shell_bg_kill (serve), or remote_shell_bg_list and remote_shell_bg_kill (hub). */
  list: ToolDef;
  kill: ToolDef;
  /** The hub's hosts worth asking now; undefined on serve, where the tools take no `host`. */
  hosts?: () => Promise<string[]>;
  /** The name rows get on serve. */
  localHost: string;
  context: Omit<ToolContext, "signal" | "progress">;
}

/** One context per console call: the server's shared one, a deadline, no progress. */
function callContext(context: Omit<ToolContext, "signal" | "progress">): ToolContext {
  return { ...context, signal: AbortSignal.timeout(CALL_TIMEOUT_MS), progress: async () => {} };
}

/** Jobs through the tools themselves: what an agent's shell_bg_kill does, the console's kill button does. */
export function toolJobs(opts: ToolJobsOptions): JobControl {
  const run = async (def: ToolDef, args: Record<string, unknown>) => {
    const parsed = def.input.safeParse(args);
    if (!parsed.success) return { ok: false as const, error: `bad arguments for ${def.name}: ${parsed.error.message}` };
    try {
      return await def.run(parsed.data, callContext(opts.context));
    } catch (err) {
      return { ok: false as const, error: `${def.name} failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  };
  const hostArg = (host: string) => (opts.hosts ? { host } : {});
  const targets = async () => (opts.hosts ? await opts.hosts() : [opts.localHost]);
  return {
    async list() {
      const view: JobsView = { rows: [], problems: [] };
      await Promise.all(
        (await targets()).map(async (host) => {
          const r = await run(opts.list, { ...hostArg(host), state: "running", limit: 200 });
          if (!r.ok) {
            view.problems.push(`${host}: ${r.error}`);
            return;
          }
          const data = listed.safeParse(r.data);
          if (!data.success) {
            view.problems.push(`${host}: the job list did not have the expected shape`);
            return;
          }
          for (const j of data.data.jobs) {
            if (j.state === "running") view.rows.push({ host, job_id: j.job_id, pid: j.pid, command: j.command, started_at: j.started_at, log_size: j.log_size });
          }
        }),
      );
      view.rows.sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : a.host.localeCompare(b.host)));
      return view;
    },
    async kill(host, jobId, signal) {
      if (!(await targets()).includes(host)) return { ok: false, text: `no host "${host}" here; reload the jobs list` };
      const r = await run(opts.kill, { ...hostArg(host), job_id: jobId, signal });
      return r.ok ? { ok: true, text: r.text } : { ok: false, text: r.error };
    },
  };
}

/** serve's fleet: this one host, up by definition (it is answering). */
export function localFleet(name: string, tags: string[], version: string): FleetSource {
  return {
    async hosts() {
      return [{ name, state: "up", via: "local", latencyMs: undefined, lastSeen: Date.now(), tags, protocol: "2026-07-28, 2025", version, error: undefined }];
    },
  };
}

const hostRows = z.object({
  hosts: z.array(
    z.object({
      name: z.string(),
      state: z.string(),
      via: z.string(),
      latency_ms: z.number().nullable(),
      last_probe: z.string().nullable(),
      last_seen: z.string().nullable().optional(),
      version: z.string().nullable().optional(),
      error: z.string().nullable(),
      tags: z.array(z.string()),
    }),
  ),
});

const timeOf = (iso: string | null | undefined) => (iso ? Date.parse(iso) || undefined : undefined);

/**
 * The hub's fleet through its remote_list_hosts tool: what agents and `lmcp hosts` see, whichever way the hub
 * reaches its hosts (probes it only for hosts whose state is stale).
 */
export function toolFleet(listHosts: ToolDef, context: Omit<ToolContext, "signal" | "progress">): FleetSource {
  return {
    async hosts() {
      const r = await listHosts.run({}, callContext(context)).catch((err: unknown) => ({ ok: false as const, error: String(err) }));
      const data = r.ok ? hostRows.safeParse(r.data) : undefined;
      if (!data?.success) return [];
      return data.data.hosts.map((h) => ({
        name: h.name,
        state: h.state,
        via: h.via,
        latencyMs: h.latency_ms ?? undefined,
        lastSeen: timeOf(h.last_seen) ?? timeOf(h.last_probe),
        tags: h.tags,
        protocol: undefined,
        version: h.version ?? undefined,
        error: h.error ?? undefined,
      }));
    },
  };
}

/** The hosts worth asking for their jobs: up, or not yet probed (asking probes them). */
export async function reachableHosts(fleet: FleetSource): Promise<string[]> {
  return (await fleet.hosts()).filter((h) => h.state === "up" || h.state === "unknown").map((h) => h.name);
}

function toolNamed(tools: ToolDef[], name: string): ToolDef {
  const t = tools.find((d) => d.name === name);
  if (!t) throw new Error(`this server has no ${name} tool (a bug in lmcp)`);
  return t;
}

/** serve's console sources: this host, and its jobs through shell_bg_list and shell_bg_kill. */
export function serveSources(tools: ToolDef[], id: { name: string; version: string }, tags: string[], context: Omit<ToolContext, "signal" | "progress">): { fleet: FleetSource; jobs: JobControl } {
  const jobs = toolJobs({ list: toolNamed(tools, "shell_bg_list"), kill: toolNamed(tools, "shell_bg_kill"), localHost: id.name, context });
  return { fleet: localFleet(id.name, tags, id.version), jobs };
}

/** The hub's console sources, from its own tools: remote_list_hosts, remote_shell_bg_list, remote_shell_bg_kill. */
export function hubSources(tools: ToolDef[], context: Omit<ToolContext, "signal" | "progress">): { fleet: FleetSource; jobs: JobControl } {
  const tool = (name: string) => toolNamed(tools, name);
  const fleet = toolFleet(tool("remote_list_hosts"), context);
  const jobs = toolJobs({ list: tool("remote_shell_bg_list"), kill: tool("remote_shell_bg_kill"), hosts: () => reachableHosts(fleet), localHost: "", context });
  return { fleet, jobs };
}
