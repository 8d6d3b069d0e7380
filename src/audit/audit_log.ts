// The audit log: one JSON line per tool call that changes something or runs a
// command, and per refusal (who, what, where, how it ended), hash-chained, to a
// file rotated by size, or to stderr (journald under systemd). Never the token,
// never file contents.
import { sha256Hex } from "../crypto.ts";
import { logEvent, writeStderr } from "../http/log.ts";
import { FileAudit, auditFilePaths } from "./audit_file.ts";
import { type ChainHead, chainLine, freshChain } from "./audit_line.ts";

export { FileAudit, auditFilePaths };

export interface AuditEntry {
  time: string;
  client: string;
  token: string;
  tool: string;
  host?: string;
  via?: string;
  path?: string;
  command?: string;
  cwd?: string;
  /** shell_bg's log file. */
  log_path?: string;
  job_id?: string;
  /** remote_copy's two ends. */
  from_host?: string;
  from_path?: string;
  to_host?: string;
  to_path?: string;
  /** A PTY session's id (session_* tools); what is typed into it is never recorded. */
  session_id?: string;
  exit_code?: number | null;
  /** A command run as root through sudo: true when asked; "nopasswd" or "password" once it ran (how sudo let it). */
  sudo?: true | "nopasswd" | "password";
  bytes?: number;
  sha256?: string;
  /** "denied": refused by policy (a read-only token, a path outside allowed_paths or protected), reads included. */
  /** "cancelled": the client hung up or sent notifications/cancelled before the call ended, whatever the tool returned. */
  outcome: "ok" | "error" | "denied" | "cancelled";
  error?: string;
  duration_ms: number;
  /** The W3C trace context of the call, when the client sent one. */
  traceparent?: string;
}

export interface AuditSink {
  /** Never throws: a sink that cannot write says so on stderr, and the call's answer goes out regardless. */
  write(entry: AuditEntry): void;
}

/**
 * For journald: systemd stores stderr lines; `audit ` marks them for grep and filters. The chain runs within one
 * process's life (a restart begins at genesis): `journalctl -u lmcp -o cat | lmcp audit verify -` checks it.
 */
export class StderrAudit implements AuditSink {
  private head: ChainHead = freshChain();

  write(entry: AuditEntry): void {
    const { line, next } = chainLine(entry, this.head);
    this.head = next;
    writeStderr(`audit ${line}\n`);
  }
}

/**
 * The sink for a resolved audit_log setting (see resolveCommon): undefined when off, stderr for "stderr" and
 * "journald", else the file. `note` receives operational messages (a torn tail, a failing disk); stderr by default.
 */
export function openAudit(setting: string | undefined, maxBytes?: number, note: (message: string) => void = logEvent): AuditSink | undefined {
  if (!setting || setting === "off") return undefined;
  if (setting === "stderr" || setting === "journald") return new StderrAudit();
  return new FileAudit(setting, maxBytes, undefined, note);
}

/** The files the file tools must never read or write for this setting: the audit file and its rotations. */
export function auditFilesOf(setting: string | undefined): string[] {
  if (!setting || setting === "off" || setting === "stderr" || setting === "journald") return [];
  return auditFilePaths(setting);
}

const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The audit entry for one call, from its arguments and result; what is worth keeping, bounded in size. */
export function auditEntry(
  tool: string,
  args: Record<string, unknown>,
  result: { ok: true; data: Record<string, unknown> } | { ok: false; error: string; denied?: boolean },
  who: { client: string; token: string },
  durationMs: number,
  trace?: { traceparent?: string; cancelled?: boolean },
): AuditEntry {
  const e: AuditEntry = { time: new Date().toISOString(), client: who.client, token: who.token, tool, outcome: result.ok ? "ok" : "error", duration_ms: Math.round(durationMs) };
  if (trace?.traceparent) e.traceparent = short(trace.traceparent, 128);
  if (typeof args.host === "string") e.host = short(args.host, 256);
  if (typeof args.path === "string") e.path = short(args.path, 1024);
  if (typeof args.command === "string") e.command = short(args.command, 4096);
  if (typeof args.cwd === "string") e.cwd = short(args.cwd, 1024);
  if (typeof args.log_path === "string") e.log_path = short(args.log_path, 1024);
  if (typeof args.job_id === "string") e.job_id = short(args.job_id, 128);
  if (args.sudo === true) e.sudo = true;
  if (typeof args.session_id === "string") e.session_id = short(args.session_id, 64);
  for (const k of ["from_host", "to_host"] as const) if (typeof args[k] === "string") e[k] = short(args[k] as string, 256);
  for (const k of ["from_path", "to_path"] as const) if (typeof args[k] === "string") e[k] = short(args[k] as string, 1024);
  if (typeof args.content === "string") {
    const bytes = args.encoding === "base64" ? Buffer.from(args.content, "base64") : Buffer.from(args.content, "utf8");
    e.sha256 = sha256Hex(bytes);
  }
  if (result.ok) {
    const d = result.data;
    if (typeof d.via === "string") e.via = d.via;
    if (typeof d.exit_code === "number" || d.exit_code === null) e.exit_code = d.exit_code as number | null;
    if (typeof d.bytes_written === "number") e.bytes = d.bytes_written;
    if (typeof d.sha256 === "string") e.sha256 = d.sha256;
    if (typeof d.job_id === "string") e.job_id = d.job_id;
    if (typeof d.session_id === "string") e.session_id = d.session_id;
    if (typeof d.bytes_sent === "number") e.bytes = d.bytes_sent;
    if (d.sudo === "nopasswd" || d.sudo === "password") e.sudo = d.sudo;
  } else {
    e.outcome = result.denied ? "denied" : "error";
    e.error = short(result.error, 500);
  }
  if (trace?.cancelled) e.outcome = "cancelled";
  return e;
}
