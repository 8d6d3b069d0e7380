// What the console shows and acts on, behind small interfaces the composition
// roots fill: the fleet (the hub's hosts, or this one host), the running shell
// commands, shell_bg jobs and PTY sessions, listed and ended through the same
// tool code agents call (shell_list / shell_kill, shell_bg_list / shell_bg_kill,
// session_list / session_close on serve, their remote_* forms on the hub), and
// the files a call's result named, read through read_file (remote_read_file).
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

/** What the kill list holds: foreground shell commands, shell_bg jobs, and PTY sessions. */
export type RunKind = "shell" | "job" | "session";
export const RUN_KINDS: RunKind[] = ["shell", "job", "session"];

export interface JobRow {
  kind: RunKind;
  host: string;
  /** c-… (shell), j-… (job) or s-… (session). */
  id: string;
  pid: number;
  command: string;
  started_at: string;
  /** A job's log size, a session's unread output, in bytes; null when not known (a shell command's output is in its reply). */
  size: number | null;
}

export interface JobsView {
  rows: JobRow[];
  /** Hosts whose commands, jobs or sessions could not be listed, and why. */
  problems: string[];
}

export interface JobControl {
  list(): Promise<JobsView>;
  /** A session is hung up (session_close: SIGHUP, then SIGKILL), whatever `signal` says. */
  kill(kind: RunKind, host: string, id: string, signal: "TERM" | "KILL"): Promise<{ ok: boolean; text: string }>;
}

const listedJobs = z.object({
  jobs: z.array(z.object({ job_id: z.string(), pid: z.number(), command: z.string(), started_at: z.string(), state: z.string(), log_size: z.number().nullable() })),
});
const listedShells = z.object({ calls: z.array(z.object({ call_id: z.string(), pid: z.number(), command: z.string(), started_at: z.string() })) });
const listedSessions = z.object({
  sessions: z.array(z.object({ session_id: z.string(), pid: z.number(), command: z.string(), state: z.string(), started_at: z.string(), unread_bytes: z.number() })),
});

/** Per kind: how to ask for the running ones, read the answer, and end one. */
const KINDS: Record<RunKind, { what: string; listArgs: Record<string, unknown>; rows: (data: unknown, host: string) => JobRow[] | undefined; killArgs: (id: string, signal: string) => Record<string, unknown> }> = {
  shell: {
    what: "running shell commands",
    listArgs: {},
    rows: (data, host) => listedShells.safeParse(data).data?.calls.map((c) => ({ kind: "shell", host, id: c.call_id, pid: c.pid, command: c.command, started_at: c.started_at, size: null })),
    killArgs: (id, signal) => ({ call_id: id, signal }),
  },
  job: {
    what: "shell_bg jobs",
    listArgs: { state: "running", limit: 200 },
    rows: (data, host) =>
      listedJobs
        .safeParse(data)
        .data?.jobs.filter((j) => j.state === "running")
        .map((j) => ({ kind: "job", host, id: j.job_id, pid: j.pid, command: j.command, started_at: j.started_at, size: j.log_size })),
    killArgs: (id, signal) => ({ job_id: id, signal }),
  },
  session: {
    what: "terminal sessions",
    listArgs: {},
    rows: (data, host) =>
      listedSessions
        .safeParse(data)
        .data?.sessions.filter((x) => x.state === "running")
        .map((x) => ({ kind: "session", host, id: x.session_id, pid: x.pid, command: x.command, started_at: x.started_at, size: x.unread_bytes })),
    killArgs: (id) => ({ session_id: id }),
  },
};

/** A listing or kill is the operator waiting on a page: bounded well below a browser's patience. */
const CALL_TIMEOUT_MS = 10_000;

export interface ToolJobsOptions {
  /**
   * Per kind, the tools that list and end them: shell_list / shell_kill, shell_bg_list / shell_bg_kill and
   * session_list / session_close (serve), or their remote_* forms (hub).
   */
  tools: Record<RunKind, { list: ToolDef; kill: ToolDef }>;
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

/** Commands, jobs and sessions through the tools themselves: what an agent's shell_kill, shell_bg_kill or session_close does, the console's buttons do. */
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
          const failures = new Map<string, string[]>();
          await Promise.all(
            RUN_KINDS.map(async (kind) => {
              const k = KINDS[kind];
              const r = await run(opts.tools[kind].list, { ...hostArg(host), ...k.listArgs });
              const rows = r.ok ? k.rows(r.data, host) : undefined;
              if (rows) view.rows.push(...rows);
              else {
                const why = r.ok ? "the list did not have the expected shape" : r.error;
                failures.set(why, [...(failures.get(why) ?? []), k.what]);
              }
            }),
          );
          // One line per reason: a host that is unreachable says so once, not once per kind.
          for (const [why, what] of failures) view.problems.push(`${host}: cannot list ${what.join(", ")}: ${why}`);
        }),
      );
      view.rows.sort((a, b) => (a.started_at < b.started_at ? 1 : a.started_at > b.started_at ? -1 : a.host.localeCompare(b.host)));
      return view;
    },
    async kill(kind, host, id, signal) {
      if (!(await targets()).includes(host)) return { ok: false, text: `no host "${host}" here; reload the list` };
      const r = await run(opts.tools[kind].kill, { ...hostArg(host), ...KINDS[kind].killArgs(id, signal) });
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

/** One page of a file a call's result named, or why it cannot be read. */
export type FilePage = { bytes: Buffer; next: number | undefined } | { error: string; denied: boolean };

export interface OutputFiles {
  /**
   * The page of `path` from byte `offset`, on `host` (the hub: a backend; serve: undefined, this host), read through
   * read_file (remote_read_file): the same file policy as an agent's read_file and resources/read.
   */
  page(host: string | undefined, path: string, offset: number): Promise<FilePage>;
}

const filePage = z.object({ content: z.string(), next_offset: z.number().optional() });

/** Files through read_file in base64 mode: exact bytes, whatever the file holds, one reply-sized page at a time. */
export function toolFiles(readFile: ToolDef, context: Omit<ToolContext, "signal" | "progress">, needsHost: boolean): OutputFiles {
  return {
    async page(host, path, offset) {
      if (needsHost && !host) return { error: "the call named no host, so there is no host to read the file on", denied: false };
      const args = { ...(needsHost ? { host } : {}), path, offset, encoding: "base64" };
      const parsed = readFile.input.safeParse(args);
      if (!parsed.success) return { error: `bad arguments for ${readFile.name}: ${parsed.error.message}`, denied: false };
      const r = await readFile.run(parsed.data, callContext(context)).catch((err: unknown) => ({ ok: false as const, error: String(err), denied: false }));
      if (!r.ok) return { error: r.error, denied: r.denied === true };
      const data = filePage.safeParse(r.data);
      if (!data.success) return { error: `${readFile.name} answered without the expected content`, denied: false };
      return { bytes: Buffer.from(data.data.content, "base64"), next: data.data.next_offset };
    },
  };
}

export interface ConsoleSources {
  fleet: FleetSource;
  jobs: JobControl;
  files: OutputFiles;
}

/** The list and kill tools of each kind, named with `prefix` ("" on serve, "remote_" on the hub). */
function killTools(tools: ToolDef[], prefix: string): ToolJobsOptions["tools"] {
  const t = (name: string) => toolNamed(tools, `${prefix}${name}`);
  return {
    shell: { list: t("shell_list"), kill: t("shell_kill") },
    job: { list: t("shell_bg_list"), kill: t("shell_bg_kill") },
    session: { list: t("session_list"), kill: t("session_close") },
  };
}

/** serve's console sources: this host, its commands, jobs and sessions through its own tools, files through read_file. */
export function serveSources(tools: ToolDef[], id: { name: string; version: string }, tags: string[], context: Omit<ToolContext, "signal" | "progress">): ConsoleSources {
  const jobs = toolJobs({ tools: killTools(tools, ""), localHost: id.name, context });
  return { fleet: localFleet(id.name, tags, id.version), jobs, files: toolFiles(toolNamed(tools, "read_file"), context, false) };
}

/** The hub's console sources, from its own tools: remote_list_hosts, the remote_* list and kill tools, remote_read_file. */
export function hubSources(tools: ToolDef[], context: Omit<ToolContext, "signal" | "progress">): ConsoleSources {
  const tool = (name: string) => toolNamed(tools, name);
  const fleet = toolFleet(tool("remote_list_hosts"), context);
  const jobs = toolJobs({ tools: killTools(tools, "remote_"), hosts: () => reachableHosts(fleet), localHost: "", context });
  return { fleet, jobs, files: toolFiles(tool("remote_read_file"), context, true) };
}
