// Release facts every packaging script shares: the version (from package.json,
// never typed again), where releases are downloaded from, who maintains the
// packages, and the binaries in dist/ with their checksums.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { targets } from "../build/build.ts";
import pkg from "../package.json" with { type: "json" };

export const root = resolve(import.meta.dir, "..");
export const defaultDist = join(root, "dist");
export const version: string = pkg.version;

/** The project's home; install/install.sh repeats it (a test keeps the two equal). */
export const repository = "https://github.com/lmcp-dev/lmcp";
/** Where a release's binaries are downloaded from (GitHub release assets). */
export const releaseBase = (v: string = version): string => `${repository}/releases/download/v${v}`;
/** Raw files of the tagged source tree: units and configs for the AUR package. */
export const sourceBase = (v: string = version): string => `${repository.replace("https://github.com/", "https://raw.githubusercontent.com/")}/v${v}`;

export const maintainer = "The lmcp developers <maintainers@lmcp.dev>";
export const summary = "Shell and file access for AI agents on your machines, over MCP";
export const description = [
  "lmcp gives an AI agent (Claude Code, Cursor, VS Code, any MCP client) a",
  "shell and file access on the machines it manages, over the Model Context",
  "Protocol. One self-contained binary runs on every host (lmcp serve); one",
  "host can also run the hub (lmcp hub), which reaches every other host",
  "through one MCP endpoint and falls back to SSH when a host's server is down.",
];

export type TargetName = (typeof targets)[number]["name"];
export const targetNames: TargetName[] = targets.map((t) => t.name);

/** How each distribution names a target's architecture. */
export const archNames: Record<TargetName, { os: "linux" | "darwin"; deb?: string; arch?: string; brew: "arm" | "intel" }> = {
  "linux-x64": { os: "linux", deb: "amd64", arch: "x86_64", brew: "intel" },
  "linux-arm64": { os: "linux", deb: "arm64", arch: "aarch64", brew: "arm" },
  "darwin-x64": { os: "darwin", brew: "intel" },
  "darwin-arm64": { os: "darwin", brew: "arm" },
};

export interface Binary {
  target: TargetName;
  file: string;
  /** Release asset name: lmcp-OS-ARCH. */
  asset: string;
  sha256: string;
  size: number;
}

export const sha256File = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex");

/**
 * The built binaries for `wanted` targets, each checked against dist/SHA256SUMS.
 * Fails with what to run when a binary or its checksum is missing or stale.
 */
export function loadBinaries(dist: string, wanted: readonly TargetName[] = targetNames): Binary[] {
  const sumsFile = join(dist, "SHA256SUMS");
  if (!existsSync(sumsFile)) throw new Error(`${sumsFile} is missing: run \`npm run build\` first`);
  const sums = new Map<string, string>();
  for (const line of readFileSync(sumsFile, "utf8").split("\n")) {
    const m = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line.trim());
    if (m) sums.set(m[2]!, m[1]!);
  }
  return wanted.map((target) => {
    const asset = `lmcp-${target}`;
    const file = join(dist, asset);
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (or \`npm run build -- --target ${target}\`) first`);
    const sha256 = sha256File(file);
    const listed = sums.get(asset);
    if (listed !== sha256) {
      throw new Error(`${file} does not match ${sumsFile} (${listed ? `listed ${listed}` : "not listed"}, file ${sha256}): rebuild with \`npm run build\``);
    }
    return { target, file, asset, sha256, size: statSync(file).size };
  });
}

/** Release time: SOURCE_DATE_EPOCH, else the last commit's time, so repeated runs give the same bytes. */
export function releaseEpoch(): number {
  const env = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(env) && env > 0) return env;
  const r = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: root, stderr: "ignore" });
  const t = Number(r.stdout.toString().trim());
  return Number.isInteger(t) && t > 0 ? t : Math.floor(Date.now() / 1000);
}

/** The command line every packaging script shares: `--dist DIR --out DIR --help`; both dirs default to dist/. */
export function cliDirs(argv: string[], what: string): { dist: string; out: string } {
  const { values } = parseArgs({ args: argv, options: { dist: { type: "string" }, out: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    process.stdout.write(
      `${what}\n\nOptions:\n  --dist DIR  the built binaries and SHA256SUMS (default dist/)\n  --out DIR   where to write (default: the --dist directory)\n  -h, --help  this help\n`,
    );
    process.exit(0);
  }
  const dist = resolve(values.dist ?? defaultDist);
  return { dist, out: resolve(values.out ?? dist) };
}

/** Runs a script's main, printing a failure as one line and exiting 1. */
export async function runMain(main: () => unknown): Promise<void> {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
