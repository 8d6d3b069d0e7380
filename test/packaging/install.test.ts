// install/install.sh for real, under a temp prefix with --no-service: from a
// directory holding a freshly built binary and its SHA256SUMS, twice (the token
// and the binary stay as they are), refusing a tampered checksum, and uninstalling.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repository, root, sha256File } from "../../packaging/config.ts";
import { hostBinary, hostTarget } from "./fixtures.ts";

const script = join(root, "install/install.sh");
let dir: string;
let source: string;
let prefix: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-install-"));
  source = join(dir, "release");
  prefix = join(dir, "prefix");
  mkdirSync(source);
  const asset = `lmcp-${hostTarget}`;
  copyFileSync(await hostBinary(), join(source, asset));
  writeFileSync(join(source, "SHA256SUMS"), `${sha256File(join(source, asset))}  ${asset}\n`);
  // Nothing may touch the real user: HOME and XDG_CONFIG_HOME are temp dirs.
  env = { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "config"), TMPDIR: dir };
  mkdirSync(env.HOME!);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function install(...args: string[]) {
  const r = Bun.spawnSync(["bash", script, ...args], { env, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const tokenFile = () => join(dir, "config/lmcp/token");

describe("install.sh --no-service", () => {
  test("--help says how to use it", () => {
    const r = install("--help");
    expect(r.code).toBe(0);
    for (const flag of ["--binary", "--prefix", "--no-service", "--hub", "--uninstall", "--purge", "--print-service"]) expect(r.out).toContain(flag);
    expect(install("--bogus").code).toBe(2);
  });

  test("installs a working binary, mints a 0600 token and prints the client configuration with it", () => {
    const r = install("--binary", source, "--prefix", prefix, "--no-service");
    expect(r.err).toContain(`verified lmcp-${hostTarget}`);
    expect(r.code).toBe(0);
    const version = Bun.spawnSync([join(prefix, "bin/lmcp"), "--version"]);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.toString()).toMatch(/^lmcp \d+\.\d+\.\d+ /);
    expect(statSync(tokenFile()).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile(), "utf8").trim();
    expect(r.out).toContain(`--header 'Authorization: Bearer ${token}'`);
    expect(r.out).toContain('"mcpServers"');
    expect(r.err).not.toContain(token); // only the client configuration shows it
  });

  test("a second run changes nothing: same token, same binary", () => {
    const token = readFileSync(tokenFile(), "utf8");
    const binaryTime = statSync(join(prefix, "bin/lmcp")).mtimeMs;
    const r = install("--binary", source, "--prefix", prefix, "--no-service");
    expect(r.code).toBe(0);
    expect(r.err).toContain("already this build");
    expect(r.err).toContain("kept the existing token");
    expect(readFileSync(tokenFile(), "utf8")).toBe(token);
    expect(statSync(join(prefix, "bin/lmcp")).mtimeMs).toBe(binaryTime);
  });

  test("refuses a binary whose SHA-256 does not match SHA256SUMS, and installs nothing", () => {
    const tampered = join(dir, "tampered");
    const other = join(dir, "other-prefix");
    mkdirSync(tampered);
    copyFileSync(join(source, `lmcp-${hostTarget}`), join(tampered, `lmcp-${hostTarget}`));
    writeFileSync(join(tampered, "SHA256SUMS"), `${"0".repeat(64)}  lmcp-${hostTarget}\n`);
    const r = install("--binary", tampered, "--prefix", other, "--no-service");
    expect(r.code).toBe(1);
    expect(r.err).toContain("SHA-256 mismatch");
    expect(existsSync(join(other, "bin/lmcp"))).toBe(false);
  });

  test("takes the binary file itself, checked against the SHA256SUMS beside it or --sha256", () => {
    const file = join(source, `lmcp-${hostTarget}`);
    expect(install("--binary", file, "--prefix", prefix, "--no-service").code).toBe(0);
    const r = install("--binary", file, "--sha256", "ab".repeat(32), "--prefix", prefix, "--no-service");
    expect(r.code).toBe(1);
    expect(r.err).toContain("SHA-256 mismatch");
  });

  test("--uninstall removes the binary and keeps the token; --purge removes the token; both can run again", () => {
    const r = install("--uninstall", "--no-service", "--prefix", prefix);
    expect(r.code).toBe(0);
    expect(existsSync(join(prefix, "bin/lmcp"))).toBe(false);
    expect(existsSync(tokenFile())).toBe(true);
    expect(r.err).toContain("kept the token");
    expect(install("--uninstall", "--purge", "--no-service", "--prefix", prefix).code).toBe(0);
    expect(existsSync(tokenFile())).toBe(false);
    expect(install("--uninstall", "--purge", "--no-service", "--prefix", prefix).code).toBe(0);
  });
});

describe("install.sh with a service (systemctl and launchctl are stand-ins that log their calls)", () => {
  let stubs: string;
  let log: string;
  beforeAll(() => {
    stubs = join(dir, "stubs");
    log = join(dir, "service-calls.log");
    mkdirSync(stubs);
    writeFileSync(join(stubs, "systemctl"), '#!/bin/sh\necho "systemctl $*" >>"$STUB_LOG"\n', { mode: 0o755 });
    // `launchctl print` succeeds once the agent has been bootstrapped.
    writeFileSync(
      join(stubs, "launchctl"),
      '#!/bin/sh\necho "launchctl $*" >>"$STUB_LOG"\ncase "$1" in print) [ -f "$STUB_LOG.loaded" ] ;; bootstrap) touch "$STUB_LOG.loaded" ;; bootout) rm -f "$STUB_LOG.loaded" ;; esac\n',
      { mode: 0o755 },
    );
  });
  const calls = () => {
    const text = existsSync(log) ? readFileSync(log, "utf8") : "";
    rmSync(log, { force: true });
    return text.trim().split("\n").filter(Boolean);
  };
  const withStubs = (extra: Record<string, string>, ...args: string[]) => {
    const r = Bun.spawnSync(["bash", script, ...args], { env: { ...env, ...extra, PATH: `${stubs}:${env.PATH}`, STUB_LOG: log } });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  };

  test("Linux, as a user: writes a systemd --user unit, enables and starts it; a second run only starts it; --uninstall removes it", () => {
    const p = join(dir, "user-prefix");
    const unit = join(dir, "config/systemd/user/lmcp.service");
    const first = withStubs({}, "--user", "--binary", source, "--prefix", p);
    expect(first.code).toBe(0);
    expect(readFileSync(unit, "utf8")).toContain(`ExecStart=${p}/bin/lmcp serve\n`);
    expect(calls()).toEqual(["systemctl --user daemon-reload", "systemctl --user enable lmcp.service", "systemctl --user restart lmcp.service"]);
    expect(first.out).toContain("claude mcp add");

    expect(withStubs({}, "--user", "--binary", source, "--prefix", p).code).toBe(0);
    expect(calls()).toEqual(["systemctl --user enable lmcp.service", "systemctl --user start lmcp.service"]);

    expect(withStubs({}, "--user", "--uninstall", "--prefix", p).code).toBe(0);
    expect(existsSync(unit)).toBe(false);
    expect(existsSync(join(p, "bin/lmcp"))).toBe(false);
    expect(calls()).toEqual(["systemctl --user disable --now lmcp.service", "systemctl --user daemon-reload"]);
  });

  test("macOS: writes the LaunchAgent and bootstraps it once; --uninstall boots it out and removes it", () => {
    // A Linux binary under a macOS plan: what is checked is the agent's set-up, not the binary.
    const p = join(dir, "mac-prefix");
    const mac = { LMCP_INSTALL_OS: "darwin" };
    const plist = join(env.HOME!, "Library/LaunchAgents/dev.lmcp.serve.plist");
    const file = join(source, `lmcp-${hostTarget}`);
    expect(withStubs(mac, "--binary", file, "--prefix", p, "--user").code).toBe(0);
    expect(readFileSync(plist, "utf8")).toContain(`<string>${p}/bin/lmcp</string>`);
    expect(existsSync(join(env.HOME!, "Library/Logs/lmcp"))).toBe(true);
    const uid = process.getuid?.();
    expect(calls()).toEqual([`launchctl print gui/${uid}/dev.lmcp.serve`, `launchctl bootstrap gui/${uid} ${plist}`]);

    expect(withStubs(mac, "--binary", file, "--prefix", p, "--user").code).toBe(0);
    expect(calls()).toEqual([`launchctl print gui/${uid}/dev.lmcp.serve`]);

    expect(withStubs(mac, "--uninstall", "--prefix", p, "--user").code).toBe(0);
    expect(existsSync(plist)).toBe(false);
    expect(calls()).toEqual([`launchctl bootout gui/${uid}/dev.lmcp.serve`]);
  });
});

test("install.sh downloads from the repository packaging/config.ts names", () => {
  expect(readFileSync(script, "utf8")).toContain(`RELEASES="${repository}/releases"`);
});
