// shell: runs one command to completion in its own process group, with a
// timeout, bounded output (head and tail, full copy spooled) and progress.
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { constants as osConstants } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { decodeUtf8 } from "./output_cut.ts";
import { commandShell, readStream, terminateGroup } from "./process_group.ts";
import { newSpoolId, StreamCapture } from "./spool.ts";
import { trackShell } from "./shell_calls.ts";
import { openState, signState } from "../crypto.ts";
import { nopasswdHint, sudoArgv, sudoRejectedPassword, sudoWantsPassword } from "./sudo.ts";
import { type ToolOutcome, ask, defineTool, describeError, fail, ok } from "./tool.ts";

const DEFAULT_TIMEOUT_S = 120;
const PROGRESS_EVERY_MS = 5000;
/** After the shell exits, how long to keep reading pipes a background child may hold open. */
const PIPE_GRACE_MS = 200;

/** `~` and `~/x` expand to the home dir; a relative path is taken from the home dir, where commands start by default. */
export function resolveCwd(cwd: string | undefined): { path: string } | { error: string } {
  const home = homedir();
  const path = !cwd || cwd === "~" ? home : cwd.startsWith("~/") ? join(home, cwd.slice(2)) : resolve(home, cwd);
  try {
    if (!statSync(path).isDirectory()) {
      return { error: `cwd ${path} is not a directory; pass a directory, or leave cwd out to run in ${home}` };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return { error: `cwd ${path} does not exist; pass an existing directory, or leave cwd out to run in ${home}` };
    }
    return { error: `cannot use cwd: ${describeError(err)}` };
  }
  return { path };
}

/** The server's environment with the caller's variables on top. lmcp's own token is not passed on. */
export function commandEnv(extra: Record<string, string> | undefined): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  if (!extra || !("LMCP_TOKEN" in extra)) delete env.LMCP_TOKEN;
  return env;
}

function signalName(sig: NodeJS.Signals | number | null): string | null {
  if (sig === null || typeof sig === "string") return sig;
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === sig);
  return entry ? entry[0] : `signal ${sig}`;
}

/** The last non-empty line of recent output, short enough for a progress message. */
function lastLine(recent: Uint8Array): string {
  const lines = decodeUtf8(recent).split(/\r\n|\r|\n/).map((l) => l.trim()).filter(Boolean);
  const line = lines.at(-1) ?? "";
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

const input = z.object({
  command: z.string().min(1).describe("Shell command line, run with `bash -c` (or `/bin/sh -c` where bash is missing)."),
  cwd: z
    .string()
    .optional()
    .describe("Directory to run in. Default: the home directory of the user lmcp runs as; `~` expands, relative paths start from home."),
  timeout_s: z
    .number()
    .positive()
    .optional()
    .describe(
      `Seconds before the command's whole process group is killed (SIGTERM, then SIGKILL 2 s later). Default ${DEFAULT_TIMEOUT_S}; the server sets a maximum. Use shell_bg for longer jobs.`,
    ),
  env: z
    .record(z.string(), z.string())
    .optional()
    .describe("Extra environment variables, set on top of the server's environment."),
  stdin: z
    .string()
    .optional()
    .describe("Text written to the command's standard input, which is then closed. Without it, stdin is /dev/null."),
  sudo: z
    .boolean()
    .optional()
    .describe(
      "Run the command as root through sudo. Where sudo needs no password for it (a NOPASSWD rule for lmcp's user), it just runs. " +
        "Where it needs one, the human types it on a page of lmcp's own (the client opens its URL: MCP URL elicitation), never in the conversation; " +
        "a client that cannot open URLs gets an error saying how to allow the command without a password.",
    ),
});

const output = z.object({
  exit_code: z.number().int().nullable().describe("The command's exit code; null when it was ended by a signal."),
  signal: z.string().nullable().describe("Name of the signal that ended the command (e.g. SIGTERM), or null."),
  stdout: z.string().describe("Standard output as UTF-8 (invalid bytes shown as U+FFFD); if cut, head and tail with a marker line between."),
  stderr: z.string().describe("Standard error, kept and cut the same way as stdout."),
  timed_out: z.boolean().describe("True when timeout_s ran out and the process group was killed."),
  cancelled: z.boolean().describe("True when the client cancelled the call and the process group was killed."),
  truncated: z.boolean().describe("True when stdout or stderr was cut to fit the server's per-stream limit."),
  duration_ms: z.number().int().describe("Wall-clock time from start to the end of the command, in milliseconds."),
  sudo: z
    .enum(["nopasswd", "password"])
    .optional()
    .describe("Set when the command ran through sudo: without a password (a NOPASSWD rule), or with the one the human entered on lmcp's page."),
  full_output_path: z
    .string()
    .optional()
    .describe("Set when stdout was cut: spool file holding the complete stdout (page it with read_file; kept 24 h, at most 256 MiB)."),
  full_stderr_path: z
    .string()
    .optional()
    .describe("Set when stderr was cut: spool file holding the complete stderr, like full_output_path."),
});

export const shell = defineTool({
  name: "shell",
  title: "Run a shell command",
  description:
    `Runs a command with bash in its own process group and returns exit code, stdout and stderr; waits at most timeout_s (default ${DEFAULT_TIMEOUT_S}) and then kills the group. ` +
    "Each stream's reply is capped (head and tail kept, the full output saved to a file named in full_output_path); use shell_bg for long-running jobs.",
  input,
  output,
  annotations: { title: "Run a shell command", destructiveHint: true, readOnlyHint: false, openWorldHint: true },
  async run(args, ctx) {
    const timeoutS = args.timeout_s ?? DEFAULT_TIMEOUT_S;
    if (!(timeoutS > 0)) return fail("timeout_s must be more than 0 seconds");
    if (timeoutS > ctx.limits.maxTimeoutS) {
      return fail(
        `timeout_s ${timeoutS} is above this server's maximum of ${ctx.limits.maxTimeoutS} s; use shell_bg for longer jobs and follow them with shell_bg_status`,
      );
    }
    const cwd = resolveCwd(args.cwd);
    if ("error" in cwd) return fail(cwd.error);
    if (ctx.signal.aborted) return fail("the call was cancelled before the command started");

    const sh = commandShell();
    if (!args.sudo) return execute([sh.path, "-c", args.command], args.stdin === undefined ? undefined : Buffer.from(args.stdin));

    // sudo -n first: where no password is needed it runs; where one is, sudo says so and runs nothing.
    const direct = await execute(sudoArgv(sh.path, args.command, "nopasswd"), args.stdin === undefined ? undefined : Buffer.from(args.stdin), "nopasswd");
    if (!direct.ok || !sudoWantsPassword(direct.data.exit_code, direct.data.stderr)) return direct;
    const pendingId = openState("sudo", ctx.requestState);
    if (pendingId !== undefined && ctx.inputResponses?.password !== undefined) {
      const password = ctx.sudo?.take(pendingId);
      if (!password) return fail("sudo needs a password and none was entered on lmcp's page (or the page expired after 5 minutes); nothing ran. Call again for a new page.");
      const stdin = Buffer.concat([password, Buffer.from("\n"), Buffer.from(args.stdin ?? "")]);
      password.fill(0);
      try {
        const withPassword = await execute(sudoArgv(sh.path, args.command, "password"), stdin, "password");
        if (withPassword.ok && sudoRejectedPassword(withPassword.data.exit_code, withPassword.data.stderr)) {
          return fail("sudo did not accept the password entered on lmcp's page; nothing ran. Call again for a new page.");
        }
        return withPassword;
      } finally {
        stdin.fill(0);
      }
    }
    const refusal = `sudo needs a password to run this command as root here, and lmcp never takes passwords in the conversation`;
    if (!ctx.sudo) return fail(`${refusal}; this server serves no password page (stdio). ${nopasswdHint()}`);
    if (!ctx.elicitation?.url) return fail(`${refusal}, and this client cannot open a page for it (it declared no MCP URL elicitation). ${nopasswdHint()}`);
    const page = ctx.sudo.open(args.command);
    if ("error" in page) return fail(`${refusal}, and no password page can be offered: ${page.error}. ${nopasswdHint()}`);
    return ask("asking the user for the sudo password on lmcp's page", {
      questions: { password: { url: page.url, message: `Enter the sudo password on this page to run, as root:\n\n${args.command}` } },
      state: signState("sudo", page.id),
    });

    async function execute(argv: string[], stdinBytes: Buffer | undefined, how?: "nopasswd" | "password"): Promise<ToolOutcome<z.output<typeof output>>> {
      const started = performance.now();
      let proc: Bun.Subprocess<Blob | "ignore", "pipe", "pipe">;
      try {
        proc = Bun.spawn(argv, {
          cwd: (cwd as { path: string }).path,
          env: commandEnv(args.env),
          // setsid(): the command leads a new session and process group, so the whole group can be signalled.
          detached: true,
          stdin: stdinBytes === undefined ? "ignore" : new Blob([stdinBytes]),
          stdout: "pipe",
          stderr: "pipe",
        });
      } catch (err) {
        return fail(`could not start ${argv[0]}: ${describeError(err)}`);
      }
      const pgid = proc.pid;
      // Listed by shell_list until it exits, so shell_kill (or the console) can end it.
      const tracked = trackShell({ pgid, command: args.command, cwd: (cwd as { path: string }).path, sudo: how !== undefined });

      const spoolId = newSpoolId();
      const max = ctx.limits.maxOutputBytes;
      const out = new StreamCapture(max, ctx.stateDir, "stdout", spoolId);
      const err = new StreamCapture(max, ctx.stateDir, "stderr", spoolId);
      let recent: Uint8Array = new Uint8Array(0);
      const remember = (chunk: Uint8Array) => {
        if (chunk.length > 0) recent = chunk.slice(-512);
      };
      const outPump = readStream(proc.stdout, (c) => {
        out.push(c);
        remember(c);
      });
      const errPump = readStream(proc.stderr, (c) => {
        err.push(c);
        remember(c);
      });

      let timedOut = false;
      let cancelled = false;
      let killing: Promise<boolean> | undefined;
      const killGroup = () => {
        killing ??= terminateGroup(pgid);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, Math.min(timeoutS * 1000, 2 ** 31 - 1)); // setTimeout's own maximum (~24.8 days)
      const onAbort = () => {
        cancelled = true;
        killGroup();
      };
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      const progress = setInterval(() => {
        const secs = Math.round((performance.now() - started) / 1000);
        const line = lastLine(recent);
        ctx.progress(`running ${secs}s${line ? `: ${line}` : ""}`, secs).catch(() => undefined);
      }, PROGRESS_EVERY_MS);

      try {
        await proc.exited;
      } finally {
        tracked.done();
        clearTimeout(timer);
        clearInterval(progress);
        ctx.signal.removeEventListener("abort", onAbort);
      }
      const durationMs = Math.round(performance.now() - started);
      // A background child may hold the pipes open for ever: read on briefly, then let go.
      const drained = Promise.all([outPump.done, errPump.done]);
      await Promise.race([drained, Bun.sleep(PIPE_GRACE_MS)]);
      await Promise.all([outPump.stop(), errPump.stop()]);

      const stdout = out.finish();
      const stderr = err.finish();
      const data: z.output<typeof output> = {
        exit_code: proc.signalCode !== null ? null : proc.exitCode,
        signal: signalName(proc.signalCode),
        stdout: stdout.text,
        stderr: stderr.text,
        timed_out: timedOut,
        cancelled: cancelled && !timedOut,
        truncated: stdout.cut || stderr.cut,
        duration_ms: durationMs,
      };
      if (stdout.fullPath) data.full_output_path = stdout.fullPath;
      if (stderr.fullPath) data.full_stderr_path = stderr.fullPath;
      if (how) data.sudo = how;
      const byKill = data.signal !== null && tracked.entry.signalled === data.signal && !timedOut && !cancelled;
      return ok(data, renderText(data, timeoutS, byKill));
    }
  },
});

function renderText(d: z.output<typeof output>, timeoutS: number, byKill: boolean): string {
  const withNewline = (s: string) => (s === "" || s.endsWith("\n") ? s : `${s}\n`);
  let text = withNewline(d.stdout);
  if (d.stderr) text += `[stderr]\n${withNewline(d.stderr)}`;
  if (d.timed_out) text += `[timed out after ${timeoutS} s; process group killed · ${d.duration_ms} ms]`;
  else if (d.cancelled) text += `[cancelled by the client; process group killed · ${d.duration_ms} ms]`;
  else if (d.signal) text += `[killed by ${d.signal}${byKill ? ", sent with shell_kill (or the console's kill button)" : ""} · ${d.duration_ms} ms]`;
  else text += `[exit ${d.exit_code} · ${d.duration_ms} ms]`;
  return text;
}
