// Version facts, stamped in by build/build.ts with --define; a source run reads package.json.
import pkg from "../package.json" with { type: "json" };

declare const LMCP_VERSION: string | undefined;
declare const LMCP_COMMIT: string | undefined;

export const version: string = typeof LMCP_VERSION === "string" ? LMCP_VERSION : pkg.version;
export const commit: string = typeof LMCP_COMMIT === "string" ? LMCP_COMMIT : "dev";
export const platform = `${process.platform}-${process.arch}`;

/** The line `lmcp --version` prints: `lmcp X.Y.Z (commit, os-arch)`. */
export const versionLine = `lmcp ${version} (${commit}, ${platform})`;

/**
 * How the user runs lmcp, for messages that tell them a command: `lmcp` for the installed binary, `npx lmcp`
 * from a clone (where nothing puts `lmcp` on PATH; npx finds it in node_modules/.bin via package.json's bin).
 */
export const lmcpCommandName = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:\\~BUN") ? "lmcp" : "npx lmcp";
