// Opens what the file tools touch so that the policy check and the I/O are on
// the same file: a path is resolved once, the check runs on what was actually
// opened (its real path as the kernel reports it for the fd, and its inode),
// and writes create and rename entries relative to an open directory fd
// (/proc/self/fd/N/NAME), so a link swapped in mid-call cannot redirect them.
// On macOS, which has no /proc, the same guarantee comes from resolving the
// real path first and opening it with O_NOFOLLOW_ANY (no link anywhere).
import { closeSync, constants as C, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type Access, type FilePolicy, inodeKey, refusal } from "./rules.ts";

const linux = process.platform === "linux";
/** Linux O_PATH: a handle to a file or directory that opens nothing (no device, FIFO or tty side effect). */
const O_PATH = 0o10000000;
/** macOS O_NOFOLLOW_ANY (11+): fail if any component of the path is a symlink. */
const O_NOFOLLOW_ANY = 0x20000000;
const MAX_LINK_HOPS = 40;

/** A refusal whose message already tells the agent what to do; `denied` when it is the policy (audited as denied). */
export class Refused extends Error {
  override name = "Refused";
  constructor(
    message: string,
    readonly denied: boolean,
  ) {
    super(message);
  }
}

const procDev = linux ? statSync("/proc").dev : -1;

/** The real path of the file open as `fd` (Linux: what the kernel says; macOS: `real`, already checked link-free). */
function realOfFd(fd: number, real: string | undefined): string {
  return linux ? readlinkSync(`/proc/self/fd/${fd}`) : real!;
}

function identityChanged(a: Stats, b: Stats): boolean {
  return a.ino !== b.ino || a.dev !== b.dev;
}

const swapped = (path: string) =>
  new Refused(`${path} changed while it was being opened (a file or link was swapped mid-call), so nothing was done; try again`, true);

export interface Opened {
  fd: number;
  st: Stats;
  /** The real path, when it was needed for the decision (always for directories and with allowed_paths). */
  real: string | undefined;
}

/**
 * Opens an existing file or directory for reading (or, with `access: "write"`, for a read before a
 * rewrite) after the policy allows it. `kindProblem` sees the file's stat before anything is opened
 * and may refuse it (a FIFO or device is never opened). The caller closes `fd`. Throws Refused or
 * the filesystem's error.
 */
export function openChecked(policy: FilePolicy, path: string, kind: "file" | "dir", kindProblem: (st: Stats) => string | undefined, access: Access = "read"): Opened {
  let real: string | undefined;
  let target = path;
  if (!linux) {
    real = realpathSync(path);
    target = real;
  }
  const before = statSync(target);
  const problem = kindProblem(before);
  if (problem) throw new Refused(problem, false);
  let flags = kind === "dir" ? C.O_RDONLY | C.O_DIRECTORY : C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY;
  if (!linux) flags |= O_NOFOLLOW_ANY;
  const fd = openSync(target, flags);
  try {
    const st = fstatSync(fd);
    if (identityChanged(before, st)) throw swapped(path);
    if (policy.secretInodes.includes(inodeKey(st))) throw new Refused(refusal(policy, realOfFd(fd, real), access, st) ?? `${path} is one of lmcp's secrets`, true);
    // The real path costs a readlink; a plain world-readable file needs it only to check allowed_paths.
    const needPath = kind === "dir" || access === "write" || policy.allowedRoots !== null || (st.mode & 0o077) === 0 || st.dev === procDev;
    if (needPath) {
      real = realOfFd(fd, real);
      const why = refusal(policy, real, access, st);
      if (why) throw new Refused(why, true);
    }
    return { fd, st, real };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Where a file will be written: an open directory and a name in it, after the policy allowed the real path. */
export interface WriteTarget {
  /** The directory, open (O_PATH on Linux); release with closeWriteTarget. */
  dirFd: number;
  dirReal: string;
  name: string;
  /** dirReal/name: the file that will be replaced or created. */
  real: string;
  /** The entry as it is now (never a symlink: links are followed to their target first). */
  existing: Stats | undefined;
}

/** A path naming `name` inside the open directory, for syscalls that take paths. */
export function entryPath(t: Pick<WriteTarget, "dirFd" | "dirReal">, name: string): string {
  return linux ? `/proc/self/fd/${t.dirFd}/${name}` : join(t.dirReal, name);
}

/** A path that names the directory open as `fd` (Linux: through the fd itself; macOS: its checked real path). */
export function dirEntryBase(fd: number, real: string): string {
  return linux ? `/proc/self/fd/${fd}` : real;
}

export function closeWriteTarget(t: WriteTarget): void {
  try {
    closeSync(t.dirFd);
  } catch {
    // already closed
  }
}

function openDirFd(path: string, noFollow: boolean): { fd: number; real: string } {
  if (!linux) {
    const real = realpathSync(path);
    return { fd: openSync(real, C.O_RDONLY | C.O_DIRECTORY | O_NOFOLLOW_ANY), real };
  }
  const fd = openSync(path, O_PATH | C.O_DIRECTORY | (noFollow ? C.O_NOFOLLOW : 0));
  return { fd, real: realOfFd(fd, undefined) };
}

const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Opens `dir`, creating what is missing one component at a time from the nearest existing ancestor, each checked before it is made. */
function openOrCreateDir(policy: FilePolicy, dir: string, createDirs: boolean): { fd: number; real: string } {
  try {
    return openDirFd(dir, false);
  } catch (err) {
    if (errCode(err) === "ENOTDIR") throw new Refused(`${dir} is not a directory, so no file can be created inside it`, false);
    if (errCode(err) !== "ENOENT") throw err;
  }
  if (!createDirs) throw Object.assign(new Refused(`parent directory ${dir} does not exist`, false), { missingParent: dir });
  const missing: string[] = [];
  let head = dir;
  for (let i = 0; i < 4096; i++) {
    missing.unshift(basename(head));
    head = dirname(head);
    try {
      if (statSync(head).isDirectory()) break;
      throw new Refused(`${head} is not a directory, so ${dir} cannot be created`, false);
    } catch (err) {
      if (err instanceof Refused || errCode(err) !== "ENOENT") throw err;
    }
  }
  let cur = openDirFd(head, false);
  try {
    for (const comp of missing) {
      const next = join(cur.real, comp);
      const why = refusal(policy, next, "write");
      if (why) throw new Refused(why, true);
      const at = entryPath({ dirFd: cur.fd, dirReal: cur.real }, comp);
      try {
        mkdirSync(at, 0o777);
      } catch (err) {
        if (errCode(err) !== "EEXIST") throw err;
      }
      let opened: { fd: number; real: string };
      try {
        opened = linux ? { fd: openSync(at, O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW), real: next } : openDirFd(next, true);
      } catch (err) {
        if (errCode(err) === "ELOOP" || errCode(err) === "ENOTDIR") throw new Refused(`${next} is a link or file, not a directory; create_dirs only makes real directories`, true);
        throw err;
      }
      closeSync(cur.fd);
      cur = opened;
    }
    return cur;
  } catch (err) {
    closeSync(cur.fd);
    throw err;
  }
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Resolves where a write to `path` lands: a symlink at the end is followed to its target (dangling
 * or not), every hop from an open directory, and the policy decides on the final real path and,
 * for an existing file, its inode. Throws Refused or the filesystem's error.
 */
export function resolveWrite(policy: FilePolicy, path: string, createDirs: boolean): WriteTarget {
  let p = path;
  for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
    const dir = openOrCreateDir(policy, dirname(p), createDirs);
    const name = basename(p);
    const t: WriteTarget = { dirFd: dir.fd, dirReal: dir.real, name, real: join(dir.real, name), existing: undefined };
    try {
      const st = lstatOrUndefined(entryPath(t, name));
      if (st?.isSymbolicLink()) {
        p = resolve(dir.real, readlinkSync(entryPath(t, name)));
        closeWriteTarget(t);
        continue;
      }
      t.existing = st;
      const why = refusal(policy, t.real, "write", st);
      if (why) throw new Refused(why, true);
      return t;
    } catch (err) {
      closeWriteTarget(t);
      throw err;
    }
  }
  throw new Refused(`${path}: too many levels of symbolic links`, false);
}

/** Opens the file a WriteTarget names for appending (shell_bg's log), created 0600 when missing; never through a link. */
export function openAppend(t: WriteTarget): number {
  return openSync(entryPath(t, t.name), C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_NOFOLLOW | C.O_NOCTTY, 0o600);
}
