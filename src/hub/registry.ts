// The hub's registry, backends.toml: one [[backend]] table per host, validated
// with zod; errors name the file, the backend and the key.
//
// Keys of a [[backend]]: name, url, token | token_file | token_env, ssh,
// ssh_port, ssh_options, tags, and allowed_paths: the roots (paths on that
// host; `~` is its ssh user's home) the file tools may use over the SSH
// fallback, checked there on real paths, as the backend's own lmcp checks its
// allowed_paths. Unset: anywhere the ssh user can, less lmcp's secrets.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { ConfigError, keyLine, parseToml } from "../config/file.ts";
import { readTokenFile } from "../config/tokens.ts";

/** `[user@]host`, where neither part may start with `-` (no `-oProxyCommand=` through the registry). */
const sshTarget = z
  .string()
  .regex(/^(?:[^@\s-][^@\s]*@)?[^@\s-][^@\s]*$/, 'must be "host" or "user@host", without spaces, and neither part may start with "-"');

export const backendSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be letters, digits, '.', '_' or '-' (at most 63), starting with a letter or digit"),
    url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL ending in the server's /mcp path" }).optional(),
    token: z.string().min(1).optional(),
    token_file: z.string().min(1).optional(),
    token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name").optional(),
    ssh: sshTarget.optional(),
    ssh_port: z.int().min(1).max(65535).optional(),
    ssh_options: z.array(z.string()).optional(),
    tags: z.array(z.string().min(1)).optional(),
    allowed_paths: z.array(z.string().min(1)).optional(),
  })
  .strict();

const registrySchema = z.object({ backend: z.array(backendSchema).default([]) }).strict();

export type BackendEntry = z.output<typeof backendSchema>;

/** A backend as the hub uses it: the registry entry with its token resolved. */
export interface Backend {
  name: string;
  url: string | undefined;
  /** Sent as `Authorization: Bearer` on every call; never logged. */
  token: string | undefined;
  ssh: string | undefined;
  ssh_port: number | undefined;
  ssh_options: string[];
  tags: string[];
  /** Where the token came from, when a file: a secret the SSH fallback never reads or writes (the backend may be the hub's own host). */
  tokenFile: string | undefined;
  /** Roots for the file tools over SSH, on that host; undefined = anywhere its ssh user can. */
  allowedPaths: string[] | undefined;
  /** Where the host came from (the first source naming it); undefined: backends.toml. */
  source?: "backends.toml" | "ssh_config" | "ansible";
}

/** Where in the file a backend's key sits: the line of `key =` after the n-th `[[backend]]`. */
function backendKeyLine(text: string, index: number, key: string): number {
  const lines = text.split("\n");
  let seen = -1;
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*\[\[\s*backend\s*\]\]/.test(lines[i]!)) {
      seen++;
      if (seen === index) {
        start = i;
        break;
      }
    }
  }
  const rest = lines.slice(start).join("\n");
  const rel = key ? keyLine(rest, key) : 1;
  return rel ? start + rel : start + 1;
}

function describe(error: z.ZodError, file: string, text: string, raw: { backend?: { name?: unknown }[] }): string {
  return error.issues
    .map((issue) => {
      const [top, index, key] = issue.path;
      if (top !== "backend" || typeof index !== "number") {
        if (issue.code === "unrecognized_keys") return `${file}: unknown top-level key "${issue.keys[0]}"; the registry holds only [[backend]] tables`;
        if (top === "backend" && issue.code === "invalid_type" && issue.expected === "array") {
          const line = keyLine(text, "backend");
          return `${file}${line ? `:${line}` : ""}: [backend] is one table; each host is a [[backend]] table (two brackets)`;
        }
        return `${file}: ${issue.message}`;
      }
      const name = raw.backend?.[index]?.name;
      const who = typeof name === "string" ? `backend "${name}"` : `backend #${index + 1}`;
      if (issue.code === "unrecognized_keys") {
        const k = issue.keys[0] ?? "";
        return `${file}:${backendKeyLine(text, index, k)}: ${who}: unknown key "${k}" (known keys: ${Object.keys(backendSchema.shape).join(", ")})`;
      }
      const k = typeof key === "string" ? key : "";
      return `${file}:${backendKeyLine(text, index, k)}: ${who}: key "${k}": ${issue.message}`;
    })
    .join("\n");
}

/** Checks what zod cannot see alone: one way to reach a host, one token source, a readable token. */
export function resolveBackend(entry: BackendEntry, file: string, line: number): Backend {
  const where = `${file}:${line}: backend "${entry.name}"`;
  if (!entry.url && !entry.ssh) throw new ConfigError(`${where}: needs url (its lmcp server) or ssh (SSH-only), or both`);
  const sources = [entry.token, entry.token_file, entry.token_env].filter((s) => s !== undefined).length;
  if (sources > 1) throw new ConfigError(`${where}: give one of token, token_file or token_env, not several`);
  if (entry.url && sources === 0) throw new ConfigError(`${where}: has a url but no token; add token_file (or token, or token_env)`);
  let token: string | undefined;
  const tokenFile = entry.token_file === undefined ? undefined : resolve(entry.token_file);
  if (entry.token !== undefined) token = entry.token;
  else if (entry.token_file !== undefined) {
    try {
      token = readTokenFile(tokenFile!)[0];
    } catch (err) {
      throw new ConfigError(`${where}: key "token_file": ${(err as Error).message}`);
    }
  } else if (entry.token_env !== undefined) {
    token = process.env[entry.token_env];
    if (!token) throw new ConfigError(`${where}: key "token_env": environment variable ${entry.token_env} is not set or empty`);
  }
  return {
    name: entry.name,
    url: entry.url,
    token,
    ssh: entry.ssh,
    ssh_port: entry.ssh_port,
    ssh_options: entry.ssh_options ?? [],
    tags: entry.tags ?? [],
    tokenFile,
    allowedPaths: entry.allowed_paths,
  };
}

/** A registry's text validated (schema, unique names) without resolving tokens: entries and the line each starts on. */
export function parseRegistry(text: string, file: string): { entry: BackendEntry; line: number }[] {
  const raw = parseToml(text, file);
  const parsed = registrySchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describe(parsed.error, file, text, raw as { backend?: { name?: unknown }[] }));
  const seen = new Set<string>();
  return parsed.data.backend.map((entry, i) => {
    const line = backendKeyLine(text, i, "");
    if (seen.has(entry.name)) throw new ConfigError(`${file}:${line}: backend "${entry.name}" is defined twice; names must be unique`);
    seen.add(entry.name);
    return { entry, line };
  });
}

/** Reads and validates a registry file; any problem is a ConfigError naming file, backend and key. */
export function loadRegistry(file: string): Backend[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `backends file ${file} ${code === "ENOENT" ? "does not exist; add a host with `lmcp hub add NAME --url URL --token-file FILE` (it creates the file), or pass --backends" : `cannot be read: ${(err as Error).message}`}`,
    );
  }
  return parseRegistry(text, file).map(({ entry, line }) => resolveBackend(entry, file, line));
}
