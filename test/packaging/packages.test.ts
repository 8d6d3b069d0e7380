// The package generators (packaging/*.ts) on a throwaway dist/: the version
// comes from package.json, every checksum is the real one of the file in dist/,
// the .deb has its fields, files and scripts, and the outputs are repeatable.
// The distributions' own tools (lintian, makepkg, ruby) run in packaging/check.sh;
// makepkg and ruby also run here when they are installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aurTargets, pkgbuild, srcinfo, writeAur } from "../../packaging/aur.ts";
import { writeBrew } from "../../packaging/brew.ts";
import { loadBinaries, releaseBase, repository, root, sha256File, targetNames, version } from "../../packaging/config.ts";
import { buildDeb, conffiles, debFileName } from "../../packaging/deb.ts";
import { minimumGlibc } from "../../packaging/elf.ts";
import { commandNames, helpToMan, manPage, roff } from "../../packaging/manpage.ts";
import { buildTarballs, tarballName } from "../../packaging/tarball.ts";
import { loadConfigFile } from "../../src/config/file.ts";
import { hubFileSchema } from "../../src/config/hub.ts";
import { serveFileSchema } from "../../src/config/server.ts";
import { loadRegistry } from "../../src/hub/registry.ts";
import { fakeDist, have, hostBinary, hostTarget } from "./fixtures.ts";

let dist: string;
let out: string;
beforeAll(async () => {
  dist = fakeDist(await hostBinary());
  out = mkdtempSync(join(tmpdir(), "lmcp-packages-"));
}, 120_000);
afterAll(() => {
  rmSync(dist, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

const run = (cmd: string[], opts: { cwd?: string } = {}) => {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

describe("npm run package", () => {
  test("fails before writing anything when a binary is missing, saying to build first", () => {
    const empty = mkdtempSync(join(tmpdir(), "lmcp-nodist-"));
    try {
      const r = run([process.execPath, join(root, "packaging/all.ts"), "--dist", empty]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("run `npm run build` first");
      const partial = fakeDist();
      rmSync(join(partial, "lmcp-darwin-arm64"));
      const r2 = run([process.execPath, join(root, "packaging/all.ts"), "--dist", partial, "--out", empty]);
      expect(r2.code).toBe(1);
      expect(r2.err).toContain("lmcp-darwin-arm64 is missing");
      expect(run(["ls", "-A", empty]).out).toBe("");
      rmSync(partial, { recursive: true, force: true });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test("refuses a binary that does not match SHA256SUMS", () => {
    const stale = fakeDist();
    try {
      writeFileSync(join(stale, "lmcp-linux-arm64"), "rebuilt without updating SHA256SUMS\n");
      expect(() => loadBinaries(stale)).toThrow(/does not match .*SHA256SUMS/);
    } finally {
      rmSync(stale, { recursive: true, force: true });
    }
  });

  test("every script has --help", () => {
    for (const s of ["all", "deb", "tarball", "aur", "brew", "manpage"]) {
      const r = run([process.execPath, join(root, `packaging/${s}.ts`), "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toContain("Usage:");
    }
  });
});

describe("AUR lmcp-bin", () => {
  test("PKGBUILD and .SRCINFO carry the version and the real sha256 of both Linux binaries and every source file", () => {
    writeAur(dist, out);
    const pkg = readFileSync(join(out, "aur/PKGBUILD"), "utf8");
    const info = readFileSync(join(out, "aur/.SRCINFO"), "utf8");
    expect(pkg).toContain(`pkgver=${version}\n`);
    expect(info).toContain(`\tpkgver = ${version}\n`);
    expect(pkg).toContain("arch=('x86_64' 'aarch64')");
    for (const b of loadBinaries(dist, aurTargets)) {
      const arch = b.target === "linux-x64" ? "x86_64" : "aarch64";
      expect(pkg).toContain(`sha256sums_${arch}=('${b.sha256}')`);
      expect(info).toContain(`\tsource_${arch} = lmcp-${version}-${b.target}::${releaseBase()}/lmcp-${b.target}\n\tsha256sums_${arch} = ${b.sha256}\n`);
    }
    expect(info).toContain(`\tsha256sums = ${sha256File(join(root, "packaging/systemd/lmcp.service"))}\n`);
    expect(pkg).toContain("options=('!strip' '!debug')");
    expect(existsSync(join(out, "aur/lmcp-bin.install"))).toBe(true);
  });

  // makepkg alone is not enough: it calls pacman (Debian: pacman-package-manager) and, as root, setpriv.
  const makepkgMissing = !have("makepkg")
    ? "makepkg is not installed"
    : !have("pacman")
      ? "makepkg needs pacman (Debian: pacman-package-manager), which is not installed"
      : process.getuid?.() === 0 && !have("setpriv")
        ? "makepkg refuses root and setpriv (util-linux) is missing to drop to nobody"
        : undefined;
  if (makepkgMissing) console.warn(`skipping ".SRCINFO is what makepkg --printsrcinfo prints": ${makepkgMissing}`);
  test.skipIf(makepkgMissing !== undefined)(".SRCINFO is what makepkg --printsrcinfo prints", () => {
    const bins = loadBinaries(dist, aurTargets);
    const tmp = mkdtempSync(join(tmpdir(), "lmcp-aur-"));
    try {
      writeFileSync(join(tmp, "PKGBUILD"), pkgbuild(bins));
      cpSync(join(root, "packaging/aur/lmcp-bin.install"), join(tmp, "lmcp-bin.install"));
      // makepkg refuses to run as root: run it as nobody, in a directory nobody owns.
      const asRoot = process.getuid?.() === 0;
      if (asRoot) for (const f of ["", "PKGBUILD", "lmcp-bin.install"]) chownSync(join(tmp, f), 65534, 65534);
      const r = run(asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "makepkg", "--printsrcinfo"] : ["makepkg", "--printsrcinfo"], { cwd: tmp });
      expect(r.err).toBe("");
      expect(r.out).toBe(srcinfo(bins));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("Homebrew formula", () => {
  test("has the version, and each platform's release URL with that binary's real sha256", () => {
    const rb = readFileSync(writeBrew(dist, out), "utf8");
    expect(rb).toContain(`version "${version}"`);
    for (const b of loadBinaries(dist)) expect(rb).toContain(`url "${releaseBase()}/lmcp-${b.target}"\n      sha256 "${b.sha256}"`);
    expect(rb).toMatch(/on_macos do\n {4}on_arm do[\s\S]*on_intel do[\s\S]*on_linux do\n {4}on_arm do[\s\S]*on_intel do/);
    expect(rb).toContain('service do\n    run [opt_bin/"lmcp", "serve"]');
    expect(rb).toContain("test do");
  });

  test.skipIf(!have("ruby"))("is valid Ruby, and its install, service and test blocks work on this machine (packaging/brew_check.rb)", () => {
    const file = writeBrew(dist, out);
    expect(run(["ruby", "-wc", file]).out).toContain("Syntax OK");
    const r = run(["ruby", join(root, "packaging/brew_check.rb"), file, dist]);
    expect(r.out).toContain("checks passed");
    expect(r.code).toBe(0);
  }, 60_000);
});

describe("tarballs", () => {
  // Stand-ins for all four binaries: what goes in matters here, not how long gzip takes over 100 MB.
  let small: string;
  beforeAll(() => {
    small = fakeDist();
  });
  afterAll(() => rmSync(small, { recursive: true, force: true }));

  test("one per target, named lmcp-VERSION-OS-ARCH.tar.gz, with the binary, units or plists, README and LICENSE", async () => {
    const made = await buildTarballs(small, out);
    expect(made.map((f) => f.split("/").at(-1))).toEqual(targetNames.map(tarballName));
    for (const target of targetNames) {
      const list = run(["tar", "tzvf", join(out, tarballName(target))]).out;
      const top = `lmcp-${version}-${target}`;
      expect(list).toMatch(new RegExp(`^-rwxr-xr-x 0/0 .* ${top}/lmcp$`, "m"));
      for (const f of ["README.md", "LICENSE", "lmcp.1", "etc/lmcp.toml", "etc/backends.toml"]) expect(list).toContain(`${top}/${f}\n`);
      if (target.startsWith("linux")) for (const u of ["lmcp.service", "lmcp-hub.service", "lmcp@.service"]) expect(list).toContain(`${top}/systemd/${u}\n`);
      else for (const p of ["dev.lmcp.serve.plist", "dev.lmcp.hub.plist"]) expect(list).toContain(`${top}/launchd/${p}\n`);
    }
  });

  test("building again gives the same bytes", async () => {
    const again = mkdtempSync(join(tmpdir(), "lmcp-packages-again-"));
    try {
      await buildTarballs(small, again, ["linux-arm64", "darwin-x64"]);
      for (const t of ["linux-arm64", "darwin-x64"]) expect(sha256File(join(again, tarballName(t)))).toBe(sha256File(join(out, tarballName(t))));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!have("dpkg-deb") || !hostTarget.startsWith("linux"))(".deb", () => {
  let deb: string;
  const field = (name: string) => run(["dpkg-deb", "-f", deb, name]).out.trim();
  beforeAll(() => {
    const [bin] = loadBinaries(dist, [hostTarget]);
    deb = buildDeb(bin!, out, { compression: "none" }); // lintian checks the xz-compressed release build in check.sh
  }, 120_000);

  test("is named lmcp_VERSION-REV_ARCH.deb and its control fields describe it", () => {
    const arch = hostTarget === "linux-x64" ? "amd64" : "arm64";
    expect(deb.endsWith(debFileName(hostTarget))).toBe(true);
    expect(field("Package")).toBe("lmcp");
    expect(field("Version")).toBe(`${version}-1`);
    expect(field("Architecture")).toBe(arch);
    expect(field("Depends")).toBe(`libc6 (>= ${minimumGlibc(join(dist, `lmcp-${hostTarget}`))}), adduser, init-system-helpers (>= 1.54~)`);
    expect(field("Homepage")).toBe(repository);
    expect(field("Section")).toBe("admin");
    expect(Number(field("Installed-Size"))).toBeGreaterThan(50_000);
  });

  test("installs /usr/bin/lmcp, the units, /etc/lmcp conffiles, copyright, changelog and man page", () => {
    const list = run(["dpkg-deb", "-c", deb]).out;
    expect(list).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/lmcp$/m);
    for (const path of [
      "lib/systemd/system/lmcp.service", "lib/systemd/system/lmcp-hub.service", "lib/systemd/system/lmcp@.service",
      ...conffiles.map((c) => c.slice(1)), "usr/share/doc/lmcp/copyright", "usr/share/doc/lmcp/changelog.Debian.gz",
      "usr/share/man/man1/lmcp.1.gz", "usr/share/lintian/overrides/lmcp", "usr/share/doc/lmcp/examples/hardening.conf",
    ]) {
      expect(list).toMatch(new RegExp(`^-rw-r--r-- root/root .* \\./${path.replace(/[.@]/g, "\\$&")}$`, "m"));
    }
    expect(list).not.toContain("etc/lmcp/token");
  });

  test("marks the /etc/lmcp files as conffiles and carries the maintainer scripts", () => {
    const ctl = mkdtempSync(join(tmpdir(), "lmcp-ctl-"));
    try {
      expect(run(["dpkg-deb", "-e", deb, ctl]).code).toBe(0);
      expect(readFileSync(join(ctl, "conffiles"), "utf8")).toBe(`${conffiles.join("\n")}\n`);
      const postinst = readFileSync(join(ctl, "postinst"), "utf8");
      expect(postinst).toContain('if [ ! -e "/etc/lmcp/$name" ]; then\n            lmcp token --out "/etc/lmcp/$name"');
      expect(postinst).toContain("adduser --system");
      expect(readFileSync(join(ctl, "postrm"), "utf8")).toMatch(/if \[ "\$1" = purge \]; then[\s\S]*rm -f \/etc\/lmcp\/token \/etc\/lmcp\/hub-token/);
      expect(readFileSync(join(ctl, "prerm"), "utf8")).toContain("deb-systemd-invoke stop lmcp.service lmcp-hub.service 'lmcp@*.service'");
    } finally {
      rmSync(ctl, { recursive: true, force: true });
    }
  });

  test("the copyright file is machine-readable and carries the MIT licence text", () => {
    const x = mkdtempSync(join(tmpdir(), "lmcp-x-"));
    try {
      run(["dpkg-deb", "-x", deb, x]);
      const copyright = readFileSync(join(x, "usr/share/doc/lmcp/copyright"), "utf8");
      expect(copyright).toStartWith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n");
      expect(copyright).toContain("License: Expat\n Permission is hereby granted");
      expect(run([join(x, "usr/bin/lmcp"), "--version"]).out).toContain(`lmcp ${version} `);
    } finally {
      rmSync(x, { recursive: true, force: true });
    }
  });
});

describe("the shipped example configs", () => {
  const dir = join(root, "packaging/etc");
  test("parse as they are (comments only) for lmcp serve, lmcp hub and the registry", () => {
    expect(loadConfigFile(join(dir, "lmcp.toml"), serveFileSchema)).toEqual({});
    expect(loadConfigFile(join(dir, "hub.toml"), hubFileSchema)).toEqual({});
    expect(loadRegistry(join(dir, "backends.toml"))).toEqual([]);
  });

  test("with every setting uncommented, still use only keys lmcp knows", () => {
    const tmp = mkdtempSync(join(tmpdir(), "lmcp-conf-"));
    try {
      for (const [name, schema] of [["lmcp.toml", serveFileSchema], ["hub.toml", hubFileSchema]] as const) {
        const text = readFileSync(join(dir, name), "utf8").replace(/^# ([a-z_]+ = )/gm, "$1");
        mkdirSync(tmp, { recursive: true });
        writeFileSync(join(tmp, name), text);
        const parsed = loadConfigFile(join(tmp, name), schema);
        expect(Object.keys(parsed).length).toBeGreaterThan(5);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("man page", () => {
  test("has a section for every command, from its --help", () => {
    const page = manPage();
    expect(page).toStartWith(`.TH LMCP 1 "`);
    expect(page).toContain(`"lmcp ${version}"`);
    for (const c of ["serve", "hub", "hub add", "hub nats-init", "hub enroll", "hub revoke", "hub fleet", "join", "token", "client-config", "call", "hosts", "audit verify"]) expect(page).toContain(`.SS lmcp ${roff(c)}`);
    // Each command once: a subcommand's section is its own help, not its parent's again.
    expect(page.split(".SS lmcp hub\n").length).toBe(2);
    expect(page).toContain("lmcp hub enroll NAME");
  });
  test("turns help lines into roff: flags as tagged paragraphs, minus signs escaped", () => {
    expect(helpToMan("Usage: lmcp x [--y]\n\nFlags:\n  --out FILE   write it\n               there\n  -h, --help   this help\n")).toBe(
      ".PP\n.B lmcp x [\\-\\-y]\n.PP\nFlags:\n.TP\n.B \\-\\-out FILE\nwrite it there\n.TP\n.B \\-h, \\-\\-help\nthis help",
    );
    expect(commandNames("Usage\n\nCommands:\n  serve   a\n  call TOOL  b\n  hub    c\n  hub add NAME  d\n\nMore")).toEqual(["serve", "call", "hub", "hub add"]);
  });
});

test("every GitHub URL in packaging/ and install/ points at the repository packaging/config.ts names", () => {
  const files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "packaging", "install"], { cwd: root }).out.split("\n").filter(Boolean);
  expect(files.length).toBeGreaterThan(10);
  const owner = new URL(repository).pathname; // /owner/name
  for (const f of files) {
    for (const [url] of readFileSync(join(root, f), "utf8").matchAll(/https:\/\/(?:github\.com|raw\.githubusercontent\.com)\/[\w.-]+\/[\w.-]+/g)) {
      expect(`${f}: ${url}`).toEndWith(owner);
    }
  }
});
