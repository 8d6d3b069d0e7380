// transfer_write: uploads a file of any size in chunks to a temp file beside
// the target, resumable at any byte already received, and on the final call
// checks the sha256 of the whole, fsyncs and renames it into place (the
// target's mode and owner kept, or the mode given). Same policy as write_file.
import { closeSync, constants as C, fchmodSync, fstatSync, fsync, ftruncateSync, openSync, write, type Stats } from "node:fs";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { randomBytes } from "../crypto.ts";
import { Refused, closeWriteTarget, entryPath, resolveWrite, type WriteTarget } from "../policy/open.ts";
import { type FilePolicy, inodeKey, permissivePolicy } from "../policy/rules.ts";
import { keepOwner, pendingWritesDir, syncDir, tempName } from "./atomic_write.ts";
import { pathFailure, resolveUserPath } from "./paths.ts";
import { type ToolContext, type ToolOutcome, defineTool, deny, fail, ok } from "./tool.ts";
import { CHUNK_MAX, UPLOAD_ID, hashFd, modeField, octal, sha256Field } from "./transfer_common.ts";
import { type Upload, addUpload, dropUpload, findUpload, forgetUpload, uploadCapProblem } from "./transfer_uploads.ts";
import { decodeBase64 } from "./write_file.ts";

const input = z.object({
  path: z.string().min(1).describe("The file to create or replace: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home. A symlink is written through to its target."),
  upload_id: z
    .string()
    .regex(UPLOAD_ID, "upload_id is the 12 lowercase hex digits a previous reply gave (or that you chose for the first call)")
    .optional()
    .describe("Which upload to continue, as the first reply gave it. Omit on the first call (a new id comes back), or choose 12 random lowercase hex digits yourself so you can cancel even if the first reply is lost."),
  offset: z
    .int()
    .min(0)
    .default(0)
    .describe("Where data_base64 goes in the file: 0 for the first chunk, then the `received` of the last reply. Any offset up to `received` is accepted; the upload is cut there first, so a chunk whose reply was lost can be sent again."),
  data_base64: z.string().max(2 * CHUNK_MAX).default("").describe(`This chunk's bytes, base64 (at most ${CHUNK_MAX} bytes = 4 MiB decoded). Empty to only ask how much has arrived, or with final.`),
  final: z
    .object({
      sha256: sha256Field.describe("SHA-256 (hex) of the whole file as it should be."),
      mode: modeField.optional().describe('Permission bits in octal, like "0644". Default: an existing file keeps its mode; a new file gets 0644.'),
    })
    .optional()
    .describe("On the last call (with or after the last chunk): verify the sha256 of everything received, then fsync and rename it over the target. On a mismatch the upload is discarded and the target is left as it was."),
  cancel: z.boolean().optional().describe("true (with upload_id): discard the upload and its temp file; the target is untouched."),
  create_dirs: z.boolean().default(true).describe("Create missing parent directories (default true)."),
});

const output = z.object({
  path: z.string().describe("The target, as an absolute path."),
  upload_id: z.string().describe("Pass this on every later call of the same upload."),
  received: z.number().describe("Bytes the upload holds now: the offset for the next chunk (and where to resume after a lost reply)."),
  bytes_written: z.number().describe("Bytes of this call's chunk."),
  done: z.boolean().describe("True once the final call verified the sha256 and the file is in place."),
  cancelled: z.boolean().optional().describe("True when the upload was discarded (cancel: true)."),
  sha256: z.string().optional().describe("On done: the verified SHA-256 of the file."),
  created: z.boolean().optional().describe("On done: true when the target did not exist before."),
  mode: z.string().optional().describe('On done: the permission bits the file got, in octal, like "0644".'),
});

type Out = z.output<typeof output>;
type Args = z.output<typeof input>;

const noUpload = (id: string, path: string) =>
  `no pending upload ${id} for ${path} (it finished, was cancelled or discarded, expired after an hour idle, or the server restarted); start again at offset 0 without upload_id`;

/** Writes all of `data` at `pos`. */
async function writeAll(fd: number, data: Uint8Array, pos: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const n = await new Promise<number>((resolve, reject) =>
      write(fd, data, done, data.length - done, pos + done, (err, written) => (err ? reject(err) : resolve(written))),
    );
    done += n;
  }
}

const fsyncFd = (fd: number) => new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Opens an existing temp for writing, never through a link; undefined when there is none. */
function openTemp(at: string): number | undefined {
  try {
    return openSync(at, C.O_RDWR | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (err) {
    if (errCode(err) === "ENOENT" || errCode(err) === "ELOOP") return undefined;
    throw err;
  }
}

/** A temp found on disk (started over SSH, say) may be continued only if it is plainly ours: a regular file, one link, our uid, no secret. */
function adoptProblem(st: Stats, policy: FilePolicy, at: string): ToolOutcome<never> | undefined {
  if (!st.isFile() || st.nlink !== 1 || st.uid !== process.getuid?.()) {
    return fail(`${at} is not an upload temp file lmcp can continue (not a plain file of ours); start again at offset 0 without upload_id`);
  }
  if (policy.secretInodes.includes(inodeKey(st))) return deny(`${at} is a link to one of lmcp's secrets; the file tools never write it`);
  return undefined;
}

interface Opened {
  up: Upload;
  fd: number;
  size: number;
}

/** Finds (or starts, or adopts) the upload `id` for target `t`, opened; or the answer to give instead. */
function openUpload(path: string, t: WriteTarget, id: string, args: Args, ctx: ToolContext, policy: FilePolicy): Opened | ToolOutcome<Out> {
  let up = findUpload(id);
  if (up && (up.dirReal !== t.dirReal || up.name !== t.name)) {
    return fail(`upload ${id} is for ${join(up.dirReal, up.name)}, not ${path}; pass the path it was started with`);
  }
  if (up?.busy) {
    if (args.cancel) {
      up.cancelled = true;
      return ok({ path, upload_id: id, received: 0, bytes_written: 0, done: false, cancelled: true }, `upload ${id} will be discarded as soon as the call now writing to it ends`);
    }
    return fail(`another call is writing to upload ${id} right now; wait for its reply, then continue at the received length it reports`);
  }
  const tmpName = tempName(t.name, id);
  const at = entryPath(t, tmpName);
  const shown = join(t.dirReal, tmpName);
  const fd = openTemp(at);
  if (fd === undefined) {
    if (up) forgetUpload(up);
    if (args.cancel) return ok({ path, upload_id: id, received: 0, bytes_written: 0, done: false, cancelled: true }, `upload ${id} for ${path}: nothing to discard`);
    if (args.offset !== 0) return fail(noUpload(id, path));
    const cap = uploadCapProblem();
    if (cap) return fail(cap);
    // Noted in the journal first, so a crash between here and the end leaves nothing a restart does not remove.
    const fresh = addUpload({ id, dirReal: t.dirReal, name: t.name, tmpName, dev: 0, ino: 0, hasher: new Bun.CryptoHasher("sha256"), hashed: 0 }, pendingWritesDir(ctx.stateDir));
    let created: number;
    try {
      created = openSync(at, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_NOCTTY, 0o600);
    } catch (err) {
      forgetUpload(fresh);
      throw err;
    }
    const st = fstatSync(created);
    fresh.dev = st.dev;
    fresh.ino = st.ino;
    return { up: fresh, fd: created, size: 0 };
  }
  let keep = false;
  try {
    const st = fstatSync(fd);
    if (up && (st.dev !== up.dev || st.ino !== up.ino)) {
      forgetUpload(up);
      return fail(`the temp file of upload ${id} (${shown}) was replaced by another file, so it was left alone; start again at offset 0 without upload_id`);
    }
    if (!up) {
      const problem = adoptProblem(st, policy, shown);
      if (problem) return problem;
      const cap = uploadCapProblem();
      if (cap) return fail(cap);
      // Bytes that arrived elsewhere (over SSH) were not hashed here: the final call reads the file to check it.
      up = addUpload({ id, dirReal: t.dirReal, name: t.name, tmpName, dev: st.dev, ino: st.ino, hasher: undefined, hashed: 0 }, pendingWritesDir(ctx.stateDir));
    }
    keep = true;
    return { up, fd, size: st.size };
  } finally {
    if (!keep) closeSync(fd);
  }
}

/** Writes the chunk, and on final verifies and renames; the upload is open and marked busy. */
async function advance(path: string, t: WriteTarget, o: Opened, bytes: Uint8Array, args: Args, ctx: ToolContext): Promise<ToolOutcome<Out>> {
  const { up, fd } = o;
  const base = { path, upload_id: up.id, bytes_written: bytes.length };
  if (args.cancel) {
    dropUpload(up);
    return ok({ ...base, received: 0, done: false, cancelled: true }, `upload ${up.id} for ${path} discarded; ${path} is unchanged`);
  }
  let received = o.size;
  if (args.offset > received) {
    return fail(`upload ${up.id} holds ${received} bytes, so offset ${args.offset} would leave a gap; send the chunk that starts at offset ${received}`);
  }
  if (bytes.length > 0) {
    // The running hash holds only while chunks arrive in order; a failed write leaves it unknown.
    const hasher = args.offset === 0 ? new Bun.CryptoHasher("sha256") : up.hashed === args.offset ? up.hasher : undefined;
    up.hasher = undefined;
    if (args.offset < received) ftruncateSync(fd, args.offset);
    await writeAll(fd, bytes, args.offset);
    received = args.offset + bytes.length;
    if (hasher) {
      hasher.update(bytes);
      up.hasher = hasher;
      up.hashed = received;
    }
  }
  up.lastUsed = Date.now();
  if (!args.final) {
    return ok({ ...base, received, done: false }, `upload ${up.id} for ${path}: ${received} bytes received; send the next chunk at offset=${received}, or final with the sha256 when all is sent`);
  }
  const sha = up.hasher && up.hashed === received ? up.hasher.digest("hex") : await hashFd(fd, ctx.signal, received);
  up.hasher = undefined;
  const want = args.final.sha256.toLowerCase();
  if (sha !== want) {
    dropUpload(up);
    return fail(
      `sha256 mismatch for ${path}: the ${received} bytes received hash to ${sha}, not ${want}; the upload was discarded and ${path} is unchanged. ` +
        "Send the file again from offset 0 without upload_id",
    );
  }
  if (up.cancelled) {
    dropUpload(up);
    return fail(`upload ${up.id} was cancelled; ${path} is unchanged`);
  }
  const old = t.existing;
  const mode = args.final.mode !== undefined ? Number.parseInt(args.final.mode, 8) : old ? old.mode & 0o7777 : 0o644;
  if (old) keepOwner(fd, old);
  fchmodSync(fd, mode); // after chown, which clears setuid/setgid bits
  await fsyncFd(fd);
  await rename(entryPath(t, up.tmpName), entryPath(t, t.name));
  forgetUpload(up);
  await syncDir(entryPath(t, ""));
  return ok(
    { ...base, received, done: true, sha256: sha, created: !old, mode: octal(mode) },
    `${old ? "replaced" : "created"} ${path}${t.real !== path ? ` (through the symlink, to ${t.real})` : ""}: ${received} bytes, sha256 ${sha} verified, mode ${octal(mode)}`,
  );
}

export const transferWrite = defineTool({
  name: "transfer_write",
  title: "Write a file in chunks",
  description:
    "Uploads a file of any size, text or binary, in chunks of up to 4 MiB (base64), to a temp file beside the target; the target changes only at the end, atomically. " +
    "First call: offset 0 and the first chunk (no upload_id); the reply gives upload_id and received. Then send each next chunk with that upload_id at offset = received. " +
    "Last call: final {sha256 of the whole file, mode?}; the upload is verified, fsynced and renamed over the target, which keeps its mode and owner unless mode is given. " +
    "After a cut, call with upload_id and no data to learn `received`, and go on from there. A mismatch discards the upload and leaves the target as it was; cancel: true discards it too. " +
    "Pending uploads are removed after an hour idle. For small text files write_file is simpler.",
  input,
  output,
  annotations: { title: "Write a file in chunks", readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    const bytes = decodeBase64(args.data_base64);
    if (!bytes) return fail("data_base64 is not valid base64; send the chunk's bytes base64-encoded (A–Z, a–z, 0–9, +, /, = padding)");
    if (bytes.length > CHUNK_MAX) return fail(`this chunk is ${bytes.length} bytes; send at most ${CHUNK_MAX} (4 MiB) per call`);
    if (args.cancel && args.upload_id === undefined) return fail("cancel needs the upload_id of the upload to discard");
    if (args.cancel && (bytes.length > 0 || args.final)) return fail("cancel discards an upload: send it alone, without data_base64 or final");
    const policy = ctx.policy ?? permissivePolicy;
    let t: WriteTarget;
    try {
      t = resolveWrite(policy, path, args.create_dirs);
    } catch (err) {
      if (err instanceof Refused && "missingParent" in err) return fail(`${err.message}; pass create_dirs: true to create it`);
      return pathFailure("cannot write", err);
    }
    let opened: Opened | undefined;
    try {
      const old = t.existing;
      if (old?.isDirectory()) return fail(`${path} is a directory; give the path of a file (list_dir shows what is inside it)`);
      if (old && !old.isFile()) return fail(`${path} is not a regular file (a device, FIFO or socket); lmcp only replaces regular files, use shell for this one`);
      const id = args.upload_id ?? randomBytes(6).toString("hex");
      const r = openUpload(path, t, id, args, ctx, policy);
      if (!("up" in r)) return r;
      opened = r;
      r.up.busy = true;
      return await advance(path, t, r, bytes, args, ctx);
    } catch (err) {
      if (ctx.signal.aborted) return fail("cancelled");
      return pathFailure("cannot write", err);
    } finally {
      if (opened) {
        closeSync(opened.fd);
        opened.up.busy = false;
        opened.up.lastUsed = Date.now();
        if (opened.up.cancelled) dropUpload(opened.up);
      }
      closeWriteTarget(t);
    }
  },
});
