// session_close: ends a terminal session: hangs up its terminal (SIGHUP to every
// process in it, SIGKILL after 2 s for any that stay) and frees its place.
import { z } from "zod";
import { closeSession, findSession, sessionIdField } from "./sessions.ts";
import { defineTool, fail, ok } from "./tool.ts";

const output = z.object({
  session_id: z.string(),
  was: z.enum(["running", "exited"]).describe("The program's state when the close came."),
  killed: z.boolean().describe("True when a process ignored the hang-up and was SIGKILLed."),
  unread_bytes: z.number().int().describe("Output never read, discarded with the session."),
});

export const sessionClose = defineTool({
  name: "session_close",
  title: "Close a terminal session",
  description:
    "Ends a terminal session: hangs up its terminal as closing a window does (SIGHUP to every process in the session, including background jobs; SIGKILL 2 s later for any left) " +
    "and discards its unread output. Use it when done with a session: open sessions count against the server's cap.",
  input: z.object({ session_id: sessionIdField }),
  output,
  annotations: { title: "Close a terminal session", destructiveHint: true, readOnlyHint: false, idempotentHint: true, openWorldHint: false },
  async run(args) {
    const found = findSession(args.session_id);
    if ("error" in found) return fail(found.error);
    const s = found.session;
    const was = s.exit ? "exited" : "running";
    const { killed, unread } = await closeSession(s);
    const data = { session_id: s.id, was, killed, unread_bytes: unread } as const;
    let text = `closed session ${s.id}`;
    text += was === "running" ? (killed ? " (a process ignored the hang-up and was killed)" : " (hung up)") : " (its program had already exited)";
    if (unread > 0) text += `; ${unread} bytes of unread output discarded`;
    return ok(data, text);
  },
});
