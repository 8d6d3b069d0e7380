// edit_file: replaces an exact piece of text in a file (Claude Code's Edit
// semantics), written atomically like write_file.
import { isUtf8 } from "node:buffer";
import { closeSync, type Stats } from "node:fs";
import { z } from "zod";
import { sha256Hex } from "../crypto.ts";
import { openChecked } from "../policy/open.ts";
import { type FilePolicy, permissivePolicy } from "../policy/rules.ts";
import { atomicWrite, pendingWritesDir } from "./atomic_write.ts";
import { notFoundMessage } from "./edit_match.ts";
import { pathFailure, resolveUserPath } from "./paths.ts";
import { readFdCapped } from "./read_capped.ts";
import { defineTool, fail, ok } from "./tool.ts";

/** Files above this are refused: an edit holds the old and new text (as bytes and as a string) at once. */
export const MAX_EDIT_BYTES = 16 * 1024 * 1024;

const input = z.object({
  path: z.string().min(1).describe("File to edit: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  old_string: z
    .string()
    .describe("The exact text to replace, copied from the file with its whitespace and indentation (a literal string, not a regex). It must occur exactly once unless replace_all or expected_replacements says otherwise. An empty old_string creates a file that does not exist yet."),
  new_string: z.string().describe("The text to put in its place (must differ from old_string)."),
  replace_all: z.boolean().default(false).describe("Replace every occurrence of old_string instead of requiring exactly one (default false)."),
  expected_replacements: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("Fail unless old_string occurs exactly this many times; when it does, all of them are replaced (replace_all not needed)."),
  expected_sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, "a SHA-256 in hex: 64 hex digits")
    .optional()
    .describe("SHA-256 (hex) of the file as you last read or wrote it (e.g. the sha256 a previous edit_file returned); the edit fails if the file has changed since."),
});

const output = z.object({
  path: z.string().describe("The file edited, as an absolute path."),
  replacements: z.number().describe("How many occurrences were replaced."),
  bytes_written: z.number(),
  created: z.boolean().describe("True when an empty old_string created the file."),
  sha256: z.string().describe("SHA-256 (hex) of the file's new content; pass it as expected_sha256 to the next edit of this file."),
});

export type EditPlan =
  | { kind: "edited"; text: string; replacements: number; firstIndex: number; crlf: boolean }
  | { kind: "not_found" }
  | { kind: "ambiguous"; count: number }
  | { kind: "count_mismatch"; count: number; expected: number };

function countOccurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

function literalEdit(text: string, oldS: string, newS: string, replaceAll: boolean, crlf: boolean, expected?: number): EditPlan {
  const first = text.indexOf(oldS);
  if (first < 0) return { kind: "not_found" };
  if (expected !== undefined) {
    const count = countOccurrences(text, oldS);
    if (count !== expected) return { kind: "count_mismatch", count, expected };
  }
  if (replaceAll || expected !== undefined) {
    // split/join, not String.replace: a replacement string must not give `$&` and friends a meaning.
    const parts = text.split(oldS);
    return { kind: "edited", text: parts.join(newS), replacements: parts.length - 1, firstIndex: first, crlf };
  }
  const count = countOccurrences(text, oldS);
  if (count > 1) return { kind: "ambiguous", count };
  return { kind: "edited", text: text.slice(0, first) + newS + text.slice(first + oldS.length), replacements: 1, firstIndex: first, crlf };
}

const toCRLF = (s: string): string => s.replace(/\r?\n/g, "\r\n");

/**
 * The edit as a pure function: a literal match, retried with CRLF line endings when the file has them and the agent sent LF.
 * With `expected`, the count must be exactly that, and then every occurrence is replaced.
 */
export function planEdit(text: string, oldS: string, newS: string, replaceAll: boolean, expected?: number): EditPlan {
  const plan = literalEdit(text, oldS, newS, replaceAll, false, expected);
  if (plan.kind === "not_found" && oldS.includes("\n") && !oldS.includes("\r\n") && text.includes("\r\n")) {
    return literalEdit(text, toCRLF(oldS), toCRLF(newS), replaceAll, true, expected);
  }
  return plan;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < index; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/** The refusal when the file is not the one the agent read, else undefined. */
function changedSince(path: string, current: Uint8Array, expected: string | undefined): string | undefined {
  if (expected === undefined) return undefined;
  const actual = sha256Hex(current);
  if (actual === expected.toLowerCase()) return undefined;
  return `${path} changed since you read it (sha256 is ${actual}, expected ${expected.toLowerCase()}); read it again and redo the edit on its current content`;
}

const tooBig = (path: string, size: number) =>
  `${path} is ${size} bytes, above edit_file's limit of ${MAX_EDIT_BYTES} bytes (16 MiB); edit it with shell (sed, a script) or replace it with write_file`;

/** Why edit_file will not touch the file it stat'ed, before anything is opened. */
function kindProblem(path: string, st: Stats): string | undefined {
  if (st.isDirectory()) return `${path} is a directory; give the path of a file (list_dir shows what is inside it)`;
  if (!st.isFile()) return `${path} is not a regular file; edit_file only edits regular text files`;
  if (st.size > MAX_EDIT_BYTES) return tooBig(path, st.size);
  return undefined;
}

/** The file's stat and bytes as the policy allows them to be read for a rewrite; undefined when it does not exist. */
function readForEdit(policy: FilePolicy, path: string): { st: Stats; buf: Buffer } | undefined {
  let opened;
  try {
    opened = openChecked(policy, path, "file", (st) => kindProblem(path, st), "write");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    // Capped: a pseudo-file (/proc/self/pagemap) may say 0 bytes and never end.
    const buf = readFdCapped(opened.fd, opened.st.size, MAX_EDIT_BYTES);
    if (!buf) throw new Error(tooBig(path, Math.max(opened.st.size, MAX_EDIT_BYTES + 1)));
    return { st: opened.st, buf };
  } finally {
    closeSync(opened.fd);
  }
}

export const editFile = defineTool({
  name: "edit_file",
  title: "Edit file",
  description:
    "Replaces old_string with new_string in a text file: a literal, exact match that must be unique unless replace_all is set " +
    "(or expected_replacements gives the exact count); CRLF files can be edited with LF text. The file is rewritten atomically and keeps its mode and owner. " +
    "Read the file first and copy old_string exactly. Returns the new content's sha256; pass it as expected_sha256 to fail safely if the file changed in between. " +
    "When old_string is not found, the error shows the closest lines of the file and what differs (line endings, indentation, trailing spaces, case).",
  input,
  output,
  annotations: { title: "Edit file", readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    const journalDir = pendingWritesDir(ctx.stateDir);
    const { old_string: oldS, new_string: newS } = args;
    if (oldS === newS) return fail("old_string and new_string are identical, so there is nothing to change; give the new text in new_string");
    const policy = ctx.policy ?? permissivePolicy;
    try {
      const current = readForEdit(policy, path);
      const st = current?.st;

      if (oldS === "") {
        if (args.expected_sha256 !== undefined) {
          if (!st) return fail(`${path} does not exist, but expected_sha256 was given; check the path, or leave expected_sha256 out to create the file`);
          const changed = changedSince(path, current!.buf, args.expected_sha256);
          if (changed) return fail(changed);
        }
        if (st && st.size > 0) {
          return fail(`${path} already exists and is not empty; an empty old_string only creates a new file. Give the exact text to replace, or use write_file to replace the whole file`);
        }
        const r = await atomicWrite(path, Buffer.from(newS, "utf8"), { createDirs: true, journalDir, policy });
        const sha256 = sha256Hex(newS);
        return ok(
          { path, replacements: 1, bytes_written: r.bytes, created: r.created, sha256 },
          `${r.created ? "created" : "wrote"} ${path}: ${r.bytes} bytes; sha256 ${sha256}`,
        );
      }
      if (!st) return fail(`${path} does not exist; check the path, or create the file with write_file (or edit_file with an empty old_string)`);

      const buf = current!.buf;
      const changed = changedSince(path, buf, args.expected_sha256);
      if (changed) return fail(changed);
      if (!isUtf8(buf)) return fail(`${path} is not valid UTF-8 text, so edit_file cannot edit it safely; use write_file with encoding base64 to replace it`);
      const text = buf.toString("utf8");
      const plan = planEdit(text, oldS, newS, args.replace_all, args.expected_replacements);
      if (plan.kind === "not_found") return fail(notFoundMessage(path, text, oldS));
      if (plan.kind === "count_mismatch") {
        return fail(
          `old_string occurs ${plan.count} time${plan.count === 1 ? "" : "s"} in ${path}, not the ${plan.expected} that expected_replacements says; nothing was changed. ` +
            "Read the file again, then adjust old_string (add surrounding lines to single out the places you mean) or expected_replacements",
        );
      }
      if (plan.kind === "ambiguous") {
        return fail(
          `old_string occurs ${plan.count} times in ${path}; add surrounding lines to old_string so it matches exactly one place, or set replace_all: true to replace all ${plan.count}`,
        );
      }
      const r = await atomicWrite(path, Buffer.from(plan.text, "utf8"), { createDirs: false, journalDir, policy });
      const what = plan.replacements === 1 ? "1 occurrence" : `${plan.replacements} occurrences`;
      const crlf = plan.crlf ? " (matched with CRLF line endings)" : "";
      const sha256 = sha256Hex(plan.text);
      return ok(
        { path, replacements: plan.replacements, bytes_written: r.bytes, created: false, sha256 },
        `replaced ${what} in ${path}, first at line ${lineOf(plan.text, plan.firstIndex)}${crlf}; ${r.bytes} bytes written; sha256 ${sha256}`,
      );
    } catch (err) {
      return pathFailure("cannot edit", err);
    }
  },
});
