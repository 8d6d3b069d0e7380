// Path policy for the file tools, enforced by the server before a tool runs:
// `allowed_paths` (checked on the resolved real path, so `..`, symlinks and
// prefix tricks cannot escape) and protected files that are never written.
// The shell is not confined by this: a shell can do anything its user can.
import { realpathSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import { resolveUserPath } from "./paths.ts";

export type Access = "read" | "write";

/** Which argument of which tool names a path, and how the tool uses it. */
export const pathArguments: Record<string, Record<string, Access>> = {
  read_file: { path: "read" },
  list_dir: { path: "read" },
  search_files: { path: "read" },
  write_file: { path: "write" },
  edit_file: { path: "write" },
  shell_bg: { log_path: "write" },
};

export interface PathPolicy {
  /** Real paths of the roots file tools may touch; null = anywhere the user can. */
  allowedRoots: string[] | null;
  /** Real paths of files never written (lmcp's config and token files). */
  protectedFiles: Set<string>;
}

/** File names never written by a file tool, wherever they are. */
const protectedNames = /^authorized_keys2?$/;

/** The real path of `p`; for a path that does not exist yet, its nearest existing ancestor's real path plus the rest. */
export function realTarget(p: string): string {
  let head = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...rest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
      const parent = dirname(head);
      if (parent === head) return join(head, ...rest);
      rest.unshift(basename(head));
      head = parent;
    }
  }
}

const within = (path: string, root: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

export function makePolicy(allowedPaths: string[] | undefined, protectedFiles: string[]): PathPolicy {
  const real = (p: string) => {
    try {
      return realTarget(resolveUserPath(p));
    } catch {
      return resolveUserPath(p);
    }
  };
  return {
    allowedRoots: allowedPaths === undefined ? null : allowedPaths.map(real),
    protectedFiles: new Set(protectedFiles.map(real)),
  };
}

/** Undefined when the tool may use this path; else a message saying why not and what is allowed. */
export function checkPath(policy: PathPolicy, rawPath: string, access: Access): string | undefined {
  // Without allowed_paths only writes can be refused: keep reads (the hot path) free of a realpath call.
  if (access === "read" && !policy.allowedRoots) return undefined;
  let real: string;
  try {
    real = realTarget(resolveUserPath(rawPath));
  } catch (err) {
    return `cannot resolve ${rawPath}: ${(err as Error).message}`;
  }
  if (policy.allowedRoots && !policy.allowedRoots.some((root) => within(real, root))) {
    const shown = real === resolveUserPath(rawPath) ? real : `${rawPath} (really ${real})`;
    return `${shown} is outside this server's allowed_paths (${policy.allowedRoots.join(", ")}); file tools only work there`;
  }
  if (access === "write" && (policy.protectedFiles.has(real) || protectedNames.test(basename(real)))) {
    return `${real} is protected: lmcp's file tools never write its own config and token files or authorized_keys; change it by hand`;
  }
  return undefined;
}

/** Checks every path argument a tool takes; the first refusal wins. */
export function checkToolPaths(policy: PathPolicy, tool: string, args: Record<string, unknown>): string | undefined {
  const spec = pathArguments[tool];
  if (!spec) return undefined;
  for (const [arg, access] of Object.entries(spec)) {
    const value = args[arg];
    if (typeof value === "string" && value !== "") {
      const problem = checkPath(policy, value, access);
      if (problem) return problem;
    }
  }
  return undefined;
}
