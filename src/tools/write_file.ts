// write_file: replaces (or creates) a file atomically, keeping an existing
// file's mode and owner, and writing through a symlink to its target.
import { z } from "zod";
import { atomicWrite, pendingWritesDir } from "./atomic_write.ts";
import { pathFailure, resolveUserPath } from "./paths.ts";
import { defineTool, fail, ok } from "./tool.ts";

const input = z.object({
  path: z.string().min(1).describe("File to write: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home. A symlink is written through to its target."),
  content: z.string().describe("The complete new content of the file (text, or base64 when encoding is base64). Replaces everything in the file."),
  encoding: z.enum(["utf8", "base64"]).default("utf8").describe('"utf8" (default): content is the text to store; "base64": content is base64 of the bytes to store (for binary files).'),
  create_dirs: z.boolean().default(true).describe("Create missing parent directories (default true)."),
  mode: z
    .string()
    .regex(/^[0-7]{3,4}$/, 'mode must be 3 or 4 octal digits, like "0644" or "755"')
    .optional()
    .describe('Permission bits in octal, like "0644" or "755". Default: an existing file keeps its mode; a new file gets 0644.'),
});

const output = z.object({
  path: z.string().describe("The file written, as an absolute path."),
  bytes_written: z.number(),
  created: z.boolean().describe("True when the file did not exist before."),
});

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Strict base64 (standard or URL-safe alphabet, padding optional, whitespace ignored); undefined when invalid. */
export function decodeBase64(text: string): Uint8Array | undefined {
  const compact = text.replace(/\s+/g, "");
  if (!BASE64.test(compact) || compact.replace(/=+$/, "").length % 4 === 1) return undefined;
  if (compact.includes("=") && compact.length % 4 !== 0) return undefined;
  return Buffer.from(compact.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

/** The bytes write_file stores: `content` as UTF-8 text, or decoded from base64; an error message when the base64 is invalid. */
export function contentBytes(args: { content: string; encoding: "utf8" | "base64" }): Uint8Array | { error: string } {
  if (args.encoding !== "base64") return Buffer.from(args.content, "utf8");
  const bytes = decodeBase64(args.content);
  if (!bytes) return { error: "content is not valid base64; send the bytes base64-encoded (A–Z, a–z, 0–9, +, /, = padding), or use encoding utf8 for text" };
  return bytes;
}

export const writeFile = defineTool({
  name: "write_file",
  title: "Write file",
  description:
    "Writes the whole content of a file, atomically (temp file, fsync, rename), creating it and its parent directories if needed. " +
    "An existing file keeps its mode and owner; a symlink stays a link and its target is written. To change part of a file, use edit_file.",
  input,
  output,
  annotations: { title: "Write file", readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    const data = contentBytes(args);
    if ("error" in data) return fail(data.error);
    const mode = args.mode === undefined ? undefined : Number.parseInt(args.mode, 8);
    try {
      const r = await atomicWrite(path, data, { createDirs: args.create_dirs, journalDir: pendingWritesDir(ctx.stateDir), ...(ctx.policy ? { policy: ctx.policy } : {}), ...(mode !== undefined ? { mode } : {}) });
      const via = r.path !== path ? ` (through the symlink, to ${r.path})` : "";
      return ok(
        { path, bytes_written: r.bytes, created: r.created },
        `${r.created ? "created" : "wrote"} ${path}: ${r.bytes} bytes${via}`,
      );
    } catch (err) {
      return pathFailure("cannot write", err);
    }
  },
});
