// session_list: the terminal sessions open on this server, so an agent can find
// one again (after a reconnect) or see which to close when the table is full.
import { z } from "zod";
import { listSessions, sessionLimits } from "./sessions.ts";
import { defineTool, ok } from "./tool.ts";

const row = z.object({
  session_id: z.string(),
  pid: z.number().int(),
  command: z.string(),
  cwd: z.string(),
  state: z.enum(["running", "exited"]).describe('"exited": the program ended; one session_read returns its last output and ends the session.'),
  exit_code: z.number().int().nullable().optional().describe("Set once exited (null when a signal ended it)."),
  started_at: z.string(),
  last_active: z.string().describe("Last session_send or session_read, ISO 8601."),
  idle_closes_at: z.string().describe("When the session is closed if nothing sends to or reads it before then."),
  unread_bytes: z.number().int().describe("Output waiting for session_read."),
  cols: z.number().int(),
  rows: z.number().int(),
});

const output = z.object({
  sessions: z.array(row),
  max_sessions: z.number().int().describe("How many sessions the server keeps open at once."),
});

export const sessionList = defineTool({
  name: "session_list",
  title: "List terminal sessions",
  description:
    "Lists the terminal sessions open on this server (started by any client): id, command, state, unread output and when each closes for being idle. " +
    "Sessions end with the server, so after a restart the list is empty.",
  input: z.object({}),
  output,
  annotations: { title: "List terminal sessions", readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async run() {
    const sessions = listSessions().map((s) => {
      const r: z.output<typeof row> = {
        session_id: s.id,
        pid: s.pid,
        command: s.spec.label,
        cwd: s.spec.cwd,
        state: s.exit ? "exited" : "running",
        started_at: s.startedAt.toISOString(),
        last_active: new Date(s.lastActive).toISOString(),
        idle_closes_at: new Date(s.lastActive + sessionLimits.idleMs).toISOString(),
        unread_bytes: s.pendingBytes,
        cols: s.spec.cols,
        rows: s.spec.rows,
      };
      if (s.exit) r.exit_code = s.exit.exit_code;
      return r;
    });
    const head = `${sessions.length} of at most ${sessionLimits.maxSessions} sessions open`;
    const lines = sessions.map(
      (r) => `${r.session_id}  ${r.state}${r.exit_code === undefined ? "" : ` (${r.exit_code})`}  pid ${r.pid}  ${r.unread_bytes} bytes unread  ${r.command}  (${r.cwd})`,
    );
    return ok({ sessions, max_sessions: sessionLimits.maxSessions }, [head, ...lines].join("\n"));
  },
});
