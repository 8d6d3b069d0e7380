// The files lmcp keeps its own secrets and policy in, for the file policy
// (src/policy): the file tools never read or write them, whatever the token,
// so an agent can neither take a token nor change the rules it runs under.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { PolicySources } from "../policy/rules.ts";
import { lmcpOwnFiles, systemDir, userConfigDir } from "./paths.ts";

/** token_file paths named in a backends.toml (the hub's backends' tokens may sit on a backend's own disk). */
function backendTokenFiles(registry: string): string[] {
  let text: string;
  try {
    text = readFileSync(registry, "utf8");
  } catch {
    return [];
  }
  try {
    const doc = Bun.TOML.parse(text) as { backend?: unknown };
    const list = Array.isArray(doc.backend) ? doc.backend : [];
    return list.flatMap((b) => {
      const f = (b as { token_file?: unknown }).token_file;
      // The hub resolves a relative token_file against its own cwd, unknown here: protect both readings.
      return typeof f === "string" && f !== "" ? (isAbsolute(f) ? [f] : [resolve(dirname(registry), f), resolve(f)]) : [];
    });
  } catch {
    return []; // the hub reports a broken registry itself
  }
}

/**
 * What lmcp keeps in its state dir, readable (job logs, spool files) but never written by a tool: a
 * forged job record would point shell_bg_kill at any pid. Only these, not the whole state dir: the
 * system service's state dir is also the agent's home.
 */
const stateSubdirs = ["jobs", "spool", "pending-writes"];

export interface SecretInputs {
  configFile: string | undefined;
  tokenFile: string | undefined;
  auditFile: string | undefined;
  stateDir: string;
  allowedPaths: string[] | undefined;
  /** Registries to look in for backend token files, besides the default locations. */
  registries?: string[];
  /** More of lmcp's own secret files (the metrics token file). */
  extraFiles?: string[];
}

export function secretSources(s: SecretInputs): PolicySources {
  const registries = [join(systemDir, "backends.toml"), join(userConfigDir(), "backends.toml"), ...(process.env.LMCP_HUB_BACKENDS ? [resolve(process.env.LMCP_HUB_BACKENDS)] : []), ...(s.registries ?? [])];
  const files = [...lmcpOwnFiles(), ...registries, ...registries.flatMap(backendTokenFiles)];
  // Both roles' default audit logs: the system serve and hub share one state dir.
  for (const f of [s.configFile, s.tokenFile, s.auditFile, join(s.stateDir, "audit.jsonl"), join(s.stateDir, "hub-audit.jsonl"), ...(s.extraFiles ?? [])]) if (f) files.push(f);
  return { allowedPaths: s.allowedPaths, secretDirs: [systemDir, userConfigDir()], secretFiles: files, writeProtectedDirs: stateSubdirs.map((d) => join(s.stateDir, d)) };
}
