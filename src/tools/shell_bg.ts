// shell_bg: starts a detached job that outlives this call and this server; its
// record, log and exit status live on disk (see jobs.ts).
import { closeSync, openSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { JOB_WRAPPER_SCRIPT, jobPaths, newJobId, writeJobRecord } from "./jobs.ts";
import { commandShell, terminateGroup } from "./process_group.ts";
import { commandEnv, resolveCwd, shell } from "./shell.ts";
import { ensurePrivateDir } from "./spool.ts";
import { Refused, closeWriteTarget, openAppend, resolveWrite } from "../policy/open.ts";
import { permissivePolicy } from "../policy/rules.ts";
import { defineTool, deny, describeError, fail, ok } from "./tool.ts";

const input = z.object({
  command: shell.input.shape.command,
  cwd: shell.input.shape.cwd,
  env: z
    .record(z.string(), z.string())
    .optional()
    .describe("Extra environment variables, set on top of the server's environment."),
  log_path: z
    .string()
    .optional()
    .describe(
      "File that receives stdout and stderr (appended; created with mode 0600). Default: a log in lmcp's state dir, returned as log_path. `~` expands; relative paths start from cwd.",
    ),
});

const output = z.object({
  job_id: z.string().describe("Id for shell_bg_wait, shell_bg_status, shell_bg_output and shell_bg_kill."),
  pid: z.number().int().describe("Pid of the job's leader, which is also its process group id."),
  log_path: z.string().describe("File receiving the job's stdout and stderr; page it with shell_bg_output (or read_file) or see its tail with shell_bg_status."),
  started_at: z.string().describe("Start time, ISO 8601 (UTC)."),
});

function resolveLogPath(logPath: string, cwd: string): string {
  if (logPath === "~") return homedir();
  return logPath.startsWith("~/") ? join(homedir(), logPath.slice(2)) : resolve(cwd, logPath);
}

export const shellBg = defineTool({
  name: "shell_bg",
  title: "Start a background job",
  description:
    "Starts a command as a detached job (own session, stdin /dev/null, stdout and stderr appended to a log file) and returns at once with a job_id. " +
    "The job survives this call and a restart of the server; wait for it with shell_bg_wait, check it with shell_bg_status, read its log with shell_bg_output, " +
    "find it again with shell_bg_list and stop it with shell_bg_kill.",
  input,
  output,
  annotations: { title: "Start a background job", destructiveHint: true, readOnlyHint: false, openWorldHint: true },
  async run(args, ctx) {
    const cwd = resolveCwd(args.cwd);
    if ("error" in cwd) return fail(cwd.error);
    const jobId = newJobId();
    const paths = jobPaths(ctx.stateDir, jobId);
    try {
      ensurePrivateDir(paths.dir);
    } catch (err) {
      return fail(`cannot create the job directory: ${describeError(err)}`);
    }
    // Resolved once, and the policy's check and the open use that same directory fd and name.
    let logPath = paths.log;
    let logFd: number;
    try {
      if (args.log_path === undefined) logFd = openSync(logPath, "a", 0o600);
      else {
        const target = resolveWrite(ctx.policy ?? permissivePolicy, resolveLogPath(args.log_path, cwd.path), false);
        try {
          if (target.existing && !target.existing.isFile()) return fail(`log_path ${target.real} is not a regular file; pass a file path or leave log_path out`);
          logFd = openAppend(target);
          logPath = target.real;
        } finally {
          closeWriteTarget(target);
        }
      }
    } catch (err) {
      if (err instanceof Refused) return err.denied ? deny(`log_path: ${err.message}`) : fail(`cannot open log_path: ${err.message}; pass a writable file path or leave log_path out`);
      return fail(`cannot open log_path: ${describeError(err)}; pass a writable file path or leave log_path out`);
    }

    const startedAt = new Date().toISOString();
    let pid: number;
    try {
      const proc = Bun.spawn(["/bin/sh", "-c", JOB_WRAPPER_SCRIPT, "lmcp-job", commandShell().path, args.command, paths.exit], {
        cwd: cwd.path,
        env: commandEnv(args.env),
        // setsid(): the wrapper leads a new session and process group, detached from the server.
        detached: true,
        stdio: ["ignore", logFd, logFd],
      });
      proc.unref();
      pid = proc.pid;
    } catch (err) {
      return fail(`could not start the job: ${describeError(err)}`);
    } finally {
      closeSync(logFd);
    }

    const record = { job_id: jobId, pid, command: args.command, cwd: cwd.path, log_path: logPath, started_at: startedAt };
    try {
      writeJobRecord(ctx.stateDir, record);
    } catch (err) {
      // A job nobody can find or stop must not be left running.
      await terminateGroup(pid);
      return fail(`could not record the job, so it was stopped: ${describeError(err)}`);
    }
    const data = { job_id: jobId, pid, log_path: logPath, started_at: startedAt };
    return ok(
      data,
      `started job ${jobId} (pid ${pid}) in ${cwd.path}\nlog: ${logPath}\nwait for it with shell_bg_wait {"job_id": "${jobId}"}, or check it with shell_bg_status`,
    );
  },
});
