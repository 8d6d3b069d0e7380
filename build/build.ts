// `npm run build`: compiles lmcp for every target with version and commit
// stamped in, then writes dist/SHA256SUMS. `--target NAME` builds one target.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { ensureValidSignature } from "./sign_darwin.ts";

/** The build matrix: one entry per shipped binary. */
export const targets = [
  { name: "linux-x64", bun: "bun-linux-x64" },
  { name: "linux-arm64", bun: "bun-linux-arm64" },
  { name: "darwin-x64", bun: "bun-darwin-x64" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64" },
] as const;

const root = resolve(import.meta.dir, "..");
const dist = join(root, "dist");

function gitCommit(): string {
  const r = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
  const sha = r.success ? r.stdout.toString().trim() : "";
  if (!sha) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: root }).stdout.toString().trim();
  return dirty ? `${sha}-dirty` : sha;
}

export async function build(names: string[]): Promise<string[]> {
  mkdirSync(dist, { recursive: true });
  const commit = gitCommit();
  const outputs: string[] = [];
  for (const t of targets.filter((t) => names.length === 0 || names.includes(t.name))) {
    const outfile = join(dist, `lmcp-${t.name}`);
    const started = performance.now();
    const proc = Bun.spawnSync(
      [
        process.execPath, "build", "--compile", "--bytecode", "--minify",
        // A daemon must not pick up a .env or bunfig.toml from whatever directory it starts in.
        "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
        `--target=${t.bun}`,
        `--define=LMCP_VERSION=${JSON.stringify(pkg.version)}`,
        `--define=LMCP_COMMIT=${JSON.stringify(commit)}`,
        join(root, "src/cli/main.ts"), "--outfile", outfile,
      ],
      { cwd: root, stdout: "pipe", stderr: "pipe" },
    );
    if (!proc.success) throw new Error(`bun build for ${t.name} failed:\n${proc.stderr.toString()}${proc.stdout.toString()}`);
    console.log(`built ${basename(outfile)} (${(readFileSync(outfile).byteLength / 1e6).toFixed(1)} MB, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    // Bun's darwin signatures don't always match the bytes it wrote; macOS kills such a binary.
    if (t.name.startsWith("darwin-")) console.log(ensureValidSignature(outfile, t.name));
    outputs.push(outfile);
  }
  writeChecksums();
  return outputs;
}

/** SHA256SUMS over every binary in dist/, in `sha256sum -c` format. */
function writeChecksums(): void {
  const lines = targets
    .map((t) => join(dist, `lmcp-${t.name}`))
    .filter((f) => Bun.file(f).size > 0)
    .map((f) => `${createHash("sha256").update(readFileSync(f)).digest("hex")}  ${basename(f)}`);
  writeFileSync(join(dist, "SHA256SUMS"), `${lines.join("\n")}\n`);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { target: { type: "string", multiple: true } } });
  await build(values.target ?? []);
}
