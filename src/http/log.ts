// One line per request on stderr, buffered and flushed on the next tick so
// logging costs little under load. Tokens and file contents never reach here.
import { writeSync } from "node:fs";

export interface RequestLog {
  client: string;
  method?: string;
  tool?: string;
  host?: string;
  via?: string;
  /** The protocol revision of a 2026-07-28 request (2025-era requests leave it out). */
  era?: string;
  status: number;
  outcome: string;
  /** Set by a streamed reply: the line is written when the stream ends. */
  settled?: Promise<void>;
}

let pending: string[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join("");
  pending = [];
  writeStderr(text);
}

let useStream = false;

/**
 * Writes to fd 2 directly: process.stderr is a Node stream whose first use loads Node's stream
 * machinery (about 3 MB resident). A non-blocking stderr that is full (EAGAIN) switches to the
 * stream for good, which queues the text instead of losing it.
 */
export function writeStderr(text: string): void {
  if (useStream) {
    process.stderr.write(text);
    return;
  }
  const bytes = Buffer.from(text);
  let done = 0;
  try {
    // One writeSync may take only part of the bytes (a pipe near full); go on from where it stopped.
    while (done < bytes.length) done += writeSync(2, bytes, done);
  } catch {
    useStream = true; // from now on, so that later lines cannot overtake the queued ones
    process.stderr.write(bytes.subarray(done));
  }
}

/** Longest value a field keeps: method, tool and host come from the client, and one line must stay one line's worth. */
const MAX_FIELD = 200;

/** Quotes a value only when it needs it, logfmt style; cuts a long one. */
const field = (k: string, v: string | undefined) => {
  if (v === undefined) return "";
  const cut = v.length > MAX_FIELD ? `${v.slice(0, MAX_FIELD)}…(${v.length} chars)` : v;
  return ` ${k}=${/^[\w./:@[\]-]+$/.test(cut) ? cut : JSON.stringify(cut)}`;
};

export function logRequest(entry: RequestLog, startedAt: number): void {
  const ms = (performance.now() - startedAt).toFixed(2);
  pending.push(
    `${new Date().toISOString()} client=${entry.client}${field("method", entry.method)}${field("tool", entry.tool)}` +
      `${field("host", entry.host)}${field("via", entry.via)}${field("protocol", entry.era)} status=${entry.status} outcome=${entry.outcome} ms=${ms}\n`,
  );
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** A free-form operational message (start-up, reloads, warnings), written at once. */
export function logEvent(message: string): void {
  flush();
  writeStderr(`${new Date().toISOString()} ${message}\n`);
}

export const flushLog = flush;
