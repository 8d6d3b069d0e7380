// Replaces a config file's text the safe way for `lmcp hub add` and `lmcp join`:
// a temp file beside it with the same mode and owner, fsync, a check that no one
// else changed the file meanwhile, rename, then fsync of the directory.
import { closeSync, fchmodSync, fchownSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "../crypto.ts";
import { ConfigError } from "./file.ts";

/**
 * A file's text and status before rewriteFile replaces it; "" and undefined when it does not exist yet.
 * `who` starts error messages; `fix` says what to do when it cannot be read.
 */
export function readForRewrite(file: string, who: string, fix: string): { text: string; stat: Stats | undefined } {
  try {
    return { text: readFileSync(file, "utf8"), stat: statSync(file) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { text: "", stat: undefined };
    if (code === "EACCES") throw new ConfigError(`${who}: cannot read ${file} (permission denied); ${fix}`);
    throw new ConfigError(`${who}: cannot read ${file}: ${(err as Error).message}; ${fix}`);
  }
}

/**
 * Replaces (or creates, when `stat` is undefined) `file` with `text`, provided it still holds `before`.
 * `who` starts error messages ("hub add"); `fix` says what to do when the file cannot be written.
 */
export function rewriteFile(file: string, text: string, stat: Stats | undefined, before: string, who: string, fix: string): void {
  const target = stat ? realpathSync(file) : file;
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.lmcp-${randomBytes(6).toString("hex")}`);
  let fd: number | undefined;
  try {
    if (!stat) mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openSync(tmp, "wx", 0o600);
    writeSync(fd, text);
    fchmodSync(fd, stat ? stat.mode & 0o7777 : 0o600);
    // A root-run command must not hand the service user's file (root:lmcp 0640, say) to root.
    if (stat && (stat.uid !== process.getuid?.() || stat.gid !== process.getgid?.())) fchownSync(fd, stat.uid, stat.gid);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    // Another writer in between would lose its edit to our rename: refuse rather than guess.
    if (currentText(file) !== before) throw new ConfigError(`${who}: ${file} changed meanwhile; run the command again`);
    renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`${who}: cannot write ${file}: ${e.message}${e.code === "EACCES" || e.code === "EPERM" ? `; ${fix}` : ""}`);
  }
  try {
    const dfd = openSync(dir, "r");
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // the rename is done; a directory fsync is durability, not correctness
  }
}

function currentText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
