// The systemd units (packaging/systemd/): what they run and as whom, the
// hardening they leave out on purpose, systemd-analyze's verdict, and the
// installer writing the same unit.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root } from "../../packaging/config.ts";
import { have, hostBinary } from "./fixtures.ts";

const unitFile = (name: string) => join(root, "packaging/systemd", name);
const units = ["lmcp.service", "lmcp-hub.service", "lmcp@.service"];

/** The unit's directives as `Section.Key=value` lines, in order (comments and blank lines dropped). */
function directives(text: string): string[] {
  let section = "";
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) section = head[1]!;
    else out.push(`${section}.${line}`);
  }
  return out;
}
const values = (text: string, key: string) => directives(text).filter((d) => d.split("=")[0]!.endsWith(`.${key}`)).map((d) => d.slice(d.indexOf("=") + 1));

// Each of these hides or freezes part of the host, or (with a non-root User=) implies NoNewPrivileges=yes and breaks sudo.
const breaksAShell = [
  "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
  "ProtectKernelLogs", "ProtectClock", "ProtectHostname", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "RestrictNamespaces",
  "SystemCallFilter", "SystemCallArchitectures", "MemoryDenyWriteExecute", "CapabilityBoundingSet", "DynamicUser", "PrivateUsers", "ProtectProc",
];

describe.each(units)("%s", (name) => {
  const text = readFileSync(unitFile(name), "utf8");
  const role = name === "lmcp-hub.service" ? "hub" : "serve";

  test(`runs /usr/bin/lmcp ${role} as the system user lmcp with the system token paths`, () => {
    const exec = values(text, "ExecStart");
    expect(exec).toHaveLength(1);
    expect(exec[0]!.startsWith(`/usr/bin/lmcp ${role}`)).toBe(true);
    expect(values(text, "User")).toEqual(["lmcp"]);
    expect(values(text, "Environment")).toContain("LMCP_SYSTEM=1");
    expect(values(text, "Environment").some((e) => e.startsWith("LMCP_STATE_DIR=/var/lib/lmcp"))).toBe(true);
    expect(values(text, "StateDirectory")[0]).toStartWith("lmcp");
  });

  test("SIGHUP reloads, SIGTERM has time to finish calls, config errors do not restart-loop", () => {
    expect(values(text, "ExecReload")).toEqual(["/bin/kill -HUP $MAINPID"]);
    expect(values(text, "TimeoutStopSec")).toEqual(["30s"]);
    expect(values(text, "Restart")).toEqual(["on-failure"]);
    expect(values(text, "RestartPreventExitStatus")).toEqual(["2"]);
    expect(values(text, "KillMode")).toEqual([role === "hub" ? "mixed" : "process"]);
    expect(values(text, "EnvironmentFile")[0]).toMatch(/^-\/etc\/lmcp\/.+\.env$/);
  });

  test("leaves out every sandboxing option that would break the agent's shell", () => {
    const keys = directives(text).map((d) => d.slice(d.indexOf(".") + 1).split("=")[0]);
    for (const option of breaksAShell) expect(keys).not.toContain(option);
  });
});

test("lmcp@NAME reads /etc/lmcp/NAME.toml and keeps its own state directory", () => {
  const text = readFileSync(unitFile("lmcp@.service"), "utf8");
  expect(values(text, "ExecStart")).toEqual(["/usr/bin/lmcp serve --config /etc/lmcp/%i.toml"]);
  expect(values(text, "Environment")).toContain("LMCP_STATE_DIR=/var/lib/lmcp/%i");
  expect(values(text, "StateDirectory")).toEqual(["lmcp/%i"]);
});

test("lmcp.service explains each hardening choice and how to run the shell as root", () => {
  const text = readFileSync(unitFile("lmcp.service"), "utf8");
  for (const word of ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute", "KillMode=process", "User=root"]) {
    expect(text).toContain(word);
  }
});

describe("systemd-analyze verify", () => {
  const dir = mkdtempSync(join(tmpdir(), "lmcp-units-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.skipIf(!have("systemd-analyze"))("finds nothing wrong with the units, the template's instance, or the installer's units", async () => {
    const binary = await hostBinary();
    // verify insists that ExecStart's binary exists and Documentation's man page resolves.
    mkdirSync(join(dir, "man/man1"), { recursive: true });
    writeFileSync(join(dir, "man/man1/lmcp.1"), '.TH LMCP 1\n.SH NAME\nlmcp \\- test\n');
    for (const name of units) writeFileSync(join(dir, name), readFileSync(unitFile(name), "utf8").replaceAll("/usr/bin/lmcp", binary));
    copyFileSync(join(dir, "lmcp@.service"), join(dir, "lmcp@riemann-tools.service"));
    const env = { ...process.env, MANPATH: join(dir, "man"), SYSTEMD_LOG_LEVEL: "warning" };
    const r = Bun.spawnSync(["systemd-analyze", "verify", ...["lmcp.service", "lmcp-hub.service", "lmcp@riemann-tools.service"].map((u) => join(dir, u))], { env });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);

    mkdirSync(join(dir, "user"), { recursive: true });
    mkdirSync(join(dir, "runtime"), { recursive: true, mode: 0o700 });
    const prefix = join(dir, "prefix");
    mkdirSync(join(prefix, "bin"), { recursive: true });
    copyFileSync(binary, join(prefix, "bin/lmcp"));
    const printed = Bun.spawnSync(["bash", join(root, "install/install.sh"), "--print-service", "--user", "--prefix", prefix], { env: { ...env, HOME: dir } });
    writeFileSync(join(dir, "user/lmcp.service"), printed.stdout);
    const user = Bun.spawnSync(["systemd-analyze", "--user", "verify", join(dir, "user/lmcp.service")], { env: { ...env, XDG_RUNTIME_DIR: join(dir, "runtime") } });
    expect(user.stderr.toString()).toBe("");
    expect(user.exitCode).toBe(0);
  });
  if (!have("systemd-analyze")) console.log("systemd-analyze is not installed: skipped `systemd-analyze verify` (apt-get install systemd)");
});

test.skipIf(process.getuid?.() !== 0)("install.sh, as root, writes lmcp.service and lmcp-hub.service with the packaged directives and its own ExecStart", () => {
  for (const [name, flags] of [["lmcp.service", []], ["lmcp-hub.service", ["--hub"]]] as const) {
    const r = Bun.spawnSync(["bash", join(root, "install/install.sh"), "--print-service", "--prefix", "/opt/lmcp", ...flags], { env: { PATH: process.env.PATH, HOME: tmpdir() } });
    expect(r.exitCode).toBe(0);
    const packaged = directives(readFileSync(unitFile(name), "utf8").replace("ExecStart=/usr/bin/lmcp", "ExecStart=/opt/lmcp/bin/lmcp"));
    expect(directives(r.stdout.toString())).toEqual(packaged);
  }
});
