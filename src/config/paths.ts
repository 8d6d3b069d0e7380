// Where lmcp looks for its files by default: system-wide under /etc/lmcp when
// that exists for the role, else the user's XDG directories.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export type Role = "serve" | "hub";

export const systemDir = "/etc/lmcp";

export function userConfigDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(homedir(), ".config"), "lmcp");
}

export function userStateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(homedir(), ".local", "state"), "lmcp");
}

const configName: Record<Role, string> = { serve: "lmcp.toml", hub: "hub.toml" };
const tokenName: Record<Role, string> = { serve: "token", hub: "hub-token" };

/** The config file used when none is named: /etc/lmcp/… if present, else ~/.config/lmcp/… if present. */
export function defaultConfigFile(role: Role): string | undefined {
  for (const dir of [systemDir, userConfigDir()]) {
    const file = join(dir, configName[role]);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** A system service: a unit that sets LMCP_SYSTEM=1, or root without a HOME (an init script). */
export function isSystemService(): boolean {
  return process.env.LMCP_SYSTEM === "1" || (process.getuid?.() === 0 && !process.env.HOME);
}

/**
 * The token file a server mints into, and clients read, when none is configured.
 * A system service uses /etc/lmcp; everyone else their config dir.
 */
export function defaultTokenFile(role: Role): string {
  return join(isSystemService() ? systemDir : userConfigDir(), tokenName[role]);
}

/**
 * The hub's registry when none is named: /etc/lmcp/backends.toml for a system service or when it exists
 * (a package installed it), else the user's ~/.config/lmcp/backends.toml, beside the user's hub-token.
 */
export function defaultBackendsFile(): string {
  const system = join(systemDir, "backends.toml");
  return isSystemService() || existsSync(system) ? system : join(userConfigDir(), "backends.toml");
}

/** Clients (call, hosts, client-config) try the user's token, then the system one. */
export function clientTokenCandidates(role: Role): string[] {
  return [join(userConfigDir(), tokenName[role]), join(systemDir, tokenName[role])];
}

/** Every file lmcp itself reads for config or tokens, for both roles: the file tools never write these. */
export function lmcpOwnFiles(): string[] {
  const files: string[] = [];
  for (const dir of [systemDir, userConfigDir()]) {
    for (const name of [...Object.values(configName), ...Object.values(tokenName), "backends.toml"]) files.push(join(dir, name));
  }
  return files;
}
