import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanOldJobs,
  isJobId,
  JOB_MAX_AGE_MS,
  JOB_WRAPPER_SCRIPT,
  type JobRecord,
  jobPaths,
  jobStatus,
  listJobRecords,
  newJobId,
  readJobRecord,
  writeJobRecord,
} from "../../src/tools/jobs.ts";
import { scratch } from "../helpers/context.ts";

const { freshDir, killAfter } = scratch();
const stateDir = () => freshDir("lmcp-jobs-");

const jobsDirOf = (dir: string) => jobPaths(dir, "j-abcdefgh23").dir;

const record = (over: Partial<JobRecord> = {}): JobRecord => ({
  job_id: newJobId(),
  pid: 99999999,
  command: "true",
  cwd: "/",
  log_path: "/dev/null",
  started_at: new Date().toISOString(),
  ...over,
});

async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Runs the wrapper the way shell_bg does, in its own process group. */
function startWrapper(command: string, exitFile: string) {
  const proc = Bun.spawn(["/bin/sh", "-c", JOB_WRAPPER_SCRIPT, "lmcp-job", "bash", command, exitFile], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore"],
  });
  killAfter(-proc.pid);
  return proc;
}

describe("job ids", () => {
  test("new ids are j- plus 10 base32 characters and do not repeat", () => {
    const ids = new Set(Array.from({ length: 1000 }, newJobId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^j-[a-z2-7]{10}$/);
  });

  test("anything else, path tricks included, is not a job id", () => {
    for (const bad of ["../x", "j-abcdefgh2", "j-abcdefgh234", "j-ABCDEFGH23", "j-abcdefgh23/..", "j-abcdefgh1!", "", "j-../../etc"]) {
      expect(isJobId(bad)).toBe(false);
    }
    expect(isJobId("j-abcdefgh23")).toBe(true);
  });
});

describe("job records", () => {
  test("a record written to disk reads back the same, private to the user", () => {
    const dir = stateDir();
    const rec = record();
    writeJobRecord(dir, rec);
    expect(readJobRecord(dir, rec.job_id)).toEqual({ record: rec });
    const paths = jobPaths(dir, rec.job_id);
    expect(statSync(paths.record).mode & 0o777).toBe(0o600);
    expect(statSync(paths.dir).mode & 0o777).toBe(0o700);
  });

  test("bad, unknown and damaged ids give messages that point to shell_bg's job_id", () => {
    const dir = stateDir();
    const bad = readJobRecord(dir, "../x");
    expect("error" in bad && bad.error).toContain("not a job id");
    const unknown = readJobRecord(dir, "j-abcdefgh23");
    expect("error" in unknown && unknown.error).toContain("job_id that shell_bg returned");
    const rec = record();
    mkdirSync(jobPaths(dir, rec.job_id).dir, { recursive: true });
    writeFileSync(jobPaths(dir, rec.job_id).record, "{not json");
    const damaged = readJobRecord(dir, rec.job_id);
    expect("error" in damaged && damaged.error).toContain("damaged");
  });

  test("a record whose pid could address every process or our own group is refused", () => {
    const dir = stateDir();
    for (const pid of [0, 1, -5]) {
      const rec = record({ pid });
      mkdirSync(jobPaths(dir, rec.job_id).dir, { recursive: true });
      writeFileSync(jobPaths(dir, rec.job_id).record, JSON.stringify(rec));
      expect("error" in readJobRecord(dir, rec.job_id)).toBe(true);
    }
  });
});

describe("job wrapper and status", () => {
  test("the wrapper records the command's exit code atomically", async () => {
    const dir = stateDir();
    const exitFile = join(dir, "it's a dir", "x.exit");
    mkdirSync(join(dir, "it's a dir"));
    const proc = startWrapper('exit 7; echo "$1"', exitFile);
    await proc.exited;
    expect(readFileSync(exitFile, "utf8")).toBe("7\n");
  });

  test("a signal to the group ends the command while the wrapper survives to record it", async () => {
    const dir = stateDir();
    const exitFile = join(dir, "x.exit");
    const ready = join(dir, "ready");
    const proc = startWrapper(`touch '${ready}'; sleep 300`, exitFile);
    await waitFor("the command to start", () => existsSync(ready));
    process.kill(-proc.pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(readFileSync(exitFile, "utf8")).toBe("143\n");
  });

  test("status: exit file means exited with its code; live leader means running; dead leader without file means killed", async () => {
    const dir = stateDir();
    const rec = record();
    writeJobRecord(dir, rec);
    const killed = jobStatus(dir, rec);
    expect(killed).toMatchObject({ state: "exited", exit_code: null });
    expect(killed.note).toContain("SIGKILL");

    const ready = join(dir, "ready");
    const proc = startWrapper(`touch '${ready}'; sleep 300`, jobPaths(dir, rec.job_id).exit);
    await waitFor("the command to start", () => existsSync(ready));
    const live = { ...rec, pid: proc.pid };
    expect(jobStatus(dir, live)).toEqual({ state: "running", exit_code: null });
    process.kill(-proc.pid, "SIGTERM");
    await waitFor("the exit file", () => existsSync(jobPaths(dir, rec.job_id).exit));
    const done = jobStatus(dir, live);
    expect(done).toMatchObject({ state: "exited", exit_code: 143 });
    expect(done.ended_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});

const DAY_MS = 24 * 60 * 60 * 1000;

/** A finished job as shell_bg leaves it: record, default log and exit file, ended `daysAgo` days ago. */
function finishedJob(dir: string, daysAgo: number, over: Partial<JobRecord> = {}): JobRecord {
  const id = newJobId();
  const paths = jobPaths(dir, id);
  const rec = record({ job_id: id, log_path: paths.log, started_at: new Date(Date.now() - daysAgo * DAY_MS - 60_000).toISOString(), ...over });
  writeJobRecord(dir, rec);
  writeFileSync(paths.log, "output\n");
  writeFileSync(paths.exit, "0\n");
  const when = new Date(Date.now() - daysAgo * DAY_MS);
  utimesSync(paths.exit, when, when);
  return rec;
}

describe("listing and retention", () => {
  test("listJobRecords returns every readable record and skips damaged ones", () => {
    const dir = stateDir();
    expect(listJobRecords(dir)).toEqual([]);
    const a = record();
    const b = record();
    writeJobRecord(dir, a);
    writeJobRecord(dir, b);
    writeFileSync(join(jobsDirOf(dir), "j-abcdefgh23.json"), "{damaged");
    expect(listJobRecords(dir).map((r) => r.job_id).sort()).toEqual([a.job_id, b.job_id].sort());
  });

  test("cleanOldJobs forgets jobs that exited over 7 days ago with their default logs, and keeps recent ones", async () => {
    expect(JOB_MAX_AGE_MS).toBe(7 * DAY_MS);
    const dir = stateDir();
    const old = finishedJob(dir, 8);
    const recent = finishedJob(dir, 1);
    const removed = await cleanOldJobs(dir);
    expect(removed).toEqual([old.job_id]);
    const paths = jobPaths(dir, old.job_id);
    for (const p of [paths.record, paths.exit, paths.log]) expect(existsSync(p)).toBe(false);
    expect(readJobRecord(dir, recent.job_id)).toEqual({ record: recent });
    expect(existsSync(recent.log_path)).toBe(true);
  });

  test("cleanOldJobs never removes a log the caller placed outside the jobs dir", async () => {
    const dir = stateDir();
    const own = join(freshDir("lmcp-own-log-"), "build.log");
    writeFileSync(own, "mine\n");
    const old = finishedJob(dir, 30, { log_path: own });
    expect(await cleanOldJobs(dir)).toEqual([old.job_id]);
    expect(readFileSync(own, "utf8")).toBe("mine\n");
    expect(existsSync(jobPaths(dir, old.job_id).record)).toBe(false);
  });

  test("cleanOldJobs keeps a running job however old, and judges a job without exit status by its start", async () => {
    const dir = stateDir();
    const id = newJobId();
    const ready = join(dir, "ready");
    const proc = startWrapper(`touch '${ready}'; sleep 300`, jobPaths(dir, id).exit);
    await waitFor("the command to start", () => existsSync(ready));
    const running = record({ job_id: id, pid: proc.pid, started_at: new Date(Date.now() - 30 * DAY_MS).toISOString() });
    writeJobRecord(dir, running);
    const vanished = record({ started_at: new Date(Date.now() - 8 * DAY_MS).toISOString() });
    writeJobRecord(dir, vanished);
    const vanishedRecently = record();
    writeJobRecord(dir, vanishedRecently);
    expect(await cleanOldJobs(dir)).toEqual([vanished.job_id]);
    expect(listJobRecords(dir).map((r) => r.job_id).sort()).toEqual([running.job_id, vanishedRecently.job_id].sort());
  });

  test("cleanOldJobs removes stray files once they are old, and copes with a missing jobs dir", async () => {
    const dir = stateDir();
    expect(await cleanOldJobs(dir)).toEqual([]);
    const jobs = jobsDirOf(dir);
    mkdirSync(jobs, { recursive: true });
    const strays = ["j-abcdefgh23.json", "j-bbcdefgh23.json.tmp.123", "j-cbcdefgh23.log", "j-dbcdefgh23.exit"];
    for (const name of strays) {
      writeFileSync(join(jobs, name), "{damaged");
      const when = new Date(Date.now() - 9 * DAY_MS);
      utimesSync(join(jobs, name), when, when);
    }
    writeFileSync(join(jobs, "j-ebcdefgh23.log"), "fresh");
    await cleanOldJobs(dir);
    expect(readdirSync(jobs)).toEqual(["j-ebcdefgh23.log"]);
  });
});
