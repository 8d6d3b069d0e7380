// edit_file: replaces an exact piece of text in a file (Claude Code's Edit
// semantics), written atomically like write_file.
import { isUtf8 } from "node:buffer";
import { readFileSync, statSync, type Stats } from "node:fs";
import { z } from "zod";
import { atomicWrite } from "./atomic_write.ts";
import { describePathError, resolveUserPath } from "./paths.ts";
import { defineTool, fail, ok } from "./tool.ts";

const input = z.object({
  path: z.string().min(1).describe("File to edit: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  old_string: z
    .string()
    .describe("The exact text to replace, copied from the file with its whitespace and indentation (a literal string, not a regex). It must occur exactly once unless replace_all is true. An empty old_string creates a file that does not exist yet."),
  new_string: z.string().describe("The text to put in its place (must differ from old_string)."),
  replace_all: z.boolean().default(false).describe("Replace every occurrence of old_string instead of requiring exactly one (default false)."),
});

const output = z.object({
  path: z.string().describe("The file edited, as an absolute path."),
  replacements: z.number().describe("How many occurrences were replaced."),
  bytes_written: z.number(),
  created: z.boolean().describe("True when an empty old_string created the file."),
});

export type EditPlan =
  | { kind: "edited"; text: string; replacements: number; firstIndex: number; crlf: boolean }
  | { kind: "not_found" }
  | { kind: "ambiguous"; count: number };

function countOccurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

function literalEdit(text: string, oldS: string, newS: string, replaceAll: boolean, crlf: boolean): EditPlan {
  const first = text.indexOf(oldS);
  if (first < 0) return { kind: "not_found" };
  if (replaceAll) {
    // split/join, not String.replace: a replacement string must not give `$&` and friends a meaning.
    const parts = text.split(oldS);
    return { kind: "edited", text: parts.join(newS), replacements: parts.length - 1, firstIndex: first, crlf };
  }
  const count = countOccurrences(text, oldS);
  if (count > 1) return { kind: "ambiguous", count };
  return { kind: "edited", text: text.slice(0, first) + newS + text.slice(first + oldS.length), replacements: 1, firstIndex: first, crlf };
}

const toCRLF = (s: string): string => s.replace(/\r?\n/g, "\r\n");

/** The edit as a pure function: a literal match, retried with CRLF line endings when the file has them and the agent sent LF. */
export function planEdit(text: string, oldS: string, newS: string, replaceAll: boolean): EditPlan {
  const plan = literalEdit(text, oldS, newS, replaceAll, false);
  if (plan.kind === "not_found" && oldS.includes("\n") && !oldS.includes("\r\n") && text.includes("\r\n")) {
    return literalEdit(text, toCRLF(oldS), toCRLF(newS), replaceAll, true);
  }
  return plan;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < index; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export const editFile = defineTool({
  name: "edit_file",
  title: "Edit file",
  description:
    "Replaces old_string with new_string in a text file: a literal, exact match that must be unique unless replace_all is set; CRLF files can be edited with LF text. " +
    "The file is rewritten atomically and keeps its mode and owner. Read the file first and copy old_string exactly.",
  input,
  output,
  annotations: { title: "Edit file", readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args) {
    const path = resolveUserPath(args.path);
    const { old_string: oldS, new_string: newS } = args;
    if (oldS === newS) return fail("old_string and new_string are identical, so there is nothing to change; give the new text in new_string");
    try {
      const st = statOrUndefined(path);
      if (st?.isDirectory()) return fail(`${path} is a directory; give the path of a file (list_dir shows what is inside it)`);
      if (st && !st.isFile()) return fail(`${path} is not a regular file; edit_file only edits regular text files`);

      if (oldS === "") {
        if (st && st.size > 0) {
          return fail(`${path} already exists and is not empty; an empty old_string only creates a new file. Give the exact text to replace, or use write_file to replace the whole file`);
        }
        const r = await atomicWrite(path, Buffer.from(newS, "utf8"), { createDirs: true });
        return ok({ path, replacements: 1, bytes_written: r.bytes, created: r.created }, `${r.created ? "created" : "wrote"} ${path}: ${r.bytes} bytes`);
      }
      if (!st) return fail(`${path} does not exist; check the path, or create the file with write_file (or edit_file with an empty old_string)`);

      const buf = readFileSync(path);
      if (!isUtf8(buf)) return fail(`${path} is not valid UTF-8 text, so edit_file cannot edit it safely; use write_file with encoding base64 to replace it`);
      const text = buf.toString("utf8");
      const plan = planEdit(text, oldS, newS, args.replace_all);
      if (plan.kind === "not_found") {
        return fail(`old_string not found in ${path}; read the file again and copy the exact text, including whitespace and indentation`);
      }
      if (plan.kind === "ambiguous") {
        return fail(
          `old_string occurs ${plan.count} times in ${path}; add surrounding lines to old_string so it matches exactly one place, or set replace_all: true to replace all ${plan.count}`,
        );
      }
      const r = await atomicWrite(path, Buffer.from(plan.text, "utf8"), { createDirs: false });
      const what = plan.replacements === 1 ? "1 occurrence" : `${plan.replacements} occurrences`;
      const crlf = plan.crlf ? " (matched with CRLF line endings)" : "";
      return ok(
        { path, replacements: plan.replacements, bytes_written: r.bytes, created: false },
        `replaced ${what} in ${path}, first at line ${lineOf(plan.text, plan.firstIndex)}${crlf}; ${r.bytes} bytes written`,
      );
    } catch (err) {
      return fail(`cannot edit: ${describePathError(err)}`);
    }
  },
});
