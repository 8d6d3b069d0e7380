// shell_bg job records on disk under `${stateDir}/jobs/`, so a job outlives the
// server that started it and a new server can still report on it or kill it.
import { randomBytes } from "../crypto.ts";
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { groupAlive, pidAlive } from "./process_group.ts";
import { ensurePrivateDir } from "./spool.ts";

/**
 * Runs the job as `sh -c WRAPPER lmcp-job SHELL COMMAND EXITFILE`. The wrapper
 * leads the job's session and process group. Its traps are caught, not ignored,
 * so the command (which gets default handlers back on exec) still dies from a
 * signal sent to the group while the wrapper lives on to record the status.
 * The status is written to a temp file and renamed, so a reader sees all or nothing.
 * Everything user-given arrives as a positional parameter, never inside the script.
 */
export const JOB_WRAPPER_SCRIPT = [
  "trap : TERM INT HUP QUIT",
  '"$1" -c "$2"',
  "s=$?",
  `printf '%s\\n' "$s" > "$3.tmp.$$" && mv -f "$3.tmp.$$" "$3"`,
].join("\n");

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
export const JOB_ID_PATTERN = /^j-[a-z2-7]{10}$/;

/** `j-` and 10 random base32 characters (50 bits): short enough to type, too many to guess or collide. */
export function newJobId(): string {
  const bytes = randomBytes(10);
  let id = "j-";
  for (const b of bytes) id += BASE32[b & 31];
  return id;
}

export const isJobId = (id: string) => JOB_ID_PATTERN.test(id);

export const jobRecordSchema = z.object({
  job_id: z.string().regex(JOB_ID_PATTERN),
  // The group leader's pid; ≥ 2 so that kill(-pid) can never mean "every process" or "our group".
  pid: z.number().int().min(2),
  command: z.string(),
  cwd: z.string(),
  log_path: z.string(),
  started_at: z.string(),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

export const jobsDir = (stateDir: string) => join(stateDir, "jobs");

export function jobPaths(stateDir: string, jobId: string) {
  const dir = jobsDir(stateDir);
  return { dir, record: join(dir, `${jobId}.json`), exit: join(dir, `${jobId}.exit`), log: join(dir, `${jobId}.log`) };
}

/** Writes the record atomically (temp file, rename), mode 0600. */
export function writeJobRecord(stateDir: string, rec: JobRecord): void {
  const { dir, record } = jobPaths(stateDir, rec.job_id);
  ensurePrivateDir(dir);
  const tmp = `${record}.tmp.${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, record);
}

const unknownJob = (jobId: string) =>
  `no job ${jobId} on this host; use the job_id that shell_bg returned (it looks like j-abcdefgh23)`;

/** The job's record, or a message for the agent (bad id, unknown job, damaged record). */
export function readJobRecord(stateDir: string, jobId: string): { record: JobRecord } | { error: string } {
  if (!isJobId(jobId)) {
    return { error: `"${jobId}" is not a job id; job ids look like j-abcdefgh23 (the job_id that shell_bg returned)` };
  }
  let raw: string;
  try {
    raw = readFileSync(jobPaths(stateDir, jobId).record, "utf8");
  } catch {
    return { error: unknownJob(jobId) };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const parsed = jobRecordSchema.safeParse(json);
  if (!parsed.success || parsed.data.job_id !== jobId) {
    return { error: `the record of job ${jobId} is damaged (${jobPaths(stateDir, jobId).record}); start the job again` };
  }
  return { record: parsed.data };
}

export interface JobStatus {
  state: "running" | "exited";
  exit_code: number | null;
  ended_at?: string;
  /** Said when the status needs explaining (no exit status recorded). */
  note?: string;
}

/** On Linux, rules out a recycled pid: the job's leader leads its own group and is not a zombie. */
function looksLikeOurLeader(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return true; // no /proc (macOS) or no access: trust kill(pid, 0)
  }
  // Fields after "(comm)": state, ppid, pgrp, ...; comm may hold spaces and parens.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[0] !== "Z" && fields[2] === String(pid);
}

/** Exit file present: exited with that code. Else the leader alive: running. Else: killed without a trace. */
export function jobStatus(stateDir: string, rec: JobRecord): JobStatus {
  const { exit } = jobPaths(stateDir, rec.job_id);
  try {
    const code = Number.parseInt(readFileSync(exit, "utf8").trim(), 10);
    const ended_at = statSync(exit).mtime.toISOString();
    if (Number.isInteger(code)) {
      const st: JobStatus = { state: "exited", exit_code: code, ended_at };
      if (code > 128 && code < 160) st.note = `exit code ${code} usually means the command was killed by signal ${code - 128}`;
      return st;
    }
  } catch {
    // No exit file (yet): fall through to the pid check.
  }
  if (pidAlive(rec.pid) && looksLikeOurLeader(rec.pid)) return { state: "running", exit_code: null };
  let note =
    "the job's wrapper process was killed by a signal it cannot survive (e.g. SIGKILL, or a reboot), so no exit status was recorded";
  if (groupAlive(rec.pid)) note += "; some of the job's processes are still running (shell_bg_kill can still signal them)";
  return { state: "exited", exit_code: null, note };
}

/** Every readable job record in the state dir, in no particular order; damaged records are skipped. */
export function listJobRecords(stateDir: string): JobRecord[] {
  let names: string[];
  try {
    names = readdirSync(jobsDir(stateDir));
  } catch {
    return [];
  }
  const records: JobRecord[] = [];
  for (const name of names) {
    if (!name.endsWith(".json")) continue;
    const found = readJobRecord(stateDir, name.slice(0, -".json".length));
    if ("record" in found) records.push(found.record);
  }
  return records;
}

/** Jobs that exited longer ago than this are forgotten by `cleanOldJobs`. */
export const JOB_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or not ours to remove
  }
}

/**
 * Retention: forgets jobs that exited more than `maxAgeMs` ago (by the exit
 * file's time; a job with no recorded status, by its start), removing the
 * record, the exit file and the log if the log is in the jobs dir. A log the
 * caller placed elsewhere (shell_bg's log_path) is never removed. Running jobs,
 * and jobs whose processes linger, are kept. Stray files in the jobs dir (temp
 * files, a log or exit file without a record) go once they are that old.
 * Never throws; resolves to the ids of the jobs removed.
 */
export async function cleanOldJobs(stateDir: string, maxAgeMs = JOB_MAX_AGE_MS, now = Date.now()): Promise<string[]> {
  const dir = jobsDir(stateDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const kept = new Set<string>();
  for (const name of names) {
    const id = name.slice(0, -".json".length);
    if (!name.endsWith(".json") || !isJobId(id)) continue;
    const found = readJobRecord(stateDir, id);
    if ("error" in found) continue; // a damaged record is handled as a stray file below
    const rec = found.record;
    const paths = jobPaths(stateDir, id);
    const st = jobStatus(stateDir, rec);
    const endedMs = st.ended_at ? Date.parse(st.ended_at) : Date.parse(rec.started_at);
    const lingering = st.exit_code === null && groupAlive(rec.pid);
    if (st.state === "running" || lingering || !(now - endedMs > maxAgeMs)) {
      kept.add(id);
      continue;
    }
    removeQuietly(paths.record);
    removeQuietly(paths.exit);
    if (rec.log_path === paths.log) removeQuietly(paths.log);
    removed.push(id);
  }
  for (const name of names) {
    const id = name.slice(0, name.indexOf(".") < 0 ? name.length : name.indexOf("."));
    if (kept.has(id) || removed.includes(id)) continue;
    const path = join(dir, name);
    const m = mtimeMs(path);
    if (m !== undefined && now - m > maxAgeMs) removeQuietly(path);
  }
  return removed;
}
