// The console's live feed: an in-memory ring of the most recent tool calls, fed
// where calls end (a tee of the audit sink, plus the MCP layer's onCall hook for
// reads the audit log does not keep), and the listeners the SSE streams attach.
// The newest calls also keep their whole audit entry and their output's head and
// tail (the MCP layer's onOutcome hook), for the per-call view.
import type { AuditEntry, AuditSink } from "../audit/audit_log.ts";
import type { ToolOutcome } from "../tools/tool.ts";

/** One call as the feed shows it: who, where, what, how long, how it ended. */
export interface CallEvent {
  /** Rises by one per event: the SSE id, so a reconnecting browser asks for what it missed. */
  seq: number;
  /** ms since the epoch, when the call ended. */
  time: number;
  token: string;
  client: string;
  host: string;
  tool: string;
  /** The command, else the path, else the job id: what the operator needs to recognise the call. */
  what: string;
  durationMs: number;
  exitCode: number | null | undefined;
  outcome: AuditEntry["outcome"];
  error: string | undefined;
  via: string | undefined;
}

/** Case-insensitive substrings; an empty or absent field matches everything. */
export interface FeedFilter {
  host?: string | undefined;
  tool?: string | undefined;
  token?: string | undefined;
}

const contains = (value: string, wanted: string | undefined) => !wanted || value.toLowerCase().includes(wanted.toLowerCase());

export function matches(e: CallEvent, f: FeedFilter): boolean {
  return contains(e.host, f.host) && contains(e.tool, f.tool) && contains(e.token, f.token);
}

export type CallListener = (e: CallEvent) => void;

/** Kept in memory only: the audit log is the record; this is what the console shows of the last calls. */
export const ACTIVITY_CAPACITY = 1000;
/** Of those, the newest this many keep their full entry and output (at most ~8 KiB of output each). */
export const DETAIL_CAPACITY = 500;
/** What the per-call view keeps of an output: its first and last this many characters. */
export const OUTPUT_HEAD_CHARS = 2048;
export const OUTPUT_TAIL_CHARS = 2048;

/** Result fields that name a file holding the call's whole output (the same as the resource links of src/mcp/file_resources.ts). */
export const OUTPUT_FILE_FIELDS = ["full_output_path", "full_stderr_path", "log_path"] as const;
export type OutputFileField = (typeof OUTPUT_FILE_FIELDS)[number];

/** What the per-call view shows of a call's answer: bounded whatever the tool returned. */
export interface CallOutput {
  /** The answer's text (or the error), whole when it fits in head + tail, else its head... */
  head: string;
  /** ...and its tail ("" when the head is the whole text). */
  tail: string;
  /** Characters between head and tail that were not kept. */
  omitted: number;
  isError: boolean;
  /** The files the result named (on the call's host), by field. */
  files: { field: OutputFileField; path: string }[];
}

export interface CallDetail {
  event: CallEvent;
  /** The call's audit entry (every field the audit log has); undefined once the call is older than DETAIL_CAPACITY. */
  entry: AuditEntry | undefined;
  /** undefined: not kept (older calls, the console's own actions), or the call had no answer (refused before it ran). */
  output: CallOutput | undefined;
}

/** A copy that shares no memory with `s`: a slice of a large answer must not keep the whole answer alive. */
const detached = (s: string) => Buffer.from(s, "utf8").toString("utf8");

/** The head and tail of an outcome's text, and the files it names. */
export function captureOutput(outcome: ToolOutcome<unknown>): CallOutput {
  const text = outcome.ok ? outcome.text : outcome.error;
  const whole = text.length <= OUTPUT_HEAD_CHARS + OUTPUT_TAIL_CHARS;
  const files: CallOutput["files"] = [];
  const data = outcome.ok && outcome.data && typeof outcome.data === "object" ? (outcome.data as Record<string, unknown>) : {};
  for (const field of OUTPUT_FILE_FIELDS) {
    const path = data[field];
    if (typeof path === "string" && path.startsWith("/") && path.length <= 4096) files.push({ field, path: detached(path) });
  }
  return {
    head: detached(whole ? text : text.slice(0, OUTPUT_HEAD_CHARS)),
    tail: whole ? "" : detached(text.slice(-OUTPUT_TAIL_CHARS)),
    omitted: whole ? 0 : text.length - OUTPUT_HEAD_CHARS - OUTPUT_TAIL_CHARS,
    isError: !outcome.ok,
    files,
  };
}

export class Activity {
  private readonly ring: (CallEvent | undefined)[];
  private next = 0;
  private seq = 0;
  private readonly listeners = new Set<CallListener>();
  /**
   * The newest DETAIL_CAPACITY calls' entries and outputs, in slots by seq % detailCapacity (with the seq each holds):
   * fixed arrays rather than a Map, so recording a call allocates no node, wrapper or iterator (the console is on by
   * default, and what every call keeps alive is what the garbage collector pays for at full speed).
   */
  private readonly detailSeq: Float64Array;
  private readonly detailEntry: (AuditEntry | undefined)[];
  private readonly detailOutput: (CallOutput | undefined)[];
  /** The entry recorded last: onOutcome follows the write of the same entry object at once. */
  private last: { entry: AuditEntry; seq: number } | undefined;

  /** `localHost` names calls without a `host` argument (on serve: this host; on the hub: the hub itself). */
  constructor(
    readonly localHost: string,
    readonly capacity = ACTIVITY_CAPACITY,
    readonly detailCapacity = DETAIL_CAPACITY,
  ) {
    this.ring = new Array<CallEvent | undefined>(capacity);
    this.detailSeq = new Float64Array(detailCapacity);
    this.detailEntry = new Array<AuditEntry | undefined>(detailCapacity);
    this.detailOutput = new Array<CallOutput | undefined>(detailCapacity);
  }

  get lastSeq(): number {
    return this.seq;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Adds a call and tells every listener; a listener that throws is dropped, never the call's answer. */
  /** `at`: when the call ended, if the caller knows (a fresh entry: no need to parse its time back). */
  record(entry: AuditEntry, at?: number): void {
    const e: CallEvent = {
      seq: ++this.seq,
      time: at ?? (Date.parse(entry.time) || Date.now()),
      token: entry.token,
      client: entry.client,
      host: entry.host ?? this.localHost,
      tool: entry.tool,
      what: entry.command ?? entry.path ?? entry.job_id ?? "",
      durationMs: entry.duration_ms,
      exitCode: entry.exit_code,
      outcome: entry.outcome,
      error: entry.error,
      via: entry.via,
    };
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    const slot = e.seq % this.detailCapacity;
    this.detailSeq[slot] = e.seq;
    this.detailEntry[slot] = entry;
    this.detailOutput[slot] = undefined;
    this.last = { entry, seq: e.seq };
    for (const listener of this.listeners) {
      try {
        listener(e);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }

  /** The newest `limit` events matching `filter` with seq above `after`, newest first. */
  recent(filter: FeedFilter, limit: number, after = 0): CallEvent[] {
    const out: CallEvent[] = [];
    for (let i = 1; i <= this.capacity && out.length < limit; i++) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (!e || e.seq <= after) break;
      if (matches(e, filter)) out.push(e);
    }
    return out;
  }

  /**
   * Keeps the head and tail of the answer of the call just recorded from `entry` (the same object: the MCP layer
   * writes the entry, then tells its outcome). Any other entry is ignored, so an outcome never lands on the wrong call.
   */
  attachOutcome(entry: AuditEntry, outcome: ToolOutcome<unknown>): void {
    if (this.last?.entry !== entry) return;
    const slot = this.last.seq % this.detailCapacity;
    if (this.detailSeq[slot] === this.last.seq) this.detailOutput[slot] = captureOutput(outcome);
  }

  /** Call `seq` as the per-call view shows it; undefined once it has left the ring (or never was). */
  detail(seq: number): CallDetail | undefined {
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > this.seq || this.seq - seq >= this.capacity) return undefined;
    // Events go into the ring in seq order, one slot each: seq's slot is fixed.
    const e = this.ring[(seq - 1) % this.capacity];
    if (e?.seq !== seq) return undefined;
    const slot = seq % this.detailCapacity;
    const kept = this.detailSeq[slot] === seq;
    return { event: e, entry: kept ? this.detailEntry[slot] : undefined, output: kept ? this.detailOutput[slot] : undefined };
  }

  subscribe(listener: CallListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The audit sink the console's servers use: the audit log as before (when there is one), and the feed. */
export function teeAudit(inner: AuditSink | undefined, activity: Activity): AuditSink {
  return {
    write(entry) {
      inner?.write(entry);
      activity.record(entry, Date.now());
    },
  };
}
