// The console's live feed: an in-memory ring of the most recent tool calls, fed
// where calls end (a tee of the audit sink, plus the MCP layer's onCall hook for
// reads the audit log does not keep), and the listeners the SSE streams attach.
import type { AuditEntry, AuditSink } from "../audit/audit_log.ts";

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

export class Activity {
  private readonly ring: (CallEvent | undefined)[];
  private next = 0;
  private seq = 0;
  private readonly listeners = new Set<CallListener>();

  /** `localHost` names calls without a `host` argument (on serve: this host; on the hub: the hub itself). */
  constructor(
    readonly localHost: string,
    readonly capacity = ACTIVITY_CAPACITY,
  ) {
    this.ring = new Array<CallEvent | undefined>(capacity);
  }

  get lastSeq(): number {
    return this.seq;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Adds a call and tells every listener; a listener that throws is dropped, never the call's answer. */
  record(entry: AuditEntry): void {
    const e: CallEvent = {
      seq: ++this.seq,
      time: Date.parse(entry.time) || Date.now(),
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
      activity.record(entry);
    },
  };
}
