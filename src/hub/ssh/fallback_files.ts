// read_file, write_file and list_dir over ssh: a perl program does the file
// work on the backend, and the hub renders its answer with the same pure
// functions the lmcp tools use, so the result has the same shape and words.
import { entryLine, listDir, listingReply, modeLetters, notADirProblem, type Entry } from "../../tools/list_dir.ts";
import { base64Fitting, base64Reply, notAFileProblem, readFile, textReadReply } from "../../tools/read_file.ts";
import { fail, ok, type ToolContext, type ToolOutcome } from "../../tools/tool.ts";
import { randomBytes } from "../../crypto.ts";
import { CHUNK_MAX, octal } from "../../tools/transfer_common.ts";
import { transferRead } from "../../tools/transfer_read.ts";
import { transferWrite } from "../../tools/transfer_write.ts";
import { contentBytes, decodeBase64, writeFile } from "../../tools/write_file.ts";
import { type RemoteOp, noRemotePolicy, remoteProgram } from "./perl.ts";
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

// ---- transfer_read and transfer_write over ssh: one chunk per ssh call ----

/** How long an ssh call may take that also hashes a whole file on the backend (at the last chunk, or final). */
const HASH_BUDGET_MS = 10 * 60 * 1000;

/** The remote program's transfer ops, until perl.ts's RemoteOp names them. */
const transferOp = (op: "transfer_read" | "transfer_write") => op as string as RemoteOp;

export async function sshTransferRead(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = transferRead.input.parse(raw);
  if (hasNul(args.path)) return fail(NUL_PATH);
  const want = args.sha256 === undefined ? "" : args.sha256 ? 1 : 0;
  const script = remoteProgram(transferOp("transfer_read"), target.policy ?? noRemotePolicy, [args.path, args.offset, args.length, want]);
  const hardTimeoutMs = args.sha256 === false ? runner.hardTimeoutMs : runner.hardTimeoutMs + HASH_BUDGET_MS;
  const run = await runProgram(runner, target, script, { signal: ctx.signal, hardTimeoutMs });
  if ("failure" in run) return run.failure;
  const f = run.reader;
  if (f.text() === "err") {
    const e = readErr(f);
    const refused = policyRefusal(target, e.code, e.path);
    if (refused) return refused;
    if (e.code === "ISDIR") return fail(notAFileProblem(e.path, "dir"));
    if (e.code === "NOTREG") return fail(notAFileProblem(e.path, "other"));
    if (e.code === "PAST_END") return fail(`offset ${args.offset} is past the end of ${e.path} (${e.rest} bytes); resume at an offset up to ${e.rest}, or start again at 0 if the file changed`);
    if (e.code === "NOSHA") return fail(NO_SHA(target, e.path));
    return fail(`cannot read: ${remoteErrnoMessage(target, e.code, e.path, e.rest)}`);
  }
  const path = f.text();
  const size = f.number();
  const mode = f.number();
  const bytes = f.bytes();
  const eof = f.flag();
  const sha256 = f.text();
  const next = args.offset + bytes.length;
  const data = {
    path,
    data_base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
    offset: args.offset,
    bytes: bytes.length,
    next_offset: next,
    size,
    eof,
    ...(sha256 ? { sha256 } : {}),
    mode: octal(mode),
  };
  const where = bytes.length === 0 ? `no bytes at offset ${args.offset}` : `bytes ${args.offset}–${next - 1}`;
  return ok(data, `${path}: ${where} of ${size} (${bytes.length} bytes, base64 in structuredContent.data_base64)${eof ? `; end of file${sha256 ? `, sha256 ${sha256}` : ""}` : `; continue with offset=${next}`}`);
}

const NO_SHA = (target: SshTarget, path: string) =>
  `cannot hash ${path} on ${target.name} over ssh: it has neither perl's Digest::SHA nor sha256sum/shasum; install one (coreutils has sha256sum), or bring its lmcp back up`;

export async function sshTransferWrite(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = transferWrite.input.parse(raw);
  if (hasNul(args.path)) return fail(NUL_PATH);
  const data = decodeBase64(args.data_base64);
  if (!data) return fail("data_base64 is not valid base64; send the chunk's bytes base64-encoded (A–Z, a–z, 0–9, +, /, = padding)");
  if (data.length > CHUNK_MAX) return fail(`this chunk is ${data.length} bytes; send at most ${CHUNK_MAX} (4 MiB) per call`);
  if (args.cancel && args.upload_id === undefined) return fail("cancel needs the upload_id of the upload to discard");
  if (args.cancel && (data.length > 0 || args.final)) return fail("cancel discards an upload: send it alone, without data_base64 or final");
  if (args.upload_id === undefined && args.offset !== 0) return fail("a new upload starts at offset 0; to continue one, pass its upload_id");
  // The remote program keeps no state between calls: the id names the temp file, so the hub picks it for a new upload.
  const id = args.upload_id ?? randomBytes(6).toString("hex");
  const fields = [args.path, args.create_dirs ? 1 : 0, id, args.offset, data, data.length, args.final ? 1 : 0, args.final?.sha256 ?? "", args.final?.mode ?? "", args.cancel ? 1 : 0];
  const script = remoteProgram(transferOp("transfer_write"), target.policy ?? noRemotePolicy, fields);
  const hardTimeoutMs = args.final ? runner.hardTimeoutMs + HASH_BUDGET_MS : runner.hardTimeoutMs;
  const run = await runProgram(runner, target, script, { signal: ctx.signal, hardTimeoutMs });
  if ("failure" in run) return run.failure;
  const f = run.reader;
  if (f.text() === "err") {
    const e = readErr(f);
    const refused = policyRefusal(target, e.code, e.path);
    if (refused) return refused;
    const refusal = WRITE_REFUSALS[e.code];
    if (refusal) return fail(refusal(e.path));
    if (e.code === "DECODE") return fail(`the chunk did not arrive intact on ${target.name} (${e.rest} of ${data.length} bytes); nothing was written. Send it again at offset ${args.offset}`);
    if (e.code === "NOUPLOAD") {
      return fail(`no pending upload ${id} for ${e.path} on ${target.name} (it finished, was cancelled or discarded, or expired after an hour idle); start again at offset 0 without upload_id`);
    }
    if (e.code === "GAP") return fail(`upload ${id} holds ${e.rest} bytes, so offset ${args.offset} would leave a gap; send the chunk that starts at offset ${e.rest}`);
    if (e.code === "NOSHA") return fail(NO_SHA(target, e.path));
    if (e.code === "MISMATCH") {
      const got = f.left > 0 ? f.text() : "?";
      return fail(
        `sha256 mismatch for ${e.path}: the ${got} bytes received hash to ${e.rest}, not ${args.final?.sha256.toLowerCase()}; the upload was discarded and ${e.path} is unchanged. ` +
          "Send the file again from offset 0 without upload_id",
      );
    }
    return fail(`cannot write: ${remoteErrnoMessage(target, e.code, e.path, e.rest)}`);
  }
  const path = f.text();
  f.text(); // the id, as sent
  const received = f.number();
  const state = f.text();
  const base = { path, upload_id: id, received, bytes_written: data.length };
  if (state === "cancelled") return ok({ ...base, received: 0, done: false, cancelled: true }, `upload ${id} for ${path} discarded; ${path} is unchanged`);
  if (state === "pending") {
    return ok({ ...base, done: false }, `upload ${id} for ${path}: ${received} bytes received; send the next chunk at offset=${received}, or final with the sha256 when all is sent`);
  }
  const written = f.text();
  const sha256 = f.text();
  const mode = octal(f.number());
  const created = f.flag();
  const via = written !== path ? ` (through the symlink, to ${written})` : "";
  return ok(
    { ...base, done: true, sha256, created, mode },
    `${created ? "created" : "replaced"} ${path}${via}: ${received} bytes, sha256 ${sha256} verified, mode ${mode}`,
  );
}
