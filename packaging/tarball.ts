// `bun packaging/tarball.ts`: builds dist/lmcp-VERSION-OS-ARCH.tar.gz for every
// target: the binary, its service files (systemd units on Linux, launchd
// plists on macOS), the example configs and sudoers drop-in, the man page,
// README, docs/ and LICENSE,
// under one top directory. Same inputs, same bytes (sorted, owner 0, fixed times).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { type Binary, archNames, cliDirs, loadBinaries, releaseEpoch, root, runMain, targetNames, version } from "./config.ts";
import { manPage } from "./manpage.ts";

export const tarballName = (target: string): string => `lmcp-${version}-${target}.tar.gz`;

/** What goes into a target's tarball besides the binary: path inside → source file in the repo. */
export function tarballFiles(target: Binary["target"]): Record<string, string> {
  const files: Record<string, string> = { "README.md": "README.md", LICENSE: "LICENSE", "examples/sudoers": "packaging/examples/sudoers" };
  // The README links into docs/: the operator guides and the spec travel with it (docs/design is working notes).
  for (const doc of new Bun.Glob("**/*.md").scanSync({ cwd: join(root, "docs") })) {
    if (!doc.startsWith("design/")) files[`docs/${doc}`] = `docs/${doc}`;
  }
  if (archNames[target].os === "linux") {
    for (const unit of ["lmcp.service", "lmcp-hub.service", "lmcp@.service"]) files[`systemd/${unit}`] = `packaging/systemd/${unit}`;
    files["systemd/hardening.conf"] = "packaging/examples/hardening.conf";
  } else {
    for (const plist of ["dev.lmcp.serve.plist", "dev.lmcp.hub.plist"]) files[`launchd/${plist}`] = `packaging/launchd/${plist}`;
  }
  for (const conf of ["lmcp.toml", "hub.toml", "backends.toml"]) files[`etc/${conf}`] = `packaging/etc/${conf}`;
  return files;
}

export function buildTarball(bin: Binary, out: string, man: string): string {
  const top = `lmcp-${version}-${bin.target}`;
  const stage = mkdtempSync(join(tmpdir(), "lmcp-tar-"));
  try {
    const dir = join(stage, top);
    mkdirSync(dir, { recursive: true });
    copyFileSync(bin.file, join(dir, "lmcp"));
    chmodSync(join(dir, "lmcp"), 0o755);
    writeFileSync(join(dir, "lmcp.1"), man);
    for (const [inside, source] of Object.entries(tarballFiles(bin.target))) {
      mkdirSync(dirname(join(dir, inside)), { recursive: true });
      writeFileSync(join(dir, inside), readFileSync(join(root, source)));
    }
    mkdirSync(out, { recursive: true });
    const tarball = join(out, tarballName(bin.target));
    // GNU tar for the reproducibility flags; gzip -n leaves name and time out of the header.
    const r = Bun.spawnSync(
      ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${releaseEpoch()}`, "--mode=u+rwX,go+rX,go-w",
        "--use-compress-program=gzip -9n", "-C", stage, "-cf", tarball, top],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (!r.success) throw new Error(`tar failed for ${bin.target}: ${r.stderr.toString()}`);
    return tarball;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export async function buildTarballs(dist: string, out: string, targets = targetNames): Promise<string[]> {
  const tarVersion = Bun.spawnSync(["tar", "--version"]).stdout.toString();
  if (!tarVersion.includes("GNU tar")) throw new Error("packaging needs GNU tar (for --sort, --owner, --mtime): apt-get install tar, or brew install gnu-tar");
  const man = manPage();
  return loadBinaries(dist, targets).map((bin) => buildTarball(bin, out, man));
}

if (import.meta.main) {
  await runMain(async () => {
    const { dist, out } = cliDirs(process.argv.slice(2), "Usage: bun packaging/tarball.ts [--dist DIR] [--out DIR]\nBuilds lmcp-VERSION-OS-ARCH.tar.gz for every target.");
    for (const t of await buildTarballs(dist, out)) console.log(`built ${relative(process.cwd(), t)} (${(statSync(t).size / 1e6).toFixed(1)} MB)`);
  });
}
