// How a path from an agent becomes a filesystem path: `~` and relative paths
// mean the home directory of the user lmcp runs as, whatever its cwd is.
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { Refused } from "../policy/open.ts";
import { deny, describeError, fail, type ToolOutcome } from "./tool.ts";

/** `~` and `~/x` expand to home; relative paths resolve against home; the result is normalized and absolute. */
export function resolveUserPath(p: string): string {
  const home = homedir();
  if (p === "~") return home;
  if (p.startsWith("~/")) return join(home, p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(home, p);
}

/** describeError plus what to do next, for the errors an agent most often causes with a path. */
export function describePathError(err: unknown): string {
  const msg = describeError(err);
  const code = err && typeof err === "object" && "code" in err ? (err as NodeJS.ErrnoException).code : undefined;
  if (code === "ENOENT") return `${msg}; check the path (list_dir shows a directory, search_files finds files by name)`;
  if (code === "ENOTDIR") return `${msg}; check the path (list_dir shows a directory)`;
  return msg;
}

/** The failure for an error from opening or writing a path: a policy refusal as is (denied), else `what: why`. */
export function pathFailure(what: string, err: unknown): ToolOutcome<never> {
  if (err instanceof Refused) return err.denied ? deny(err.message) : fail(err.message);
  return fail(`${what}: ${describePathError(err)}`);
}
