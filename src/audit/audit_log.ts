// The audit log: one JSON line per tool call that changes something or runs a
// command (who, what, where, how it ended), to a file rotated by size, or to
// stderr (journald under systemd). Never the token, never file contents.
import { sha256Hex } from "../crypto.ts";
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { writeStderr } from "../http/log.ts";

export interface AuditEntry {
  time: string;
  client: string;
  token: string;
  tool: string;
  host?: string;
  via?: string;
  path?: string;
  command?: string;
  job_id?: string;
  exit_code?: number | null;
  bytes?: number;
  sha256?: string;
  outcome: "ok" | "error" | "denied";
  error?: string;
  duration_ms: number;
}

export interface AuditSink {
  write(entry: AuditEntry): void;
}

/** Keeps at most `keep` rotated files (FILE.1 … FILE.keep) besides the live one. */
export class FileAudit implements AuditSink {
  private size: number;

  constructor(
    readonly file: string,
    private readonly maxBytes = 10 * 1024 * 1024,
    private readonly keep = 5,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.size = existsSync(file) ? statSync(file).size : 0;
  }

  write(entry: AuditEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    if (this.size > 0 && this.size + line.length > this.maxBytes) this.rotate();
    appendFileSync(this.file, line, { mode: 0o600 });
    this.size += Buffer.byteLength(line);
  }

  private rotate(): void {
    for (let i = this.keep - 1; i >= 1; i--) {
      if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    }
    renameSync(this.file, `${this.file}.1`);
    this.size = 0;
  }
}

/** For journald: systemd stores stderr lines; `audit ` marks them for grep and filters. */
export class StderrAudit implements AuditSink {
  write(entry: AuditEntry): void {
    writeStderr(`audit ${JSON.stringify(entry)}\n`);
  }
}

export function openAudit(setting: string | undefined, maxBytes?: number): AuditSink | undefined {
  if (!setting || setting === "off") return undefined;
  if (setting === "stderr" || setting === "journald") return new StderrAudit();
  return new FileAudit(setting, maxBytes);
}

const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The audit entry for one call, from its arguments and result; what is worth keeping, bounded in size. */
export function auditEntry(
  tool: string,
  args: Record<string, unknown>,
  result: { ok: true; data: Record<string, unknown> } | { ok: false; error: string; denied?: boolean },
  who: { client: string; token: string },
  durationMs: number,
): AuditEntry {
  const e: AuditEntry = { time: new Date().toISOString(), client: who.client, token: who.token, tool, outcome: result.ok ? "ok" : "error", duration_ms: Math.round(durationMs) };
  if (typeof args.host === "string") e.host = args.host;
  if (typeof args.path === "string") e.path = short(args.path, 1024);
  if (typeof args.command === "string") e.command = short(args.command, 4096);
  if (typeof args.job_id === "string") e.job_id = args.job_id;
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
  } else {
    e.outcome = result.denied ? "denied" : "error";
    e.error = short(result.error, 500);
  }
  return e;
}
