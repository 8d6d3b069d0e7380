// `lmcp hub add`: checks one host as the hub's registry loader would, then appends it
// as a [[backend]] table to backends.toml, keeping the file's text, and replaces it atomically.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError } from "../config/file.ts";
import { locateBackendsFile } from "../config/hub.ts";
import { readForRewrite, rewriteFile } from "../config/rewrite.ts";
import { parseTokens, tokenFileTooOpen } from "../config/tokens.ts";
import { type BackendEntry, backendSchema, parseRegistry, resolveBackend } from "../hub/registry.ts";
import { lmcpCommandName } from "../version.ts";
import { parseFlags } from "./args.ts";

export const hubAddHelp = `Usage: lmcp hub add NAME --url URL --token-file FILE [--ssh USER@HOST] [--tag TAG ...]
       lmcp hub add NAME --ssh USER@HOST [--tag TAG ...]        (SSH only: no lmcp there)

Adds a host to the hub's registry (backends.toml) as a [[backend]] table, after
checking it as the hub will. The file keeps its other text and comments; it is
created (mode 0600, directory 0700) if absent. A running hub reads it on SIGHUP.

  NAME               what the tools' \`host\` argument names: letters, digits, . _ -
  --url URL          the host's lmcp server, e.g. http://riemann.lan:8765/mcp
  --token-file FILE  a file holding that server's token (readable by the hub's user);
                     stored as an absolute path
  --ssh USER@HOST    SSH fallback when its lmcp is down (without --url: the only way in)
  --tag TAG          a tag, for remote_shell_many and lmcp hosts --tag (repeatable)
  --backends FILE    the registry [LMCP_HUB_BACKENDS]; default /etc/lmcp/backends.toml
                     for a system service or when it exists, else ~/.config/lmcp/backends.toml
  --config FILE      a hub.toml whose \`backends\` names the registry [LMCP_CONFIG]
  -h, --help         this help

ssh_port, ssh_options and allowed_paths: edit the table in the file (see its comments).
`;

/** What to do when the registry cannot be read or written. */
const OWNER_FIX = "run as the file's owner (sudo for /etc/lmcp), or pass --backends FILE";

/** Which flag set each registry key, so a schema error names what the user typed. */
const flagOf: Record<string, string> = { name: "NAME", url: "--url", token_file: "--token-file", ssh: "--ssh", tags: "--tag" };

/** A TOML basic string; control characters escaped, so any path survives the round trip. */
function tomlString(s: string): string {
  if (!s.isWellFormed()) throw new ConfigError(`hub add: ${JSON.stringify(s)} is not valid Unicode`);
  const escaped = s.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  return `"${escaped}"`;
}

function backendTable(e: BackendEntry): string {
  const lines = ["[[backend]]", `name = ${tomlString(e.name)}`];
  if (e.url !== undefined) lines.push(`url = ${tomlString(e.url)}`);
  if (e.token_file !== undefined) lines.push(`token_file = ${tomlString(e.token_file)}`);
  if (e.ssh !== undefined) lines.push(`ssh = ${tomlString(e.ssh)}`);
  if (e.tags?.length) lines.push(`tags = [${e.tags.map(tomlString).join(", ")}]`);
  return `${lines.join("\n")}\n`;
}

/** The token file must already hold the backend's token: a fresh one would only be refused by that server. */
function checkTokenFile(tokenFile: string | undefined, url: string | undefined): void {
  if (tokenFile === undefined) return;
  const fix = `put the token of the lmcp server at ${url} in it, mode 0600 (on that host: its ~/.config/lmcp/token, or /etc/lmcp/token for a system service)`;
  let text: string;
  try {
    text = readFileSync(tokenFile, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? `is not readable by uid ${process.getuid?.()} (permission denied)` : code === "EISDIR" ? "is a directory" : (err as Error).message;
    throw new ConfigError(`hub add: --token-file ${tokenFile} ${why}; ${fix}`);
  }
  if (parseTokens(text).length === 0) throw new ConfigError(`hub add: --token-file ${tokenFile} holds no token; ${fix}`);
}

/** The entry the flags describe, checked with the registry's own schema and rules. */
function entryFromFlags(name: string, v: { url?: string; "token-file"?: string; ssh?: string; tag?: string[] }, file: string): BackendEntry {
  if (v.url === undefined && v.ssh === undefined) throw new ConfigError("hub add: give --url (the host's lmcp server) and --token-file, or --ssh USER@HOST for an SSH-only host, or both");
  if (v.url !== undefined && v["token-file"] === undefined) throw new ConfigError("hub add: --url needs --token-file FILE, a file holding that server's token");
  if (v.url === undefined && v["token-file"] !== undefined) throw new ConfigError("hub add: --token-file is the token of the --url server; without --url the host is reached over SSH only");
  const tags = v.tag === undefined ? undefined : [...new Set(v.tag)];
  const raw = { name, url: v.url, token_file: v["token-file"] === undefined ? undefined : resolve(v["token-file"]), ssh: v.ssh, tags };
  const parsed = backendSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "");
    const given = raw[key as keyof typeof raw];
    throw new ConfigError(`hub add: ${flagOf[key] ?? key}${typeof given === "string" ? ` "${given}"` : ""}: ${issue.message}`);
  }
  const entry = parsed.data;
  if (entry.url !== undefined && new URL(entry.url).pathname === "/") {
    throw new ConfigError(`hub add: --url "${entry.url}" has no path; lmcp serves at /mcp, e.g. ${new URL("/mcp", entry.url).href}`);
  }
  checkTokenFile(entry.token_file, entry.url);
  resolveBackend(entry, file, 0); // the loader's remaining rules, so the hub will accept what is written
  return entry;
}

export function hubAddCommand(argv: string[]): number {
  const { values, positionals } = parseFlags(
    "hub add",
    argv,
    {
      url: { type: "string" },
      "token-file": { type: "string" },
      ssh: { type: "string" },
      tag: { type: "string", multiple: true },
      backends: { type: "string" },
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(hubAddHelp);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new ConfigError(`hub add: ${positionals.length === 0 ? "name the host" : `one NAME only, got ${positionals.length}: ${positionals.join(" ")}`}; usage: lmcp hub add NAME --url URL --token-file FILE`);
  }
  const name = positionals[0]!;
  const file = locateBackendsFile(values);
  const { text, stat } = readForRewrite(file, "hub add", OWNER_FIX);
  let existing: ReturnType<typeof parseRegistry>;
  try {
    existing = parseRegistry(text, file);
  } catch (err) {
    throw new ConfigError(`hub add: fix the registry first (nothing was added):\n${(err as Error).message}`);
  }
  const twin = existing.find((e) => e.entry.name === name);
  if (twin) throw new ConfigError(`hub add: ${file}:${twin.line} already has a backend "${name}"; pick another NAME, or edit that table`);
  const entry = entryFromFlags(name, values, file);

  const table = backendTable(entry);
  const sep = text === "" ? "" : text.endsWith("\n") ? (text.endsWith("\n\n") ? "" : "\n") : "\n\n";
  const next = `${text}${sep}${table}`;
  // The written file must read back as the old entries plus this one, or nothing is written.
  const reread = parseRegistry(next, file).map((e) => e.entry);
  if (JSON.stringify(reread) !== JSON.stringify([...existing.map((e) => e.entry), entry])) throw new Error(`the new ${file} would not read back as written; nothing was added`);
  rewriteFile(file, next, stat, text, "hub add", OWNER_FIX);

  if (entry.token_file && tokenFileTooOpen(entry.token_file)) {
    process.stderr.write(`lmcp: warning: ${entry.token_file} is readable by group or others; chmod 600 it (the token opens a shell on ${name})\n`);
  }
  process.stdout.write(
    `${stat ? `added host "${name}" to ${file}` : `created ${file} with host "${name}"`}:\n\n${table}\n` +
      "A running hub picks it up on SIGHUP: `systemctl reload lmcp-hub` (system service) or `kill -HUP <hub pid>`; a hub started now reads it.\n" +
      `Then \`${lmcpCommandName} hosts\` shows it.\n`,
  );
  return 0;
}
