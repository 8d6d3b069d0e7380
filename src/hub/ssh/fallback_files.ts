// read_file, write_file and list_dir over ssh: a perl program does the file
// work on the backend, and the hub renders its answer with the same pure
// functions the lmcp tools use, so the result has the same shape and words.
import { entryLine, listDir, listingReply, modeLetters, notADirProblem, type Entry } from "../../tools/list_dir.ts";
import { base64Fitting, base64Reply, notAFileProblem, readFile, textReadReply } from "../../tools/read_file.ts";
import { fail, ok, type ToolContext, type ToolOutcome } from "../../tools/tool.ts";
import { contentBytes, writeFile } from "../../tools/write_file.ts";
import { noRemotePolicy, remoteProgram } from "./perl.ts";
import { hasNul } from "./quote.ts";
import { policyRefusal, remoteErrnoMessage, runProgram } from "./remote.ts";
import type { FieldReader } from "./reply.ts";
import type { SshRunner, SshTarget } from "./runner.ts";

/** read_file over ssh fetches whole files in text mode; beyond this it says how to read part of one. */
export const SSH_READ_MAX_BYTES = 64 * 1024 * 1024;
const NUL_PATH = "path contains a NUL byte, which no file name can hold; check the path";

/** The remote program's "err" answer: an errno (as describePathError words it) or one of its own refusals. */
function readErr(f: FieldReader): { code: string; path: string; rest: string } {
  const code = f.text();
  const path = f.text();
  const rest = f.left > 0 ? f.text() : "";
  return { code, path, rest };
}

export async function sshReadFile(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = readFile.input.parse(raw);
  if (hasNul(args.path)) return fail(NUL_PATH);
  const cap = ctx.limits.maxReadBytes;
  const offset = args.offset ?? 0;
  const script = remoteProgram("read_file", target.policy ?? noRemotePolicy, [args.path, args.encoding, SSH_READ_MAX_BYTES, offset, args.limit ?? "", base64Fitting(cap)]);
  const run = await runProgram(runner, target, script, { signal: ctx.signal });
  if ("failure" in run) return run.failure;
  const f = run.reader;
  if (f.text() === "err") {
    const e = readErr(f);
    const refused = policyRefusal(target, e.code, e.path);
    if (refused) return refused;
    if (e.code === "ISDIR") return fail(notAFileProblem(e.path, "dir"));
    if (e.code === "NOTREG") return fail(notAFileProblem(e.path, "other"));
    if (e.code === "TOOBIG") {
      return fail(
        `cannot read ${e.path} over ssh: it is ${e.rest} bytes, and with the host's lmcp down, text mode reads files up to ${SSH_READ_MAX_BYTES / 1024 / 1024} MiB. ` +
          `Read it in pieces with encoding "base64" (offset and limit in bytes), or with shell (sed -n '100,200p', head, tail, grep)`,
      );
    }
    return fail(`cannot read: ${remoteErrnoMessage(target, e.code, e.path, e.rest)}`);
  }
  const path = f.text();
  if (args.encoding === "base64") {
    const size = f.number();
    const head = f.bytes();
    return base64Reply(path, size, offset, f.bytes(), head);
  }
  const buf = f.bytes();
  return textReadReply(path, Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), args, cap);
}

const WRITE_REFUSALS: Record<string, (path: string) => string> = {
  ISDIR: (p) => `${p} is a directory; give the path of a file (list_dir shows what is inside it)`,
  NOTREG: (p) => `${p} is not a regular file (a device, FIFO or socket); lmcp only replaces regular files, use shell for this one`,
  PARENT_NOTDIR: (p) => `${p} is not a directory, so no file can be created inside it`,
  PARENT_MISSING: (p) => `parent directory ${p} does not exist; pass create_dirs: true to create it`,
};

export async function sshWriteFile(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = writeFile.input.parse(raw);
  if (hasNul(args.path)) return fail(NUL_PATH);
  const data = contentBytes(args);
  if ("error" in data) return fail(data.error);
  // The bytes travel in the request (base64 of netstrings), so any bytes arrive exactly.
  const script = remoteProgram("write_file", target.policy ?? noRemotePolicy, [args.path, args.create_dirs ? 1 : 0, args.mode ?? "", data, data.byteLength]);
  const run = await runProgram(runner, target, script, { signal: ctx.signal });
  if ("failure" in run) return run.failure;
  const f = run.reader;
  if (f.text() === "err") {
    const e = readErr(f);
    const refused = policyRefusal(target, e.code, e.path);
    if (refused) return refused;
    const refusal = WRITE_REFUSALS[e.code];
    if (refusal) return fail(refusal(e.path));
    if (e.code === "DECODE") {
      return fail(`the content did not arrive intact on ${target.name} (${e.rest} of ${data.byteLength} bytes); nothing was written. Retry; if it persists, check the ssh link to that host`);
    }
    return fail(`cannot write: ${remoteErrnoMessage(target, e.code, e.path, e.rest)}`);
  }
  const path = f.text();
  const written = f.text();
  const bytes = f.number();
  const created = f.flag();
  const via = written !== path ? ` (through the symlink, to ${written})` : "";
  return ok({ path, bytes_written: bytes, created }, `${created ? "created" : "wrote"} ${path}: ${bytes} bytes${via}`);
}

const TYPES: Record<string, Entry["type"]> = { "-": "file", d: "dir", l: "symlink" };

/** `1712345678.123456789` (seconds, as perl prints them) to ISO 8601 with milliseconds, truncated as node's Stats.mtime is. */
export function isoFromSeconds(s: string): string {
  const neg = s.startsWith("-");
  const [sec = "0", frac = ""] = (neg ? s.slice(1) : s).split(".");
  const ms = Number(sec) * 1000 + Number(`${frac}000`.slice(0, 3));
  return new Date(neg ? -ms : ms).toISOString();
}

export async function sshListDir(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = listDir.input.parse(raw);
  if (hasNul(args.path)) return fail(NUL_PATH);
  const script = remoteProgram("list_dir", target.policy ?? noRemotePolicy, [args.path, args.all ? 1 : 0, args.max_entries]);
  const run = await runProgram(runner, target, script, { signal: ctx.signal });
  if ("failure" in run) return run.failure;
  const f = run.reader;
  if (f.text() === "err") {
    const e = readErr(f);
    const refused = policyRefusal(target, e.code, e.path);
    if (refused) return refused;
    if (e.code === "ISFILE" || e.code === "NOTDIR") return fail(notADirProblem(e.path, e.code === "ISFILE"));
    return fail(`cannot list: ${remoteErrnoMessage(target, e.code, e.path, e.rest)}`);
  }
  const path = f.text();
  const total = f.number();
  const hidden = f.number();
  const n = f.number();
  const entries: Entry[] = [];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = f.text();
    const typeChar = f.text();
    const size = f.number();
    const mtime = isoFromSeconds(f.text());
    const mode = f.number();
    const hasTarget = f.flag();
    const linkTarget = f.text();
    const e: Entry = { name, type: TYPES[typeChar] ?? "other", size, mtime, mode: mode.toString(8).padStart(4, "0") };
    if (hasTarget) e.target = linkTarget;
    entries.push(e);
    lines.push(entryLine(e, modeLetters(typeChar, mode)));
  }
  return listingReply(path, entries, lines, total, hidden);
}
