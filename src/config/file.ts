// Reads a TOML config file and validates it with a zod schema; every failure
// becomes a ConfigError naming the file, the key, its line and what was expected.
import { readFileSync } from "node:fs";
import { z } from "zod";

/** A usage or configuration error: the CLI prints it and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses TOML text; on a syntax error, finds the first line where the file stops parsing. */
export function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/^TOML Parse error: /, "");
    throw new ConfigError(`${file}:${tomlErrorLine(text)}: invalid TOML: ${reason}`);
  }
}

/** Bun's TOML errors carry no position: the error is on the line after the longest prefix that still parses. */
function tomlErrorLine(text: string): number {
  const lines = text.split("\n");
  for (let n = lines.length - 1; n > 0; n--) {
    try {
      Bun.TOML.parse(lines.slice(0, n).join("\n"));
      return n + 1;
    } catch {
      // keep shrinking
    }
  }
  return 1;
}

/** The 1-based line where `key` is assigned or opens a table (`[key]`, `[[key]]`), for error messages; 0 when not found. */
export function keyLine(text: string, key: string): number {
  const k = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`^\\s*(?:["']?${k}["']?\\s*=|\\[\\[?\\s*["']?${k}["']?\\s*\\]\\]?)`);
  const idx = text.split("\n").findIndex((l) => re.test(l));
  return idx + 1;
}

/** The line of `key` in a config file already read once (for errors found after loading); 0 when unknown. */
export function keyLineInFile(file: string | undefined, key: string): number {
  if (!file) return 0;
  try {
    return keyLine(readFileSync(file, "utf8"), key);
  } catch {
    return 0;
  }
}

/** True when the file opens `key` as one table (`[key]`), where a list of tables (`[[key]]`) belongs. */
function singleTableHeader(text: string, key: string): boolean {
  const k = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^\\s*\\[\\s*["']?${k}["']?\\s*\\]\\s*(#.*)?$`, "m").test(text);
}

/** Turns the first zod issue into "file:line: key "x": expected …" with the list of known keys for typos. */
export function describeIssues(error: z.ZodError, file: string, text: string, knownKeys: string[]): string {
  return error.issues
    .map((issue) => {
      if (issue.code === "unrecognized_keys") {
        const key = issue.keys[0] ?? "";
        const where = [...issue.path.map(String), key].join(".");
        return `${file}:${keyLine(text, key) || 1}: unknown key "${where}" (known keys: ${knownKeys.join(", ")})`;
      }
      const path = issue.path.map(String).join(".") || "(file)";
      const leaf = String(issue.path.findLast((p) => typeof p === "string") ?? "");
      const line = leaf ? keyLine(text, leaf) : 0;
      // `[backend]` where `[[backend]]` was meant: a table where a list of tables belongs.
      const hint = issue.code === "invalid_type" && issue.expected === "array" && singleTableHeader(text, leaf) ? `; write [[${leaf}]] (two brackets) for each entry` : "";
      return `${file}${line ? `:${line}` : ""}: key "${path}": ${issue.message}${hint}`;
    })
    .join("\n");
}

/** Loads and validates one config file. A missing file is an error here; callers decide whether a file is optional. */
export function loadConfigFile<S extends z.ZodObject>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable (permission denied)" : String(err);
    throw new ConfigError(`config file ${file} ${why}`);
  }
  const raw = parseToml(text, file);
  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error, file, text, Object.keys(schema.shape)));
  return result.data;
}
