// The session table behind session_*: programs on a real PTY (Bun.Terminal) that
// live in the server process, their output kept as ANSI-stripped text between
// reads (bounded) and rendered as a screen by @xterm/headless.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { constants as osConstants } from "node:os";
import type { Terminal as XTerm } from "@xterm/headless";
import { RE2JS } from "re2js";
import { z } from "zod";
import { randomBytes } from "../crypto.ts";
import { tailBoundary } from "./output_cut.ts";
import { KILL_GRACE_MS, signalGroup } from "./process_group.ts";

/** Bounds of the table, in one object so a unit test can shrink them; not configurable (yet). */
export const sessionLimits = {
  /** Sessions open at once (exited ones whose last output is unread count too). */
  maxSessions: 16,
  /** A session no session_send or session_read touched for this long is closed (30 min). */
  idleMs: 30 * 60_000,
  /** Unread text kept per session; past it the oldest is dropped and counted (1 MiB). */
  pendingBytes: 1024 * 1024,
};

/** After the program exits, how long to wait for the PTY's last bytes (a background child may hold it open). */
const EXIT_GRACE_MS = 200;
/** An unterminated escape sequence longer than this is taken as text, so a broken one cannot hold output back. */
const MAX_HELD_ESCAPE = 4096;
/** Output given to xterm and not parsed yet, at most; past it the screen skips ahead (see Session.skipForScreen). */
const SCREEN_BACKLOG_BYTES = 1024 * 1024;
/** How much of the newest output the screen gets when it skips ahead: many screens' worth. */
const SCREEN_CATCH_UP_BYTES = 64 * 1024;
/** Ended sessions remembered, so a late read or close is told what happened instead of "no such session". */
const MAX_TOMBSTONES = 256;

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
export const SESSION_ID_PATTERN = /^s-[a-z2-7]{10}$/;

function newSessionId(): string {
  let id = "s-";
  for (const b of randomBytes(10)) id += BASE32[b & 31];
  return id;
}

export function signalName(sig: NodeJS.Signals | number | null): string | null {
  if (sig === null || typeof sig === "string") return sig;
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === sig);
  return entry ? entry[0] : `signal ${sig}`;
}

// ---------------------------------------------------------------------------
// Output as text: ANSI stripped by Bun.stripANSI (native, maintained with Bun);
// all this code adds is holding back a sequence cut by a chunk boundary and
// turning carriage returns and other controls into plain text.

/** True when `s` (starting at an ESC) is the start of an escape sequence whose end has not arrived yet. */
function incompleteEscape(s: string): boolean {
  if (s.length === 1) return true;
  const c = s[1]!;
  if (c === "[") return /^\x1b\[[0-?]*[ -/]*$/.test(s); // CSI: parameters and intermediates, no final byte yet
  if ("]P_^X".includes(c)) return !/\x07|\x1b\\/.test(s.slice(2)); // OSC, DCS, APC, PM, SOS: until BEL or ST
  if (c >= " " && c <= "/") return /^\x1b[ -/]+$/.test(s); // ESC ( B and the like: intermediates, then a final byte
  return false;
}

/** Where the part of `text` that must wait for the next chunk begins (text.length when none must). */
function heldFrom(text: string): number {
  const esc = text.lastIndexOf("\x1b");
  if (esc >= 0 && text.length - esc <= MAX_HELD_ESCAPE && incompleteEscape(text.slice(esc))) return esc;
  // A CR at the end may be the first half of CRLF.
  return text.endsWith("\r") ? text.length - 1 : text.length;
}

/** C0 and C1 controls other than tab and newline (BEL, backspace, shift-in/out, DEL…), which mean nothing in a transcript. */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Decodes PTY bytes to transcript text, one chunk at a time. */
export class TranscriptText {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  private held = "";
  /** Whether the text given out so far ends a line, so a CR there moves nowhere. */
  private atLineStart = true;

  push(bytes: Uint8Array): string {
    const text = this.held + this.decoder.decode(bytes, { stream: true });
    const cut = heldFrom(text);
    this.held = text.slice(cut);
    return this.clean(text.slice(0, cut));
  }

  /** The rest, once no more bytes will come. */
  flush(): string {
    const text = this.held + this.decoder.decode();
    this.held = "";
    return this.clean(text);
  }

  private clean(raw: string): string {
    if (raw === "") return "";
    // CRLF (the terminal's newline) is a newline; a CR at a line's start moves nowhere; any other CR
    // (a progress bar redrawing its line) starts a new line, so no text is lost or glued together.
    const marked = (this.atLineStart ? "\n" : "x") + Bun.stripANSI(raw);
    const text = marked.replace(/\r+\n/g, "\n").replace(/\n\r+/g, "\n").replace(/\r+/g, "\n").replace(CONTROLS, "").slice(1);
    if (text !== "") this.atLineStart = text.endsWith("\n");
    return text;
  }
}

// ---------------------------------------------------------------------------
// wait_for patterns.

export interface OutputMatcher {
  /** True when `text` (the unread output) holds a match; `from` is where new text begins (a literal looks only near it). */
  test(text: string, from: number): boolean;
  describe: string;
}

/** `"/re/flags"` is a regex (RE2 syntax, linear time; flags i and s; ^ and $ match at line ends), anything else a literal. */
export function compileWaitFor(pattern: string): { matcher: OutputMatcher } | { error: string } {
  const re = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  if (!re) {
    return { matcher: { test: (text, from) => text.includes(pattern, Math.max(0, from - pattern.length + 1)), describe: JSON.stringify(pattern) } };
  }
  const [, source, flags] = re as unknown as [string, string, string];
  const bad = flags.replace(/[is]/g, "");
  if (bad) return { error: `wait_for ${pattern}: unknown regex flag "${bad}"; the flags are i (ignore case) and s (. matches newlines)` };
  let flagBits = RE2JS.MULTILINE | RE2JS.LOOKBEHINDS;
  if (flags.includes("i")) flagBits |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes("s")) flagBits |= RE2JS.DOTALL;
  try {
    const compiled = RE2JS.compile(RE2JS.translateRegExp(source), flagBits);
    return { matcher: { test: (text) => compiled.test(text), describe: pattern } };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      error:
        `wait_for ${pattern} is not a regular expression lmcp can run: ${why}. It uses RE2 syntax (as grep -E; no backreferences or lookaheads). ` +
        "To wait for literal text that starts and ends with /, escape it as a regex (/\\/usr\\//)",
    };
  }
}

// ---------------------------------------------------------------------------
// Ending a session's processes.

/** Pids in session `sid` (the leader's pid), from /proc; undefined where there is no /proc (macOS). Zombies left out. */
function sessionMembers(sid: number): number[] | undefined {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const members: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // After "(comm)": state, ppid, pgrp, session, ...; comm may hold spaces and parens.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[3] === String(sid) && fields[0] !== "Z") members.push(Number(name));
  }
  return members;
}

/**
 * Sends `signal` to every process of the session: its jobs each have a process group of their own
 * (an interactive shell's job control), so the leader's group alone would miss them.
 */
function signalSession(sid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(sid) || sid <= 1) return false;
  let any = false;
  for (const pid of sessionMembers(sid) ?? []) {
    try {
      process.kill(pid, signal);
      any = true;
    } catch {
      // gone meanwhile, or not ours
    }
  }
  try {
    any = signalGroup(sid, signal) || any;
  } catch {
    // not ours to signal
  }
  return any;
}

/** True while any process of the session (or, without /proc, of the leader's group) is left. */
function sessionAlive(sid: number): boolean {
  const members = sessionMembers(sid);
  if (members !== undefined) return members.length > 0;
  try {
    return signalGroup(sid, 0);
  } catch {
    return true; // there, but not ours to signal
  }
}

/**
 * Hangs up like a terminal that closes (SIGHUP, and SIGCONT so stopped jobs see it; an interactive shell
 * ignores SIGTERM but not SIGHUP), then SIGKILLs whatever is left after `graceMs`. True when SIGKILL was needed.
 */
async function hangUp(sid: number, graceMs = KILL_GRACE_MS): Promise<boolean> {
  if (!signalSession(sid, "SIGHUP")) return false;
  signalSession(sid, "SIGCONT");
  const deadline = Date.now() + graceMs;
  // Polls only to confirm the kill (as terminateGroup does); reads never poll.
  while (Date.now() < deadline) {
    await Bun.sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    if (!sessionAlive(sid)) return false;
  }
  return signalSession(sid, "SIGKILL");
}

// ---------------------------------------------------------------------------
// A session.

export interface SessionExit {
  exit_code: number | null;
  signal: string | null;
}

export interface Screen {
  lines: string[];
  alternate: boolean;
  cursor: { row: number; col: number };
}

export type WakeReason = "match" | "idle" | "exit" | "timeout" | "cancelled";

export interface StartSpec {
  argv: string[];
  /** What session_list shows as the command. */
  label: string;
  cwd: string;
  env: Record<string, string | undefined>;
  cols: number;
  rows: number;
}

/**
 * True when a chunk may switch a terminal mode (the alternate screen, application cursor keys): it holds
 * a private-mode sequence (ESC [ ?) or ends inside what may become one. Not a parser: a yes only means
 * "wait for xterm's own parse before answering".
 */
function mayChangeModes(bytes: Uint8Array): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.indexOf("\x1b[?") >= 0 || buf.subarray(-2).includes(0x1b);
}

let xtermModule: Promise<typeof import("@xterm/headless")> | undefined;
/** Loaded at the first session, not at start: most servers never open one. */
const loadXterm = () => (xtermModule ??= import("@xterm/headless"));

export class Session {
  readonly id = newSessionId();
  readonly startedAt = new Date();
  lastActive = Date.now();
  /** When output last arrived (bytes, even ones that strip to nothing). */
  lastOutputAt = 0;
  exit: SessionExit | undefined;
  /** True once the program exited and the PTY's last bytes are in. */
  ended = false;
  /** Reads waiting on this session; a waiting read keeps it from going idle. */
  busy = 0;
  /** Output chunks given to xterm and not parsed yet, and how many of them may switch a mode (see mayChangeModes). */
  private unparsed = 0;
  private unparsedModes = 0;
  private unparsedBytes = 0;
  /** Output kept back from xterm while it is behind (see skipForScreen). */
  private skipped: Uint8Array[] = [];
  private skippedBytes = 0;
  private disposed = false;
  private unread = "";
  private unreadBytes = 0;
  /** Characters taken off the front of `unread` so far (read or dropped), so a waiting read's place in it survives both. */
  private consumedChars = 0;
  /** Unread text dropped (oldest first) because it passed sessionLimits.pendingBytes. */
  private droppedBytes = 0;
  private readonly transcript = new TranscriptText();
  private wakers: (() => void)[] = [];
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private proc!: Bun.Subprocess;
  private ptyClosed!: Promise<void>;

  private constructor(
    readonly spec: StartSpec,
    private readonly screenTerm: XTerm,
    private readonly onIdle: (s: Session) => void,
  ) {}

  static async start(spec: StartSpec, onIdle: (s: Session) => void): Promise<Session> {
    const { Terminal } = await loadXterm();
    // No scrollback: the screen is what is shown now; the transcript keeps the history.
    const screen = new Terminal({ cols: spec.cols, rows: spec.rows, scrollback: 0, allowProposedApi: true });
    const s = new Session(spec, screen, onIdle);
    let closePty: () => void = () => {};
    s.ptyClosed = new Promise<void>((r) => (closePty = r));
    try {
      s.proc = Bun.spawn(spec.argv, {
        cwd: spec.cwd,
        env: spec.env,
        // Bun makes the child a session leader with the PTY as its controlling terminal, so pid = sid = pgid.
        terminal: { cols: spec.cols, rows: spec.rows, name: "xterm-256color", data: (_t, bytes) => s.onOutput(bytes), exit: () => closePty() },
      });
    } catch (err) {
      screen.dispose();
      throw err;
    }
    // Answers to the program's queries (cursor position, device attributes) go back as a terminal's would,
    // so programs that ask (readline, less, vim) do not stall waiting.
    screen.onData((reply) => {
      if (!s.ended && s.proc.terminal && !s.proc.terminal.closed) s.proc.terminal.write(reply);
    });
    s.proc.exited.then(() => s.onExit());
    s.armIdle();
    return s;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get pendingBytes(): number {
    return this.unreadBytes;
  }

  private onOutput(bytes: Uint8Array): void {
    if (this.ended) return;
    this.lastOutputAt = Date.now();
    // Once skipping, keep skipping until xterm has caught up: the screen must get the bytes in order.
    const behind = this.skipped.length > 0 || (this.unparsed > 0 && this.unparsedBytes + bytes.length > SCREEN_BACKLOG_BYTES);
    if (behind) this.skipForScreen(bytes);
    else this.toScreen(bytes, mayChangeModes(bytes));
    this.append(this.transcript.push(bytes));
    this.wake();
  }

  /** Gives output to xterm, counting it until parsed. */
  private toScreen(bytes: Uint8Array, modes: boolean): void {
    this.unparsed++;
    this.unparsedBytes += bytes.length;
    if (modes) this.unparsedModes++;
    const parsed = () => {
      this.unparsed--;
      this.unparsedBytes -= bytes.length;
      if (modes) this.unparsedModes--;
      if (this.unparsed === 0 && this.skipped.length > 0 && !this.disposed) this.catchUpScreen();
    };
    try {
      this.screenTerm.write(bytes, parsed);
    } catch {
      // xterm refuses writes past its own backlog limit (50 MB); the backlog bound above keeps far below it.
      parsed();
    }
  }

  /**
   * Output faster than xterm parses it (a flood such as `yes`) would pile up without bound, and xterm
   * throws past 50 MB. Past the backlog the screen keeps only the latest bytes, and gets them once xterm
   * has caught up: the transcript has everything; the screen jumps ahead to the newest output.
   */
  private skipForScreen(bytes: Uint8Array): void {
    this.skipped.push(bytes.slice());
    this.skippedBytes += bytes.length;
    while (this.skipped.length > 1 && this.skippedBytes - this.skipped[0]!.length >= SCREEN_CATCH_UP_BYTES) {
      this.skippedBytes -= this.skipped.shift()!.length;
    }
  }

  private catchUpScreen(): void {
    const tail = Buffer.concat(this.skipped);
    this.skipped = [];
    this.skippedBytes = 0;
    // What was skipped may have switched modes: answer about them only after this is parsed.
    this.toScreen(tail.subarray(Math.max(0, tail.length - SCREEN_CATCH_UP_BYTES)), true);
  }

  private append(text: string): void {
    if (text === "") return;
    this.unread += text;
    this.unreadBytes += Buffer.byteLength(text);
    const max = sessionLimits.pendingBytes;
    if (this.unreadBytes <= max) return;
    // Trim to three quarters, so a flood trims once per quarter of the buffer, not at every chunk.
    const all = Buffer.from(this.unread);
    let start = all.length - Math.floor((max * 3) / 4);
    start += tailBoundary(all.subarray(start));
    this.droppedBytes += start;
    const kept = all.subarray(start).toString("utf8");
    this.consumedChars += this.unread.length - kept.length;
    this.unread = kept;
    this.unreadBytes = all.length - start;
  }

  private async onExit(): Promise<void> {
    this.exit = { exit_code: this.proc.signalCode !== null ? null : this.proc.exitCode, signal: signalName(this.proc.signalCode) };
    await Promise.race([this.ptyClosed, Bun.sleep(EXIT_GRACE_MS)]);
    this.append(this.transcript.flush());
    this.ended = true;
    this.closePty();
    this.wake();
  }

  private closePty(): void {
    try {
      if (this.proc.terminal && !this.proc.terminal.closed) this.proc.terminal.close();
    } catch {
      // already closed
    }
  }

  private wake(): void {
    for (const w of this.wakers.splice(0)) w();
  }

  /** Resolves at the next output or exit. */
  private changed(): Promise<void> {
    return new Promise((r) => this.wakers.push(r));
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    const due = this.lastActive + sessionLimits.idleMs - Date.now();
    this.idleTimer = setTimeout(() => {
      if (this.busy > 0 || Date.now() - this.lastActive < sessionLimits.idleMs) this.armIdle();
      else this.onIdle(this);
    }, Math.max(1, due));
    this.idleTimer.unref();
  }

  /** A send or read: the session is in use, so its idle clock starts again. */
  touch(): void {
    this.lastActive = Date.now();
    this.armIdle();
  }

  /** Writes to the program's terminal. False when the program has exited. */
  write(data: string): boolean {
    const term = this.proc.terminal;
    if (this.exit || !term || term.closed) return false;
    term.write(data);
    return true;
  }

  /** The terminal's DECCKM mode as of all output received so far. */
  async applicationCursorKeys(): Promise<boolean> {
    if (this.unparsedModes > 0) await this.parsed();
    return this.screenTerm.modes.applicationCursorKeysMode;
  }

  /**
   * xterm parses writes in batches on a timer (about 1 ms); this resolves once everything written is on its
   * screen, at once when nothing is waiting to be parsed.
   */
  private async parsed(): Promise<void> {
    // Catching up queues more writes from a write's callback, so check again after a round; a few rounds
    // at most, as under an endless flood there is always more (the screen is then a moment old).
    for (let round = 0; round < 3 && (this.unparsed > 0 || this.skipped.length > 0) && !this.disposed; round++) {
      await new Promise<void>((r) => this.screenTerm.write("", r));
    }
  }

  /** Whether the program uses the alternate screen, as of all output received so far. */
  async alternateScreen(): Promise<boolean> {
    // Waiting for xterm's parse costs a millisecond on every read; only a mode switch can change the answer.
    if (this.unparsedModes > 0) await this.parsed();
    return this.screenTerm.buffer.active.type === "alternate";
  }

  async screen(): Promise<Screen> {
    await this.parsed();
    const b = this.screenTerm.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.spec.rows; y++) lines.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? "");
    while (lines.length > 0 && lines.at(-1) === "") lines.pop();
    return { lines, alternate: b.type === "alternate", cursor: { row: b.cursorY, col: b.cursorX } };
  }

  /** The unread text, without taking it. */
  peek(): string {
    return this.unread;
  }

  /** Takes the unread text and how much was dropped before it. */
  take(): { text: string; dropped: number } {
    const out = { text: this.unread, dropped: this.droppedBytes };
    this.consumedChars += this.unread.length;
    this.unread = "";
    this.unreadBytes = 0;
    this.droppedBytes = 0;
    return out;
  }

  /**
   * Waits, on output and exit events (timers only for the deadlines), until: `match` finds its pattern in
   * the unread text, `idleMs` pass without output (counted from the later of the last output and the
   * start), the session ends, `timeoutMs` pass, or `signal` aborts. `tick` is called every `tickMs`.
   */
  async wait(opts: { match?: OutputMatcher; idleMs?: number; timeoutMs: number; signal: AbortSignal; tickMs: number; tick: (elapsedMs: number) => void }): Promise<WakeReason> {
    const started = Date.now();
    /** Where the text not yet searched begins, counted from the session's start (see consumedChars). */
    let scanned = this.consumedChars;
    let nextTick = started + opts.tickMs;
    this.busy++;
    try {
      for (;;) {
        if (opts.match && opts.match.test(this.unread, Math.max(0, scanned - this.consumedChars))) return "match";
        scanned = this.consumedChars + this.unread.length;
        if (this.ended) return "exit";
        if (opts.signal.aborted) return "cancelled";
        const now = Date.now();
        const idleDue = opts.idleMs === undefined ? Number.POSITIVE_INFINITY : Math.max(this.lastOutputAt, started) + opts.idleMs;
        if (now >= idleDue) return "idle";
        if (now - started >= opts.timeoutMs) return "timeout";
        if (now >= nextTick) {
          opts.tick(now - started);
          nextTick += opts.tickMs;
        }
        const sleepMs = Math.max(1, Math.min(idleDue, started + opts.timeoutMs, nextTick) - now);
        await this.changedOr(sleepMs, opts.signal);
      }
    } finally {
      this.busy--;
      this.touch();
    }
  }

  /** Resolves at the next output or exit, after `ms`, or when `signal` aborts, whichever is first. */
  private changedOr(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((done) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        done();
      };
      const timer = setTimeout(finish, ms);
      signal.addEventListener("abort", finish, { once: true });
      this.changed().then(finish);
    });
  }

  /** Ends the program (hang-up, then SIGKILL after the grace) and frees the terminal. True when SIGKILL was needed. */
  async close(): Promise<boolean> {
    clearTimeout(this.idleTimer);
    const killed = this.exit && !sessionAlive(this.pid) ? false : await hangUp(this.pid);
    this.closePty();
    // A program that ignored the hang-up was SIGKILLed: its exit is moments away.
    await Promise.race([this.proc.exited, Bun.sleep(EXIT_GRACE_MS)]);
    this.ended = true;
    this.wake();
    this.disposed = true;
    this.screenTerm.dispose();
    return killed;
  }

  /** At server exit: hang up at once, without waiting (the process is leaving). */
  hangUpNow(): void {
    signalSession(this.pid, "SIGHUP");
    signalSession(this.pid, "SIGCONT");
  }

  dispose(): void {
    clearTimeout(this.idleTimer);
    this.closePty();
    this.disposed = true;
    this.screenTerm.dispose();
  }
}

// ---------------------------------------------------------------------------
// The table.

const table = new Map<string, Session>();
/** Starts in progress: they hold a place so that concurrent starts cannot pass the cap. */
let starting = 0;
const tombstones = new Map<string, string>();
let exitHookSet = false;

function bury(id: string, why: string): void {
  tombstones.set(id, why);
  if (tombstones.size > MAX_TOMBSTONES) tombstones.delete(tombstones.keys().next().value!);
}

const idleWhy = () => `was closed after ${Math.round(sessionLimits.idleMs / 60_000)} min without session_send or session_read (the idle timeout)`;

function onIdle(s: Session): void {
  if (table.get(s.id) !== s) return;
  table.delete(s.id);
  bury(s.id, idleWhy());
  void s.close();
}

/** The sessions open now, oldest first. */
export function listSessions(): Session[] {
  return [...table.values()];
}

/** Starts a session, or says why not (the table is full, the program cannot start). */
export async function startSession(spec: StartSpec): Promise<{ session: Session } | { error: string }> {
  if (table.size + starting >= sessionLimits.maxSessions) {
    const exited = [...table.values()].filter((s) => s.exit).length;
    return {
      error:
        `${sessionLimits.maxSessions} sessions are open, the most this server keeps` +
        (exited > 0 ? ` (${exited} of them exited with output not yet read: session_read ends them)` : "") +
        "; close one you no longer need with session_close (session_list shows them)",
    };
  }
  starting++;
  try {
    const session = await Session.start(spec, onIdle);
    table.set(session.id, session);
    if (!exitHookSet) {
      exitHookSet = true;
      // Sessions live in this process and end with it, as a terminal's programs do when it closes.
      process.once("exit", () => {
        for (const s of table.values()) s.hangUpNow();
      });
    }
    return { session };
  } finally {
    starting--;
  }
}

/** The open session `id`, or a message saying what became of it. */
export function findSession(id: string): { session: Session } | { error: string } {
  if (!SESSION_ID_PATTERN.test(id)) {
    return { error: `"${id}" is not a session id; session ids look like s-abcdefgh23 (the session_id that session_start returned; session_list shows the open ones)` };
  }
  const session = table.get(id);
  if (session) return { session };
  const why = tombstones.get(id);
  if (why) return { error: `session ${id} ${why}; start a new one with session_start` };
  return {
    error: `no session ${id} on this server; sessions live in the server process, so a restart ends them. session_list shows the open ones; start one with session_start`,
  };
}

/** Takes an ended session off the table once its last output has been read. */
export function retireSession(s: Session): void {
  if (table.get(s.id) !== s) return;
  table.delete(s.id);
  const e = s.exit;
  const how = !e ? "ended" : e.signal ? `was killed by ${e.signal}` : `exited with code ${e.exit_code}`;
  bury(s.id, `${how}, and its last output was read`);
  s.dispose();
}

/** Closes session `s` at a client's request. */
export async function closeSession(s: Session): Promise<{ killed: boolean; unread: number }> {
  table.delete(s.id);
  bury(s.id, "was closed with session_close");
  const unread = s.pendingBytes;
  const killed = await s.close();
  return { killed, unread };
}

/** True when `path` is an executable file. */
export function isExecutable(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The session_id argument every session tool but session_start takes. */
export const sessionIdField = z.string().describe("The session_id that session_start returned (like s-abcdefgh23).");
