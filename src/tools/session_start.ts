// session_start: starts an interactive program (by default the user's shell) on
// a real PTY that lives in the server, for session_send and session_read.
import { basename } from "node:path";
import { userInfo } from "node:os";
import { z } from "zod";
import { commandShell } from "./process_group.ts";
import { isExecutable, sessionLimits, startSession } from "./sessions.ts";
import { commandEnv, resolveCwd } from "./shell.ts";
import { defineTool, describeError, fail, ok } from "./tool.ts";

const DEFAULT_COLS = 80;
const DEFAULT_ROWS = 24;

/** The user's login shell from the password database, unless it is a "no login" stub; else bash (or sh). */
function loginShell(): string {
  let sh: string | null = null;
  try {
    sh = userInfo().shell;
  } catch {
    // no passwd entry (a container's arbitrary uid)
  }
  if (sh && !/(nologin|false)$/.test(sh) && isExecutable(sh)) return sh;
  return commandShell().path;
}

const input = z.object({
  command: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Command line to run on the terminal, with `bash -c` (e.g. `python3 -q -i`, `less /var/log/syslog`, `mysql -p`). " +
        "Default: the user's login shell, interactive (it reads ~/.bashrc, not the login profile).",
    ),
  cwd: z
    .string()
    .optional()
    .describe("Directory to start in. Default: the home directory of the user lmcp runs as; `~` expands, relative paths start from home."),
  env: z
    .record(z.string(), z.string())
    .optional()
    .describe("Extra environment variables, set on top of the server's environment. TERM is xterm-256color unless set here."),
  cols: z.int().min(20).max(500).optional().describe(`Terminal width in columns (default ${DEFAULT_COLS}).`),
  rows: z.int().min(5).max(200).optional().describe(`Terminal height in rows (default ${DEFAULT_ROWS}).`),
});

const output = z.object({
  session_id: z.string().describe("Id for session_send, session_read and session_close."),
  pid: z.number().int().describe("Pid of the program, which leads the terminal's session and process group."),
  command: z.string().describe("What runs: the command given, or the login shell."),
  cwd: z.string(),
  cols: z.number().int(),
  rows: z.number().int(),
  started_at: z.string().describe("Start time, ISO 8601 (UTC)."),
  idle_timeout_s: z.number().int().describe("The session is closed after this many seconds without session_send or session_read."),
});

export const sessionStart = defineTool({
  name: "session_start",
  title: "Start an interactive terminal session",
  description:
    "Starts an interactive program on a real terminal (PTY) and returns a session_id at once: by default the user's shell, or `command` " +
    "(a REPL such as `python3 -q -i`, an installer that asks questions, `less`, `top`, `ssh`…). Drive it with session_send (text and keys such as Enter, Up, C-c) " +
    "and see what it printed with session_read (a text transcript, and the screen for full-screen programs). " +
    `The session lives in the server: it survives the client disconnecting but not a server restart; it is closed after ${Math.round(sessionLimits.idleMs / 60_000)} min without a send or read, ` +
    `at most ${sessionLimits.maxSessions} are open at once, and session_close ends it. For a command that needs no input, shell is simpler.`,
  input,
  output,
  annotations: { title: "Start an interactive terminal session", destructiveHint: true, readOnlyHint: false, openWorldHint: true },
  async run(args, ctx) {
    const cwd = resolveCwd(args.cwd);
    if ("error" in cwd) return fail(cwd.error);
    if (ctx.signal.aborted) return fail("the call was cancelled before the session started");
    const shell = loginShell();
    // A command runs under bash -c, as shell's do; the default shell is asked to be interactive even where stdin checks differ (-i).
    const argv = args.command === undefined ? [shell, "-i"] : [commandShell().path, "-c", args.command];
    const label = args.command ?? `${shell} -i`;
    const env = commandEnv(args.env);
    if (args.env?.TERM === undefined) env.TERM = "xterm-256color";
    const cols = args.cols ?? DEFAULT_COLS;
    const rows = args.rows ?? DEFAULT_ROWS;
    let started: Awaited<ReturnType<typeof startSession>>;
    try {
      started = await startSession({ argv, label, cwd: cwd.path, env, cols, rows });
    } catch (err) {
      return fail(`could not start ${args.command === undefined ? basename(shell) : "the command"} on a terminal: ${describeError(err)}`);
    }
    if ("error" in started) return fail(started.error);
    const s = started.session;
    const data = {
      session_id: s.id,
      pid: s.pid,
      command: label,
      cwd: cwd.path,
      cols,
      rows,
      started_at: s.startedAt.toISOString(),
      idle_timeout_s: Math.round(sessionLimits.idleMs / 1000),
    };
    return ok(
      data,
      `started session ${s.id} (pid ${s.pid}, ${cols}x${rows}) running ${label} in ${cwd.path}\n` +
        `see its output with session_read {"session_id": "${s.id}"} (wait_for a prompt), type with session_send`,
    );
  },
});
