// What the file tools may touch, decided on real paths and file identities:
// allowed_paths, secrets (never read or written: lmcp's tokens, configs,
// registry and audit log), and files never written (authorized_keys, lmcp's
// state). Pure data plus one decision function, so the tools, the search
// worker and the docs share one rule set. The shell is not confined by this.
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, sep } from "node:path";

export type Access = "read" | "write";

/** Plain data (structured-clonable, for workers): every path here is a real path. */
export interface FilePolicy {
  /** Roots the file tools may use; null = anywhere lmcp's user can. */
  allowedRoots: string[] | null;
  /** Directories whose whole tree is never read or written (/etc/lmcp, ~/.config/lmcp). */
  secretDirs: string[];
  /** Files never read or written, with their rotations (FILE.1 …): tokens, configs, registry, audit log. */
  secretFiles: string[];
  /** `dev:ino` of every secret that exists, so a hard link or a magic link to one is refused too. */
  secretInodes: string[];
  /** Directories whose tree is readable but never written (lmcp's state dir: job records, spool, journal). */
  writeProtectedDirs: string[];
  /** This server's pid, for refusing its own /proc entries (memory, environment). */
  pid: number;
}

/** No limits beyond the user's own permissions: for unit tests that call a handler without a server. */
export const permissivePolicy: FilePolicy = { allowedRoots: null, secretDirs: [], secretFiles: [], secretInodes: [], writeProtectedDirs: [], pid: process.pid };

/** File names never written by a file tool, wherever they are. */
const writeProtectedNames = /^authorized_keys2?$/;

export const inodeKey = (st: Pick<Stats, "dev" | "ino">): string => `${st.dev}:${st.ino}`;

/** Any process's environment and memory: another lmcp (a hub on this host) keeps tokens there. */
const PROC_SECRETS = /^\/proc\/(?:\d+|self|thread-self)(?:\/task\/\d+)?\/(?:environ|mem|pagemap)$/;

const within = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

const isRotationOf = (path: string, file: string) => path === file || (path.startsWith(`${file}.`) && /^\d+$/.test(path.slice(file.length + 1)));

/** `/proc/N/…` of this process (or a thread of it): its memory and environment hold the tokens. */
function ownProcEntry(real: string, pid: number): boolean {
  const m = /^\/proc\/(\d+|self|thread-self)(?:\/|$)/.exec(real);
  if (!m) return false;
  if (m[1] === "self" || m[1] === "thread-self" || Number(m[1]) === pid) return true;
  try {
    // A thread id of ours reaches the same memory through /proc/TID.
    return readFileSync(`/proc/${m[1]}/status`, "utf8").includes(`\nTgid:\t${pid}\n`);
  } catch {
    return false;
  }
}

/**
 * Why `real` may not be used for `access`, or undefined when it may. `st`, when given, is the file's
 * identity as opened (its inode is checked against the secrets' too).
 */
export function refusal(policy: FilePolicy, real: string, access: Access, st?: Pick<Stats, "dev" | "ino">): string | undefined {
  if (policy.allowedRoots && !policy.allowedRoots.some((root) => within(real, root))) {
    return `${real} is outside this server's allowed_paths (${policy.allowedRoots.join(", ")}); file tools only work there`;
  }
  if ((st && policy.secretInodes.includes(inodeKey(st))) || policy.secretFiles.some((f) => isRotationOf(real, f)) || policy.secretDirs.some((d) => within(real, d))) {
    return `${real} is one of lmcp's own secrets (tokens, config, host registry, audit log); the file tools never ${access} it, whatever the token. Change it by hand on the host`;
  }
  if (PROC_SECRETS.test(real)) {
    return `${real} is a process's environment or memory, where tokens live (the hub's backend tokens, for one); the file tools never ${access} these for any process. Use shell if you must`;
  }
  if (ownProcEntry(real, policy.pid)) {
    return `${real} belongs to the lmcp server process itself (its memory and environment hold tokens); the file tools never ${access} it`;
  }
  if (access === "write") {
    if (writeProtectedNames.test(basename(real))) {
      return `${real} is protected: lmcp's file tools never write authorized_keys files (they grant SSH logins); change it by hand`;
    }
    if (policy.writeProtectedDirs.some((d) => within(real, d))) {
      return `${real} is inside lmcp's state directory (job records, spool files, write journal), which the file tools never write; write elsewhere`;
    }
  }
  return undefined;
}

/** The real path of `p`; for a path that does not exist yet, its nearest existing ancestor's real path plus the rest. */
export function realTarget(p: string): string {
  let head = p;
  const rest: string[] = [];
  for (let i = 0; i < 4096; i++) {
    try {
      return join(realpathSync(head), ...rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") return join(head, ...rest);
      const parent = dirname(head);
      if (parent === head) return join(head, ...rest);
      rest.unshift(basename(head));
      head = parent;
    }
  }
  return p;
}

export interface PolicySources {
  allowedPaths: string[] | undefined;
  secretDirs: string[];
  secretFiles: string[];
  writeProtectedDirs: string[];
}

/** At most this many entries are looked at under the secret dirs when their inodes are collected. */
const MAX_SECRET_ENTRIES = 2000;

/** `dev:ino` of every existing secret file and of every file under the secret dirs (bounded). */
function collectSecretInodes(files: string[], dirs: string[]): string[] {
  const keys = new Set<string>();
  let seen = 0;
  const add = (p: string) => {
    try {
      const st = statSync(p);
      if (st.isFile()) keys.add(inodeKey(st));
      return st;
    } catch {
      return undefined;
    }
  };
  for (const f of files) {
    add(f);
    for (let i = 1; i <= 9; i++) if (!add(`${f}.${i}`)) break;
  }
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (++seen > MAX_SECRET_ENTRIES) return;
      const st = add(join(dir, n));
      if (st?.isDirectory() && depth < 4) walk(join(dir, n), depth + 1);
    }
  };
  for (const d of dirs) walk(d, 0);
  return [...keys];
}

/** Builds the policy from configured paths (any spelling: `~`, links), resolving each to its real path. */
export function makeFilePolicy(src: PolicySources): FilePolicy {
  const secretFiles = [...new Set(src.secretFiles.map(realTarget))];
  const secretDirs = [...new Set(src.secretDirs.map(realTarget))];
  return {
    allowedRoots: src.allowedPaths === undefined ? null : src.allowedPaths.map(realTarget),
    secretDirs,
    secretFiles,
    secretInodes: collectSecretInodes(secretFiles, secretDirs),
    writeProtectedDirs: [...new Set(src.writeProtectedDirs.map(realTarget))],
    pid: process.pid,
  };
}

/**
 * Re-reads which secrets exist and where: a token file minted or rotated since start has a new
 * inode, and a registry edited since start (`lmcp hub add`) may name new backend token files.
 */
export function refreshSecrets(policy: FilePolicy, src: PolicySources): void {
  const next = makeFilePolicy(src);
  policy.secretFiles = next.secretFiles;
  policy.secretDirs = next.secretDirs;
  policy.secretInodes = next.secretInodes;
}
