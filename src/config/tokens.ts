// Token files: minting, reading (several tokens, one per line, # comments), and
// the first-start default that keeps auth on without any set-up.
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "./file.ts";

/** 32 random bytes, base64url: what `lmcp token` prints and servers mint. */
export function mintToken(): string {
  return randomBytes(32).toString("base64url");
}

/** One token per line; `#` starts a comment; anything after the token on a line is reserved for options. */
export function parseTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const token = line.split(/\s+/)[0];
    if (token) tokens.push(token);
  }
  return tokens;
}

export function readTokenFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ConfigError(`token file ${file} does not exist; create one with: lmcp token --out ${file}`);
    if (code === "EACCES") throw new ConfigError(`token file ${file} is not readable by uid ${process.getuid?.()} (permission denied)`);
    throw new ConfigError(`token file ${file}: ${String(err)}`);
  }
  const tokens = parseTokens(text);
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
export function ensureTokenFile(file: string): { tokens: string[]; minted: boolean } {
  if (!existsSync(file)) {
    try {
      writeTokenFile(file, mintToken());
      return { tokens: readTokenFile(file), minted: true };
    } catch (err) {
      // Another process may have minted it first; reading it below settles that.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        if (err instanceof ConfigError) throw err;
        throw new ConfigError(`cannot create token file ${file}: ${(err as Error).message}; pass --token-file or set LMCP_TOKEN`);
      }
    }
  }
  return { tokens: readTokenFile(file), minted: false };
}
