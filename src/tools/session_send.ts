// session_send: types into a session's terminal, as raw text and/or named keys.
import { z } from "zod";
import { KEY_NAMES_HELP, isKeyName, keyBytes, unknownKeyMessage } from "./keys.ts";
import { findSession, sessionIdField } from "./sessions.ts";
import { defineTool, fail, ok } from "./tool.ts";

/** One call's text; a terminal's input is typed, not uploaded (write_file is for data). */
const MAX_INPUT_CHARS = 64 * 1024;

const keyName = z.string().superRefine((name, ctx) => {
  if (!isKeyName(name)) ctx.addIssue({ code: "custom", message: unknownKeyMessage(name) });
});

const input = z.object({
  session_id: sessionIdField,
  input: z
    .string()
    .max(MAX_INPUT_CHARS)
    .optional()
    .describe(
      'Text typed as is, control characters included: "ls -l\\n" runs a command ("\\n" or "\\r" is Enter), "\\u0003" is Ctrl-C, "\\u0004" Ctrl-D (end of input), "\\u001b" Escape. ' +
        "In a shell's line editing a line is cut at 4095 bytes; pass large data through a file (write_file) instead.",
    ),
  keys: z
    .array(keyName)
    .max(256)
    .optional()
    .describe(`Named keys pressed in order, after \`input\` when both are given: ["C-c"], ["Up", "Enter"], ["Space"] (next page in less). Printable text goes in \`input\`. Names: ${KEY_NAMES_HELP}.`),
});

const output = z.object({
  session_id: z.string(),
  bytes_sent: z.number().int().describe("Bytes written to the terminal."),
});

export const sessionSend = defineTool({
  name: "session_send",
  title: "Type into a terminal session",
  description:
    "Types into a session's terminal: `input` as raw text (\"\\n\" is Enter, \"\\u0003\" is Ctrl-C), `keys` as named keys (Enter, Tab, Up, Down, PageDown, C-c, C-d…), or both (input first). " +
    "Returns at once; see the program's answer with session_read (use wait_for to wait for a prompt). Text is not recorded in the audit log.",
  input,
  output,
  annotations: { title: "Type into a terminal session", destructiveHint: true, readOnlyHint: false, openWorldHint: true },
  async run(args) {
    if (args.input === undefined && (args.keys === undefined || args.keys.length === 0)) {
      return fail('nothing to send: give `input` (text, e.g. "ls\\n") or `keys` (e.g. ["Enter"]), or both');
    }
    const found = findSession(args.session_id);
    if ("error" in found) return fail(found.error);
    const s = found.session;
    s.touch();
    let data = args.input ?? "";
    if (args.keys && args.keys.length > 0) {
      // Arrow keys depend on the mode the program set; xterm knows it once it has parsed the output so far.
      const appCursor = await s.applicationCursorKeys();
      data += args.keys.map((k) => keyBytes(k, appCursor)).join("");
    }
    if (!s.write(data)) {
      const e = s.exit;
      const how = e?.signal ? `was killed by ${e.signal}` : `exited with code ${e?.exit_code ?? "unknown"}`;
      return fail(`session ${s.id}'s program ${how}, so nothing was sent; read its last output with session_read, or start a new session`);
    }
    const bytes = Buffer.byteLength(data);
    return ok({ session_id: s.id, bytes_sent: bytes }, `sent ${bytes} bytes to session ${s.id}; read the answer with session_read`);
  },
});
