// `lmcp audit verify`: checks the audit log's hash chain, from the configured file
// (and its rotations) or the files named, and says where it breaks.
import { readFileSync } from "node:fs";
import { auditKeep, existingAuditFiles } from "../audit/audit_file.ts";
import { type AuditSource, verifyChain } from "../audit/audit_verify.ts";
import { ConfigError } from "../config/file.ts";
import { resolveHubSettings } from "../config/hub.ts";
import { resolveServeSettings } from "../config/server.ts";
import { parseFlags } from "./args.ts";

export const auditHelp = `Usage: lmcp audit verify [--config FILE] [--hub] [--partial] [FILE... | -]

Checks the audit log's hash chain and prints "ok: N entries", or the first
broken line and why (exit 0 when whole, 1 when broken).

  FILE...     audit files, oldest first: lmcp audit verify FILE.2 FILE.1 FILE.
              Default: the audit file of lmcp serve's config (of lmcp hub's with
              --hub) with its rotated files, oldest first.
  -           read journal text from stdin, e.g. under systemd:
                journalctl -u lmcp -o cat | lmcp audit verify -
  --config FILE  the config that names audit_log [LMCP_CONFIG]
  --hub       use lmcp hub's config and audit file (default: lmcp serve's)
  --partial   the first line may chain to entries rotated away
  -h, --help  this help

Where it is: audit_log in the config (or LMCP_AUDIT_LOG) names a file,
"journald"/"stderr" (lines on stderr, prefixed "audit "), or "off". Unset, it is
journald when lmcp runs under systemd with its stderr in the journal, else
STATE_DIR/audit.jsonl (the hub's: STATE_DIR/hub-audit.jsonl), mode 0600. The
file rotates at audit_max_bytes to FILE.1 ... FILE.${auditKeep}.

Format: one JSON object per line (JSONL), one line per call that changes
something or runs a command, and per refusal ("outcome":"denied"). Every
control, format and line-separator character is escaped as \\uXXXX, so a line
break is always LF. Each line starts with
  "seq"   1 for the first entry, then +1 per entry, across rotations and restarts
  "prev"  sha256 (hex) of the line before, as bytes without its newline; the
          first line of a fresh log has 64 zeros
then time, client, token (its name, never the token), tool, host, via, path,
command, cwd, log_path, job_id, exit_code, bytes, sha256 (of written content),
sudo (true when asked; "nopasswd" or "password" once it ran), outcome (ok,
error, denied, cancelled), error, duration_ms, traceparent. "lost": N says N
entries before it could not be written (a full disk); "torn": true says the
line before it was cut short when lmcp stopped mid-write.

What it shows: a line changed, removed or inserted breaks the chain at the
line after it (the last line's, once lmcp writes the next entry); a file cut
mid-line ends torn; a removed start fails line 1. What it cannot show: lines
cut from the end while lmcp is stopped, or a file rewritten whole and chained
anew by whoever can write it: ship the lines off the host (journald
forwarding, syslog) for that.
`;

function readSource(file: string): AuditSource {
  try {
    return { name: file, bytes: readFileSync(file) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === "ENOENT" ? "no such file"
      : e.code === "EACCES" ? "permission denied (the audit file is mode 0600: run this as the user lmcp runs as, e.g. sudo -u lmcp lmcp audit verify FILE)"
      : e.message;
    throw new Error(`cannot read ${file}: ${why}`);
  }
}

/** The configured audit files, oldest first, and whether the oldest is a rotation whose start fell off. */
function configuredFiles(hub: boolean, config: string | undefined): { files: string[]; partial: boolean } {
  const settings = hub ? resolveHubSettings({ config }) : resolveServeSettings({ config });
  const setting = settings.auditLog;
  if (setting === undefined) throw new ConfigError('audit: the audit log is off (audit_log = "off"); name a file to check: lmcp audit verify FILE');
  if (setting === "journald" || setting === "stderr") {
    throw new ConfigError(`audit: the audit log goes to stderr here (${setting}); check it with: journalctl -u ${hub ? "lmcp-hub" : "lmcp"} -o cat | lmcp audit verify -`);
  }
  const files = existingAuditFiles(setting);
  if (files.length === 0) throw new Error(`no audit file at ${setting} yet: lmcp writes it at the first call that changes something (or pass --config, --hub or a FILE)`);
  return { files, partial: files[0] === `${setting}.${auditKeep}` };
}

export async function auditCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "audit",
    argv,
    { config: { type: "string" }, hub: { type: "boolean" }, partial: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    true,
  );
  if (values.help) {
    process.stdout.write(auditHelp);
    return 0;
  }
  const [action, ...names] = positionals;
  if (action !== "verify") {
    process.stderr.write(`lmcp audit: ${action === undefined ? "say what to do" : `unknown action "${action}"`}; the one action is verify\n\n${auditHelp}`);
    return 2;
  }
  const fromStdin = names.length === 1 && names[0] === "-";
  if (names.includes("-") && !fromStdin) throw new ConfigError("audit: - (stdin) cannot be mixed with files");
  let sources: AuditSource[];
  let partial = values.partial === true;
  if (fromStdin) sources = [{ name: "stdin", bytes: new Uint8Array(await Bun.stdin.arrayBuffer()) }];
  else if (names.length > 0) sources = names.map(readSource);
  else {
    const found = configuredFiles(values.hub === true, values.config);
    sources = found.files.map(readSource);
    partial ||= found.partial;
  }

  const result = verifyChain(sources, { partial, journal: fromStdin });
  if (!result.ok) {
    process.stdout.write(`broken: ${result.name} line ${result.line}: ${result.reason}\n(${result.entries} entries before it check out)\n`);
    return 1;
  }
  const range = result.entries > 0 ? ` (seq ${result.firstSeq}-${result.lastSeq})` : "";
  const across = sources.length > 1 ? ` across ${sources.length} files` : "";
  process.stdout.write(`ok: ${result.entries} entries${range}${across}\n${result.notes.map((n) => `note: ${n}\n`).join("")}`);
  return 0;
}
