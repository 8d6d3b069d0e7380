// `npm run build`: compiles lmcp for every target with version and commit
// stamped in, then writes dist/SHA256SUMS. `--target NAME` builds one target.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BunPlugin } from "bun";
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

/**
 * Start-up code (the SDK's and zod's schema construction) runs once; a JIT policy above 1 keeps it in
 * the interpreter instead of compiling it, which saves start-up time and about 2.5 MB resident.
 * `serve` and `hub` put the normal policy back once they listen (src/http/listen.ts).
 */
export const START_JIT_POLICY = 10;

/**
 * Modules the SDK imports for features lmcp never uses, swapped for stubs that throw if ever reached,
 * so the binary neither carries them nor runs their set-up at every start: SDK v2 bundles Ajv into a chunk
 * of its own (`dist/ajvProvider-*.mjs`, about 290 KB of source in each of server and client), loaded as the
 * default JSON Schema validator; lmcp gives every Server and Client its own (src/mcp/no_json_schema_validator.ts).
 * The v1 SDK's paths (validation/ajv-provider, Zod 3) stay stubbed for the tests' legacy client, should a test
 * build pull it in.
 */
const sdkStubs: Record<string, string> = {
  "ajv-provider": `export class AjvJsonSchemaValidator {
  constructor() { throw new Error("lmcp is built without Ajv: pass a jsonSchemaValidator (see src/mcp/no_json_schema_validator.ts)"); }
}
export { AjvJsonSchemaValidator as n };
export function t() { throw new Error("lmcp is built without Ajv"); }
export function r() { throw new Error("lmcp is built without Ajv"); }`,
  "zod-v3": `export function object() { throw new Error("lmcp is built without Zod 3: use Zod 4 schemas"); }`,
  "zod-to-json-schema": `export function zodToJsonSchema() { throw new Error("lmcp is built without Zod 3: use Zod 4 schemas"); }`,
};
const withoutUnusedSdkParts: BunPlugin = {
  name: "lmcp-without-unused-sdk-parts",
  setup(b) {
    const stub = (name: string) => () => ({ path: name, namespace: "lmcp-stub" });
    b.onResolve({ filter: /[/\\]validation[/\\]ajv-provider\.js$/ }, stub("ajv-provider"));
    b.onResolve({ filter: /^\.\/ajvProvider-[\w-]+\.mjs$/ }, stub("ajv-provider"));
    b.onResolve({ filter: /^zod\/v3$/ }, stub("zod-v3"));
    b.onResolve({ filter: /^zod-to-json-schema$/ }, stub("zod-to-json-schema"));
    b.onLoad({ filter: /.*/, namespace: "lmcp-stub" }, (args) => ({ loader: "js", contents: sdkStubs[args.path] ?? "" }));
  },
};

/**
 * The program, then code that runs on its own threads: a worker must be an entrypoint of its own to
 * be embedded in the binary (Bun does not follow `new Worker(path)`).
 */
export const entrypoints = ["src/cli/main.ts", "src/tools/search_worker.ts"];

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
    const result = await Bun.build({
      entrypoints: entrypoints.map((e) => join(root, e)),
      // Embedded paths are relative to src/: the search worker is /$bunfs/root/tools/search_worker.js (src/tools/search_pool.ts).
      root: join(root, "src"),
      compile: {
        target: t.bun,
        outfile,
        // A daemon must not pick up a .env or bunfig.toml from whatever directory it starts in.
        autoloadDotenv: false,
        autoloadBunfig: false,
        jitPolicy: START_JIT_POLICY,
      },
      bytecode: true,
      minify: true,
      define: { LMCP_VERSION: JSON.stringify(pkg.version), LMCP_COMMIT: JSON.stringify(commit) },
      plugins: [withoutUnusedSdkParts],
      throw: false,
    });
    if (!result.success) throw new Error(`bun build for ${t.name} failed:\n${result.logs.map(String).join("\n")}`);
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
