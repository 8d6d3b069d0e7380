// The launchd agents (packaging/launchd/*.plist): well-formed plists that run
// lmcp serve or hub as a user agent, and the installer writes the same thing.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, type PlistValue } from "plist";
import { root } from "../../packaging/config.ts";

type Dict = Record<string, PlistValue>;
const plistFile = (role: string) => join(root, "packaging/launchd", `dev.lmcp.${role}.plist`);
const load = (text: string) => parse(text) as Dict;

describe.each(["serve", "hub"])("dev.lmcp.%s.plist", (role) => {
  const text = readFileSync(plistFile(role), "utf8");
  const agent = load(text);

  test("is an XML property list with Apple's DOCTYPE and no `--` inside a comment", () => {
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN"')).toBe(true);
    for (const [, body] of text.matchAll(/<!--([\s\S]*?)-->/g)) expect(body).not.toContain("--");
  });

  test(`runs lmcp ${role} from the binary the installer names, labelled dev.lmcp.${role}`, () => {
    expect(agent.Label).toBe(`dev.lmcp.${role}`);
    const args = agent.ProgramArguments as string[];
    expect(args.slice(0, 2)).toEqual(["@LMCP_BIN@", role]);
    if (role === "hub") expect(args.slice(2)).toEqual(["--backends", "@CONFIG_DIR@/backends.toml"]);
    else expect(args).toHaveLength(2);
  });

  test("starts at load, restarts after a crash but not after a clean exit, logs to one file", () => {
    expect(agent.RunAtLoad).toBe(true);
    expect(agent.KeepAlive).toEqual({ SuccessfulExit: false });
    expect(agent.StandardOutPath).toBe(`@LOG_DIR@/${role}.log`);
    expect(agent.StandardErrorPath).toBe(agent.StandardOutPath);
    expect(agent.ProcessType).toBe("Interactive");
    expect(agent.ExitTimeOut).toBeGreaterThan(10); // more than shutdown_grace_s
    expect((agent.EnvironmentVariables as Dict).PATH).toMatch(/^\/opt\/homebrew\/bin:\/usr\/local\/bin:.*\/usr\/bin:\/bin/);
  });

  test("install.sh writes the same agent with absolute paths filled in", () => {
    const home = "/Users/ada";
    const r = Bun.spawnSync(["bash", join(root, "install/install.sh"), "--print-service", "--user", ...(role === "hub" ? ["--hub"] : [])], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LMCP_INSTALL_OS: "darwin", LMCP_INSTALL_ARCH: "arm64" },
    });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const filled = text
      .replaceAll("@LMCP_BIN@", `${home}/.local/bin/lmcp`)
      .replaceAll("@LOG_DIR@", `${home}/Library/Logs/lmcp`)
      .replaceAll("@CONFIG_DIR@", `${home}/.config/lmcp`);
    const installed = load(r.stdout.toString());
    expect(installed).toEqual(load(filled));
    for (const path of [...(installed.ProgramArguments as string[]), installed.StandardOutPath as string]) {
      if (path.includes("/")) expect(path.startsWith("/")).toBe(true);
    }
  });
});
