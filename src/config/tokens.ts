// Token files: minting, reading (several tokens, one per line, # comments), and
// the first-start default that keeps auth on without any set-up.
import { randomBytes } from "../crypto.ts";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "./file.ts";

/** 32 random bytes, base64url: what `lmcp token` prints and servers mint. */
export function mintToken(): string {
  return randomBytes(32).toString("base64url");
}

export type TokenScope = "full" | "read-only";

/** A token and what it may do. `name` (or a hash prefix) identifies it in logs: the token itself never is. */
export interface TokenEntry {
  token: string;
  scope: TokenScope;
  name: string | undefined;
}

/**
 * One token per line, optionally followed by options: `read-only` (or `scope=read-only`,
 * `scope=full`) and `name=LABEL`; `#` starts a comment. An unknown option is an error
 * naming the line, so a typo never silently grants full access.
 */
export function parseTokenEntries(text: string, file = "token file"): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const [token, ...options] = line.split(/\s+/);
    const entry: TokenEntry = { token: token!, scope: "full", name: undefined };
    for (const opt of options) {
      if (opt === "read-only" || opt === "scope=read-only") entry.scope = "read-only";
      else if (opt === "scope=full") entry.scope = "full";
      else if (/^name=[\w.@-]{1,64}$/.test(opt)) entry.name = opt.slice(5);
      else throw new ConfigError(`${file}:${i + 1}: unknown token option "${opt}"; use read-only, scope=full or name=LABEL`);
    }
    entries.push(entry);
  });
  return entries;
}

/** Just the tokens (what a client sends). */
export const parseTokens = (text: string): string[] => parseTokenEntries(text).map((e) => e.token);

export function readTokenFile(file: string): string[] {
  return readTokenEntries(file).map((e) => e.token);
}

export function readTokenEntries(file: string): TokenEntry[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ConfigError(`token file ${file} does not exist; create one with: lmcp token --out ${file}`);
    if (code === "EACCES") throw new ConfigError(`token file ${file} is not readable by uid ${process.getuid?.()} (permission denied)`);
    throw new ConfigError(`token file ${file}: ${String(err)}`);
  }
  const tokens = parseTokenEntries(text, file);
  if (tokens.length === 0) throw new ConfigError(`token file ${file} holds no token; add one with: lmcp token >> ${file}`);
  return tokens;
}

/** True when group or others can read the file: worth a warning, since the token opens a shell. */
export function tokenFileTooOpen(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/** Writes a new token file with mode 0600, refusing to replace an existing one. */
export function writeTokenFile(file: string, token: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, "wx", 0o600);
  try {
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Reads the default token file, minting it first when absent; never prints the token. */
export function ensureTokenFile(file: string): { tokens: TokenEntry[]; minted: boolean } {
  if (!existsSync(file)) {
    try {
      writeTokenFile(file, mintToken());
      return { tokens: readTokenEntries(file), minted: true };
    } catch (err) {
      // Another process may have minted it first; reading it below settles that.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        if (err instanceof ConfigError) throw err;
        throw new ConfigError(`cannot create token file ${file}: ${(err as Error).message}; pass --token-file or set LMCP_TOKEN`);
      }
    }
  }
  return { tokens: readTokenEntries(file), minted: false };
}
