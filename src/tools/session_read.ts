// session_read: what a session printed since the last read, as text, after
// waiting (on output events) for a pattern, a quiet spell, the program's exit or a timeout.
import { z } from "zod";
import { cutMiddle } from "./output_cut.ts";
import { type OutputMatcher, type Screen, compileWaitFor, findSession, retireSession, sessionIdField, sessionLimits } from "./sessions.ts";
import { defineTool, fail, ok } from "./tool.ts";

const DEFAULT_TIMEOUT_S = 30;
/** Schema bound; the server's max_timeout_s may be lower. */
const MAX_TIMEOUT_S = 86_400;
/** With neither wait_for nor idle_ms: return once output has paused this long (a command's answer usually comes in one burst). */
const DEFAULT_IDLE_MS = 500;
/** A progress notification this often while waiting (also keeps a hub's call alive). */
const PROGRESS_EVERY_MS = 5000;

const input = z.object({
  session_id: sessionIdField,
  wait_for: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .describe(
      'Return as soon as the unread output contains this text, e.g. ">>> " or "Password:". Written as /regex/ (flags i and s allowed) it is a regular expression in RE2 syntax, ' +
        "where ^ and $ match at line ends: /\\$ $/ waits for a shell prompt, /continue\\? \\[y\\/n\\]/i for a question. Matched against the text as returned (ANSI stripped). " +
        "The read also returns when the program exits or timeout_s passes.",
    ),
  idle_ms: z
    .int()
    .min(0)
    .max(600_000)
    .optional()
    .describe(
      `Return once no output has come for this many milliseconds (counted from the last output, or from the call if none came). 0 returns at once with what is there. ` +
        `With wait_for, whichever comes first. Default when neither is given: ${DEFAULT_IDLE_MS}.`,
    ),
  timeout_s: z
    .number()
    .min(0)
    .max(MAX_TIMEOUT_S)
    .optional()
    .describe(`Longest wait in seconds (default ${DEFAULT_TIMEOUT_S}, at most the server's max_timeout_s). A timeout is not an error: it returns what came, with woke_on "timeout".`),
  screen: z
    .boolean()
    .optional()
    .describe(
      "Return the current screen as text lines (rendered by a terminal emulator): true always, false never, default only while the program uses the alternate screen " +
        "(full-screen programs: less, top, vim, htop), where the transcript is mostly redraws.",
    ),
});

const output = z.object({
  session_id: z.string(),
  output: z
    .string()
    .describe("Text the program printed since the last read, ANSI escape sequences removed, CRLF as \\n; when cut, head and tail with a marker line between."),
  dropped_bytes: z
    .number()
    .int()
    .describe("Bytes of output not in `output`: the oldest unread output beyond the 1 MiB kept between reads, plus the middle cut to fit this reply."),
  woke_on: z
    .enum(["match", "idle", "exit", "timeout"])
    .describe("Why the read returned: wait_for matched, output went quiet for idle_ms, the program exited, or timeout_s passed."),
  waited_ms: z.number().int(),
  state: z.enum(["running", "exited"]).describe('"exited": the program ended; this read returned its last output and the session is gone.'),
  exit_code: z.number().int().nullable().optional().describe("Set once exited: the exit code, or null when a signal ended it."),
  signal: z.string().nullable().optional().describe("Set once exited: the signal that ended the program (e.g. SIGHUP), or null."),
  alternate_screen: z.boolean().describe("True while the program uses the alternate screen (a full-screen program such as less or vim)."),
  screen: z.array(z.string()).optional().describe("The current screen, one string per row (trailing spaces and empty rows at the bottom left out)."),
  cursor: z.object({ row: z.number().int(), col: z.number().int() }).optional().describe("Cursor position on the screen, 0-based; set with screen."),
});

type ReadData = z.output<typeof output>;

function lastLine(text: string): string {
  const line = text.split("\n").map((l) => l.trim()).filter(Boolean).at(-1) ?? "";
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

function renderText(d: ReadData, screen: Screen | undefined): string {
  let text = d.output === "" || d.output.endsWith("\n") ? d.output : `${d.output}\n`;
  if (screen) {
    text += `[screen${screen.alternate ? ", alternate" : ""}; cursor at row ${screen.cursor.row}, col ${screen.cursor.col}]\n${screen.lines.join("\n")}\n[end of screen]\n`;
  }
  const notes: string[] = [];
  if (d.dropped_bytes > 0) notes.push(`${d.dropped_bytes} bytes dropped`);
  if (d.state === "exited") {
    const how = d.signal ? `killed by ${d.signal}` : `exited with code ${d.exit_code}`;
    return `${text}[${how}; the session has ended${notes.length ? ` · ${notes.join(" · ")}` : ""}]`;
  }
  const why = { match: "wait_for matched", idle: "output went quiet", exit: "ended", timeout: "timed out, still running" }[d.woke_on];
  notes.unshift(`running · ${why} after ${d.waited_ms} ms`);
  if (d.alternate_screen && !screen) notes.push("full-screen program: pass screen=true to see the screen");
  return `${text}[${notes.join(" · ")}]`;
}

export const sessionRead = defineTool({
  name: "session_read",
  title: "Read a terminal session's output",
  description:
    "Returns what a session printed since the last read, as text with ANSI escapes removed, and for full-screen programs (less, top, vim) the current screen as text lines. " +
    `Waits first: until wait_for (text, or /regex/) appears, output pauses for idle_ms (default ${DEFAULT_IDLE_MS} ms when neither is given), the program exits, or timeout_s (default ${DEFAULT_TIMEOUT_S} s). ` +
    "It wakes on output, without polling, and sends progress while waiting. The reply is capped (head and tail kept, dropped_bytes says how much was cut). " +
    "After the program exits, one read returns its last output with exit_code, and the session ends.",
  input,
  output,
  annotations: { title: "Read a terminal session's output", readOnlyHint: false, destructiveHint: false, openWorldHint: true },
  async run(args, ctx) {
    const timeoutS = args.timeout_s ?? Math.min(DEFAULT_TIMEOUT_S, ctx.limits.maxTimeoutS);
    if (timeoutS > ctx.limits.maxTimeoutS) {
      return fail(`timeout_s ${timeoutS} is above this server's maximum of ${ctx.limits.maxTimeoutS} s; read again after this one returns`);
    }
    let matcher: OutputMatcher | undefined;
    if (args.wait_for !== undefined) {
      const compiled = compileWaitFor(args.wait_for);
      if ("error" in compiled) return fail(compiled.error);
      matcher = compiled.matcher;
    }
    const found = findSession(args.session_id);
    if ("error" in found) return fail(found.error);
    const s = found.session;
    s.touch();

    const idleMs = args.idle_ms ?? (matcher === undefined ? DEFAULT_IDLE_MS : undefined);
    const what = matcher ? `output matching ${matcher.describe}` : `${idleMs} ms without output`;
    const started = Date.now();
    const reason = await s.wait({
      ...(matcher ? { match: matcher } : {}),
      ...(idleMs === undefined ? {} : { idleMs }),
      timeoutMs: timeoutS * 1000,
      signal: ctx.signal,
      tickMs: PROGRESS_EVERY_MS,
      tick: (elapsed) => {
        const secs = Math.round(elapsed / 1000);
        const line = lastLine(s.peek());
        ctx.progress(`waited ${secs}s for ${what}${line ? `; last line: ${line}` : ""}`, secs, timeoutS).catch(() => undefined);
      },
    });
    // A cancelled read takes nothing: the output stays for the next one.
    if (reason === "cancelled") return fail(`the read was cancelled; session ${s.id}'s output stays for the next session_read`);

    const waitedMs = Date.now() - started;
    const ended = s.ended;
    const alternate = await s.alternateScreen();
    const showScreen = args.screen ?? alternate;
    const screen = showScreen ? await s.screen() : undefined;
    const taken = s.take();
    const cap = ctx.limits.maxOutputBytes;
    const bytes = Buffer.from(taken.text);
    let cutBytes = 0;
    const kept = cutMiddle(bytes, cap, (n) => {
      cutBytes = n;
      return `\n[lmcp: ${n} bytes cut from the middle of this read (the reply keeps ${cap} bytes); the screen shows the latest state with screen=true]\n`;
    });
    const data: ReadData = {
      session_id: s.id,
      output: kept.text,
      dropped_bytes: taken.dropped + cutBytes,
      woke_on: reason,
      waited_ms: waitedMs,
      state: ended ? "exited" : "running",
      alternate_screen: screen?.alternate ?? alternate,
    };
    if (ended && s.exit) {
      data.exit_code = s.exit.exit_code;
      data.signal = s.exit.signal;
    }
    if (screen) {
      data.screen = screen.lines;
      data.cursor = screen.cursor;
    }
    if (taken.dropped > 0) {
      data.output = `[lmcp: ${taken.dropped} bytes of older output were dropped: more than ${sessionLimits.pendingBytes} bytes came between reads]\n${data.output}`;
    }
    if (ended) retireSession(s);
    return ok(data, renderText(data, screen));
  },
});
