// `bun packaging/deb.ts`: builds dist/lmcp_VERSION-REV_{amd64,arm64}.deb with
// dpkg-deb from a staging tree (no debhelper): /usr/bin/lmcp, the systemd
// units, /etc/lmcp conffiles, maintainer scripts, copyright, changelog, man page.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { type Binary, type TargetName, archNames, cliDirs, description, loadBinaries, maintainer, releaseEpoch, repository, root, runMain, summary, version } from "./config.ts";
import { minimumGlibc } from "./elf.ts";
import { manPage } from "./manpage.ts";

/** Debian revision of the package; bump it to re-release the same upstream version. */
export const debRevision = "1";
export const debVersion = `${version}-${debRevision}`;
export const debTargets: TargetName[] = ["linux-x64", "linux-arm64"];
export const debFileName = (target: TargetName): string => `lmcp_${debVersion}_${archNames[target].deb}.deb`;

const packaging = join(root, "packaging");
export const conffiles = ["/etc/lmcp/lmcp.toml", "/etc/lmcp/hub.toml", "/etc/lmcp/backends.toml"];
const units = ["lmcp.service", "lmcp-hub.service", "lmcp@.service"];

/** gzip -9n: no name, no time stamp, so the bytes depend on the content alone. */
const gzip = (data: string | Buffer): Buffer => {
  const z = gzipSync(data, { level: 9 });
  z[9] = 3; // OS = Unix, as gzip(1) writes it (zlib says "unknown" otherwise)
  return z;
};

function changelog(epoch: number): string {
  const date = new Date(epoch * 1000).toUTCString().replace("GMT", "+0000");
  return `lmcp (${debVersion}) unstable; urgency=medium\n\n  * Release ${version}: ${repository}/releases/tag/v${version}\n\n -- ${maintainer}  ${date}\n`;
}

function control(bin: Binary, installedKiB: number): string {
  const glibc = minimumGlibc(bin.file);
  const depends = [glibc ? `libc6 (>= ${glibc})` : "libc6", "adduser", "init-system-helpers (>= 1.54~)"];
  return [
    "Package: lmcp",
    `Version: ${debVersion}`,
    `Architecture: ${archNames[bin.target].deb}`,
    `Maintainer: ${maintainer}`,
    `Installed-Size: ${installedKiB}`,
    `Depends: ${depends.join(", ")}`,
    "Recommends: openssh-client",
    "Section: admin",
    "Priority: optional",
    `Homepage: ${repository}`,
    `Description: ${summary.charAt(0).toLowerCase()}${summary.slice(1)}`,
    ...description.map((l) => ` ${l}`),
    " .",
    " The package runs lmcp serve as the system user lmcp (lmcp.service, enabled",
    " at install, listening on 127.0.0.1:8765 with the token in /etc/lmcp/token);",
    " lmcp-hub.service and the template lmcp@.service are there to enable.",
    "",
  ].join("\n");
}

/** Writes a file into the staging tree, creating its directory. */
function put(stage: string, path: string, data: string | Buffer, mode = 0o644): void {
  const file = join(stage, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, data);
  chmodSync(file, mode);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Builds one .deb into `out`; returns its path. `compression` is dpkg-deb's -Z (xz for releases; tests use a faster one). */
export function buildDeb(bin: Binary, out: string, opts: { compression?: "xz" | "gzip" | "none"; man?: string } = {}): string {
  const stage = mkdtempSync(join(tmpdir(), `lmcp-deb-${bin.target}-`));
  try {
    chmodSync(stage, 0o755);
    mkdirSync(join(stage, "usr/bin"), { recursive: true, mode: 0o755 });
    copyFileSync(bin.file, join(stage, "usr/bin/lmcp"));
    chmodSync(join(stage, "usr/bin/lmcp"), 0o755);
    for (const unit of units) put(stage, `lib/systemd/system/${unit}`, readFileSync(join(packaging, "systemd", unit)));
    for (const conf of conffiles) put(stage, conf.slice(1), readFileSync(join(packaging, "etc", conf.split("/").at(-1)!)));
    const doc = "usr/share/doc/lmcp";
    put(stage, `${doc}/copyright`, `${readFileSync(join(packaging, "debian/copyright.head"), "utf8")}${licenseParagraph()}`);
    put(stage, `${doc}/changelog.Debian.gz`, gzip(changelog(releaseEpoch())));
    put(stage, `${doc}/examples/hardening.conf`, readFileSync(join(packaging, "examples/hardening.conf")));
    // Disabled as shipped: an example the operator copies to /etc/sudoers.d/ (0440) and checks with visudo -c.
    put(stage, `${doc}/examples/sudoers`, readFileSync(join(packaging, "examples/sudoers")));
    put(stage, "usr/share/man/man1/lmcp.1.gz", gzip(opts.man ?? manPage()));
    put(stage, "usr/share/lintian/overrides/lmcp", readFileSync(join(packaging, "debian/lintian-overrides")));

    const files = walk(stage).map((f) => relative(stage, f)).sort();
    const installedKiB = files.reduce((kib, f) => kib + Math.ceil(statSync(join(stage, f)).size / 1024), 0) + 1;
    const md5sums = files
      .filter((f) => !conffiles.includes(`/${f}`))
      .map((f) => `${createHash("md5").update(readFileSync(join(stage, f))).digest("hex")}  ${f}\n`)
      .join("");
    put(stage, "DEBIAN/control", control(bin, installedKiB));
    put(stage, "DEBIAN/conffiles", `${conffiles.join("\n")}\n`);
    put(stage, "DEBIAN/md5sums", md5sums);
    for (const script of ["postinst", "prerm", "postrm"]) put(stage, `DEBIAN/${script}`, readFileSync(join(packaging, "debian", script)), 0o755);

    mkdirSync(out, { recursive: true });
    const deb = join(out, debFileName(bin.target));
    const r = Bun.spawnSync(["dpkg-deb", "--root-owner-group", `-Z${opts.compression ?? "xz"}`, "--build", stage, deb], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(releaseEpoch()) },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (!r.success) throw new Error(`dpkg-deb failed for ${bin.target}:\n${r.stderr.toString()}`);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The LICENSE text as the copyright file's license paragraph (indented, blank lines as " ."). */
function licenseParagraph(): string {
  const text = readFileSync(join(root, "LICENSE"), "utf8");
  const body = text.slice(text.indexOf("Permission is hereby granted")).trimEnd();
  return `${body
    .split("\n")
    .map((l) => (l.trim() === "" ? " ." : ` ${l}`))
    .join("\n")}\n`;
}

export function buildDebs(dist: string, out: string): string[] {
  if (Bun.spawnSync(["dpkg-deb", "--version"], { stdout: "ignore", stderr: "ignore" }).exitCode !== 0) {
    throw new Error("dpkg-deb is not installed: apt-get install dpkg (it is on every Debian and Ubuntu system)");
  }
  const man = manPage();
  return loadBinaries(dist, debTargets).map((bin) => buildDeb(bin, out, { man }));
}

if (import.meta.main) {
  await runMain(() => {
    const { dist, out } = cliDirs(process.argv.slice(2), "Usage: bun packaging/deb.ts [--dist DIR] [--out DIR]\nBuilds lmcp_VERSION_{amd64,arm64}.deb from the linux binaries.");
    for (const deb of buildDebs(dist, out)) console.log(`built ${relative(process.cwd(), deb)} (${(statSync(deb).size / 1e6).toFixed(1)} MB)`);
  });
}
