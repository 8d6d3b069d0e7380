// Replaces a file's content so that a crash at any moment leaves either the
// old or the new bytes: write a temp file beside it, fsync, rename over. A
// journal of pending temp files lets the next start remove what a kill -9 left.
import { randomBytes } from "../crypto.ts";
import { type Stats, fchownSync, lstatSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { Refused, closeWriteTarget, entryPath, resolveWrite } from "../policy/open.ts";
import { type FilePolicy, permissivePolicy } from "../policy/rules.ts";

export interface AtomicWriteOptions {
  /** Permission bits for the file; default: the existing file's, else 0o644. */
  mode?: number;
  /** Create missing parent directories (else a missing parent is an error). */
  createDirs: boolean;
  /**
   * Where to record the temp file while it exists (see `cleanStaleTemps`);
   * without it a crash mid-write can leave a temp file behind.
   */
  journalDir?: string;
  /** What may be written (secrets, allowed_paths, protected files); default: anything the user may. */
  policy?: FilePolicy;
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
export class WriteRefused extends Refused {
  override name = "WriteRefused";
  constructor(message: string) {
    super(message, false);
  }
}

/** The temp file beside a target named `name` (writes and resumable uploads alike, so cleanStaleTemps finds both). */
export function tempName(name: string, id: string): string {
  let base = name;
  // Keep the temp name under NAME_MAX (255 bytes) even for very long names.
  if (Buffer.byteLength(base) > 180) base = base.slice(0, 40);
  return `.${base}.lmcp-tmp-${id}`;
}

/** The only names `cleanStaleTemps` will ever delete: what `tempName` makes. */
const TEMP_NAME = /^\..*\.lmcp-tmp-[0-9a-f]{12}$/s;
/** Journal records: `PID.ID`, the writer's process id and the temp file's random id. */
const RECORD_NAME = /^(\d+)\.([0-9a-f]{12})$/;

/** The journal directory under a server's state dir. */
export const pendingWritesDir = (stateDir: string) => join(stateDir, "pending-writes");

/**
 * Notes `tmp` in the journal before it is created. Best effort: a journal we
 * cannot write must not stop the write itself, it only loses the clean-up.
 * Not fsynced: a kill -9 keeps the page cache, and after a power cut a leaked
 * dot-file is the worst case, never a torn target.
 */
function recordPending(journalDir: string, id: string, tmp: string): string | undefined {
  const record = join(journalDir, `${process.pid}.${id}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(record, tmp, { flag: "wx", mode: 0o600 });
      return record;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt > 0) return undefined;
      try {
        mkdirSync(journalDir, { recursive: true, mode: 0o700 });
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function forgetPending(record: string | undefined): void {
  if (record === undefined) return;
  try {
    unlinkSync(record);
  } catch {
    // already gone; the next start would find nothing to clean for it anyway
  }
}

/** True when process `pid` exists (so its journal records may be for writes still under way). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return false; // our own pid, before our first write: a previous run's (pid reuse, PID 1 in a container)
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Run at start-up: deletes the temp files that writers killed mid-write left
 * behind, and their journal records. Only a regular file whose name has the
 * lmcp temp pattern is ever deleted; records of a live process (another server
 * sharing the state dir) are left alone. Returns how many temp files it removed.
 */
export function cleanStaleTemps(journalDir: string): number {
  let names: string[];
  try {
    names = readdirSync(journalDir);
  } catch {
    return 0; // no journal yet
  }
  let removed = 0;
  for (const name of names) {
    const m = RECORD_NAME.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    const record = join(journalDir, name);
    try {
      const tmp = readFileSync(record, "utf8");
      if (isAbsolute(tmp) && resolve(tmp) === tmp && TEMP_NAME.test(basename(tmp)) && basename(tmp).endsWith(m[2]!) && lstatSync(tmp).isFile()) {
        unlinkSync(tmp);
        removed++;
      }
    } catch {
      // the temp was renamed into place or removed before the crash: nothing to delete
    }
    forgetPending(record);
  }
  return removed;
}

/** Keeps the old owner on open file `fd` when we can (root, or a group we belong to); silently keeps ours when we cannot. */
export function keepOwner(fd: number, old: Stats): void {
  if (old.uid === process.getuid?.() && old.gid === process.getgid?.()) return;
  try {
    fchownSync(fd, old.uid, old.gid);
  } catch {
    try {
      fchownSync(fd, -1, old.gid);
    } catch {
      // Not permitted: the file ends up owned by us, which is all we can do.
    }
  }
}

export async function syncDir(dir: string): Promise<void> {
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

/**
 * Writes `data` to `path` atomically. Throws on failure (Refused, or the filesystem's error) and
 * leaves no temp file behind. The temp file is created and renamed inside the directory the
 * policy approved, through its open fd, so a link swapped in mid-call cannot redirect the write.
 */
export async function atomicWrite(path: string, data: Uint8Array, opts: AtomicWriteOptions): Promise<AtomicWriteResult> {
  let t;
  try {
    t = resolveWrite(opts.policy ?? permissivePolicy, path, opts.createDirs);
  } catch (err) {
    if (err instanceof Refused && "missingParent" in err) throw new WriteRefused(`${err.message}; pass create_dirs: true to create it`);
    throw err;
  }
  try {
    const old = t.existing;
    if (old?.isDirectory()) throw new WriteRefused(`${path} is a directory; give the path of a file (list_dir shows what is inside it)`);
    if (old && !old.isFile()) {
      throw new WriteRefused(`${path} is not a regular file (a device, FIFO or socket); lmcp only replaces regular files, use shell for this one`);
    }
    const mode = opts.mode ?? (old ? old.mode & 0o7777 : 0o644);
    const id = randomBytes(6).toString("hex");
    const tmp = tempName(t.name, id);
    const tmpAt = entryPath(t, tmp);
    const record = opts.journalDir === undefined ? undefined : recordPending(opts.journalDir, id, join(t.dirReal, tmp));
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmpAt, "wx", 0o600);
      await fh.writeFile(data);
      if (old) keepOwner(fh.fd, old);
      await fh.chmod(mode); // after chown, which clears setuid/setgid bits
      await fh.sync();
      await fh.close();
      fh = undefined;
      await opts.beforeRename?.(join(t.dirReal, tmp));
      await rename(tmpAt, entryPath(t, t.name));
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await rm(tmpAt, { force: true }).catch(() => undefined);
      forgetPending(record);
      throw err;
    }
    forgetPending(record);
    await syncDir(entryPath(t, ""));
    return { path: t.real, bytes: data.byteLength, created: !old };
  } finally {
    closeWriteTarget(t);
  }
}
