// Replaces a file's content so that a crash at any moment leaves either the
// old or the new bytes: write a temp file beside it, fsync, rename over.
import { randomBytes } from "node:crypto";
import { lstatSync, readlinkSync, statSync, type Stats } from "node:fs";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

export interface AtomicWriteOptions {
  /** Permission bits for the file; default: the existing file's, else 0o644. */
  mode?: number;
  /** Create missing parent directories (else a missing parent is an error). */
  createDirs: boolean;
  /** Test seam: runs once the temp file is complete, just before the rename. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

export interface AtomicWriteResult {
  /** The file actually replaced: `path`, or the file a symlink at `path` points to. */
  path: string;
  bytes: number;
  created: boolean;
}

/** A refusal whose message already tells the agent what to do instead. */
export class WriteRefused extends Error {
  override name = "WriteRefused";
}

const MAX_LINK_HOPS = 40;

/** Follows symlinks in the last component, so writing through a link replaces its target and the link stays a link. */
function resolveWriteTarget(path: string): { target: string; stats?: Stats } {
  let p = path;
  for (let hops = 0; hops < MAX_LINK_HOPS; hops++) {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { target: p };
      throw err;
    }
    if (!st.isSymbolicLink()) return { target: p, stats: st };
    p = resolve(dirname(p), readlinkSync(p));
  }
  throw Object.assign(new Error(`${path}: too many levels of symbolic links`), { code: "ELOOP", path });
}

async function ensureParent(dir: string, createDirs: boolean): Promise<void> {
  let st: Stats | undefined;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (st?.isDirectory()) return;
  if (st) throw new WriteRefused(`${dir} is not a directory, so no file can be created inside it`);
  if (!createDirs) throw new WriteRefused(`parent directory ${dir} does not exist; pass create_dirs: true to create it`);
  await mkdir(dir, { recursive: true });
}

function tempName(target: string): string {
  let base = basename(target);
  // Keep the temp name under NAME_MAX (255 bytes) even for very long names.
  if (Buffer.byteLength(base) > 180) base = base.slice(0, 40);
  return join(dirname(target), `.${base}.lmcp-tmp-${randomBytes(6).toString("hex")}`);
}

/** Keeps the old owner when we can (root, or a group we belong to); silently keeps ours when we cannot. */
async function keepOwner(fh: FileHandle, old: Stats): Promise<void> {
  if (old.uid === process.getuid?.() && old.gid === process.getgid?.()) return;
  try {
    await fh.chown(old.uid, old.gid);
  } catch {
    try {
      await fh.chown(-1, old.gid);
    } catch {
      // Not permitted: the file ends up owned by us, which is all we can do.
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Writes `data` to `path` atomically. Throws on failure (WriteRefused, or the filesystem's error) and leaves no temp file behind. */
export async function atomicWrite(path: string, data: Uint8Array, opts: AtomicWriteOptions): Promise<AtomicWriteResult> {
  const { target, stats: old } = resolveWriteTarget(path);
  if (old?.isDirectory()) throw new WriteRefused(`${path} is a directory; give the path of a file (list_dir shows what is inside it)`);
  if (old && !old.isFile()) {
    throw new WriteRefused(`${path} is not a regular file (a device, FIFO or socket); lmcp only replaces regular files, use shell for this one`);
  }
  const dir = dirname(target);
  if (!old) await ensureParent(dir, opts.createDirs);
  const mode = opts.mode ?? (old ? old.mode & 0o7777 : 0o644);

  const tmp = tempName(target);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, "wx", 0o600);
    await fh.writeFile(data);
    if (old) await keepOwner(fh, old);
    await fh.chmod(mode); // after chown, which clears setuid/setgid bits
    await fh.sync();
    await fh.close();
    fh = undefined;
    await opts.beforeRename?.(tmp);
    await rename(tmp, target);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
  return { path: target, bytes: data.byteLength, created: !old };
}
