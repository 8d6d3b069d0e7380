// What the packaging tests share: this machine's compiled lmcp (built once if
// dist/ lacks it), and a throwaway dist/ whose other binaries are small stand-ins.
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../build/build.ts";
import { type TargetName, sha256File, targetNames } from "../../packaging/config.ts";

export const hostTarget = `${process.platform}-${process.arch}` as TargetName;

/** dist/lmcp-<this machine's target>, compiled first when it is not there. */
export async function hostBinary(): Promise<string> {
  const file = join(import.meta.dir, "../../dist", `lmcp-${hostTarget}`);
  if (!existsSync(file)) await build([hostTarget]);
  return file;
}

/**
 * A dist/ directory with every target's binary and a matching SHA256SUMS: the
 * real binary for this machine's target when given, random bytes for the rest.
 */
export function fakeDist(real?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "lmcp-fakedist-"));
  const sums: string[] = [];
  for (const target of targetNames) {
    const file = join(dir, `lmcp-${target}`);
    if (real && target === hostTarget) copyFileSync(real, file);
    else writeFileSync(file, `stand-in for lmcp-${target} ${crypto.randomUUID()}\n`, { mode: 0o755 });
    sums.push(`${sha256File(file)}  lmcp-${target}`);
  }
  writeFileSync(join(dir, "SHA256SUMS"), `${sums.join("\n")}\n`);
  return dir;
}

export const have = (tool: string): boolean => Bun.which(tool) !== null;
