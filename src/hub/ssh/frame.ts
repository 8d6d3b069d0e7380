// Frames a remote script so its own output can be told apart from everything
// else on the wire: a begin marker on stdout and stderr (what came before is
// login-shell chatter or ssh's own messages) and an end marker on stderr that
// carries the script's exit status. Both hold a random nonce. No I/O here.

/** Where a stream's bytes go; `bytes()` returns what was kept. */
export interface ByteSink {
  push(chunk: Uint8Array): void;
  bytes(): Uint8Array;
}

/** Keeps the first `limit` bytes of a stream, counting the rest. */
export class CappedBytes implements ByteSink {
  private readonly chunks: Uint8Array[] = [];
  private kept = 0;
  total = 0;
  constructor(readonly limit: number) {}

  get overflowed(): boolean {
    return this.total > this.limit;
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const take = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(take.slice());
    this.kept += take.length;
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/** The script's end, as its end marker reported it. */
export interface ScriptEnd {
  exitCode: number;
  /** What the script left in `$LMCP_STATUS` (one line; "" when unset). */
  status: string;
}

export interface ScriptMarkers {
  begin: string;
  end: string;
}

export function scriptMarkers(nonce: string): ScriptMarkers {
  return { begin: `LMCP-BEGIN-${nonce}`, end: `LMCP-END-${nonce}` };
}

/**
 * The script as sent. All of it is one brace group, so bash reads every byte
 * before it runs any of it; `script` runs with stdin from /dev/null, so no
 * command in it can read ssh's stdin. That stdin stays open (the runner
 * never closes it while ssh runs), which makes it a lifeline: a watcher
 * blocks reading it, and when it ends (ssh was killed, the connection
 * dropped) it sends SIGTERM to the session's process group, so a cap or
 * cancel on the hub also ends the remote work. `script` must not `exit`:
 * its last command's status is the one reported.
 */
export function frameScript(script: string, m: ScriptMarkers): string {
  return [
    "{",
    `printf '%s\\n' '${m.begin}'; printf '%s\\n' '${m.begin}' >&2`,
    "exec 9<&0",
    "( while IFS= read -r lmcp_line; do :; done; kill -TERM 0 ) <&9 >/dev/null 2>&1 &",
    "lmcp_watch=$!",
    "exec 9<&-",
    "{",
    script,
    "} </dev/null",
    "lmcp_rc=$?",
    'kill "$lmcp_watch" 2>/dev/null',
    `printf '%s:%s:%s\\n' '${m.end}' "$lmcp_rc" "\${LMCP_STATUS-}" >&2`,
    'exit "$lmcp_rc"',
    "}",
    "",
  ].join("\n");
}

const BEGIN_SEARCH_CAP = 1024 * 1024;
const STATUS_MAX = 512;

/**
 * One stream of a framed script: drops what comes before the begin marker
 * (kept apart as `preamble`, bounded), passes the script's bytes to `sink`,
 * and, when `end` is given, cuts the end marker line out and reports it.
 */
export class FramedStream {
  private readonly begin: Buffer;
  private readonly end: Buffer | undefined;
  private began = false;
  private pre: Buffer = Buffer.alloc(0);
  private readonly preambleKept = new CappedBytes(64 * 1024);
  /** Body bytes held back because they may be the start of the end marker. */
  private pending: Buffer = Buffer.alloc(0);
  ended: ScriptEnd | undefined;

  constructor(
    markers: ScriptMarkers,
    private readonly sink: ByteSink,
    watchEnd: boolean,
  ) {
    this.begin = Buffer.from(`${markers.begin}\n`);
    this.end = watchEnd ? Buffer.from(`${markers.end}:`) : undefined;
  }

  get hasBegun(): boolean {
    return this.began;
  }

  /** Bytes before the begin marker (ssh's own errors, login chatter); all bytes if it never came. */
  preamble(): Uint8Array {
    return this.began ? this.preambleKept.bytes() : Buffer.concat([this.preambleKept.bytes(), this.pre]);
  }

  push(chunk: Uint8Array): void {
    if (!this.began) {
      this.pre = Buffer.concat([this.pre, chunk]);
      const at = this.pre.indexOf(this.begin);
      if (at < 0) {
        // Keep searching in a bounded window; older bytes are preamble.
        const keep = Math.max(this.begin.length - 1, this.pre.length > BEGIN_SEARCH_CAP ? 0 : this.pre.length);
        if (this.pre.length > keep) {
          this.preambleKept.push(this.pre.subarray(0, this.pre.length - keep));
          this.pre = this.pre.subarray(this.pre.length - keep);
        }
        return;
      }
      this.preambleKept.push(this.pre.subarray(0, at));
      const rest = this.pre.subarray(at + this.begin.length);
      this.pre = Buffer.alloc(0);
      this.began = true;
      if (rest.length > 0) this.body(rest);
      return;
    }
    this.body(chunk);
  }

  private body(chunk: Uint8Array): void {
    if (!this.end || this.ended) {
      this.sink.push(chunk);
      return;
    }
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const at = this.pending.indexOf(this.end);
    if (at >= 0) {
      const nl = this.pending.indexOf(10, at);
      if (nl < 0 && this.pending.length - at < this.end.length + STATUS_MAX) {
        if (at > 0) {
          this.sink.push(this.pending.subarray(0, at));
          this.pending = this.pending.subarray(at);
        }
        return;
      }
      const lineEnd = nl < 0 ? this.pending.length : nl;
      const line = this.pending.subarray(at + this.end.length, lineEnd).toString("utf8");
      const sep = line.indexOf(":");
      const code = Number.parseInt(sep < 0 ? line : line.slice(0, sep), 10);
      this.ended = { exitCode: Number.isFinite(code) ? code : -1, status: sep < 0 ? "" : line.slice(sep + 1) };
      if (at > 0) this.sink.push(this.pending.subarray(0, at));
      const after = this.pending.subarray(Math.min(this.pending.length, lineEnd + 1));
      this.pending = Buffer.alloc(0);
      if (after.length > 0) this.sink.push(after);
      return;
    }
    // Anything but the last (marker length - 1) bytes cannot start the marker.
    const keep = this.end.length - 1;
    if (this.pending.length > keep) {
      this.sink.push(this.pending.subarray(0, this.pending.length - keep));
      this.pending = this.pending.subarray(this.pending.length - keep);
    }
  }

  /** At the end of the stream: releases what was held back. */
  finish(): void {
    if (this.pending.length > 0) this.sink.push(this.pending);
    this.pending = Buffer.alloc(0);
  }
}
