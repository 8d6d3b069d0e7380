// The search itself, synchronous: a walk like `find -L START -name PATTERN`
// (optionally grepping the files found), run inside a worker thread
// (search_worker.ts) so it never holds up the server. It checks `stopped()`
// between entries and between lines, and returns what it found when told to stop.
// Files are read only through the file policy (src/policy): secrets and files
// outside allowed_paths are counted, never read; followed links are checked too.
import { closeSync, lstatSync, readdirSync, realpathSync, statSync, type Dirent, type Stats } from "node:fs";
import { basename } from "node:path";
import { Refused, openChecked } from "../policy/open.ts";
import { type FilePolicy, refusal } from "../policy/rules.ts";
import { describePathError } from "./paths.ts";
import { readFdCapped, readFileCapped } from "./read_capped.ts";
import { type LineMatcher, compileContent } from "./search_regex.ts";

export const MAX_GREP_BYTES = 16 * 1024 * 1024;
const SNIFF_BYTES = 8192;
const MAX_LINE_CHARS = 500;
const MAX_LISTED_UNREADABLE = 20;

/** Why a search ended before it was complete. */
export type StopReason = "time_budget" | "cancelled";

/** One search, as plain data (it crosses to a worker thread). */
export interface SearchRequest {
  /** Absolute start path. */
  start: string;
  /** Glob for names. */
  pattern: string;
  content?: { source: string; ignoreCase: boolean };
  maxResults: number;
  /** Levels below start; Infinity for no limit. */
  maxDepth: number;
  all: boolean;
  /** Absent only where no policy applies (unit tests). */
  policy?: FilePolicy;
}

/** What a search found, complete or cut short. */
export interface SearchFindings {
  matches: string[];
  lines: string[];
  truncated: boolean;
  cycles: number;
  /** Links not followed because the policy refuses where they lead. */
  outside: number;
  /** Files not searched because the policy refuses them. */
  refused: number;
  unreadable: number;
  unreadablePaths: string[];
  binarySkipped: number;
  largeSkipped: number;
  stopped?: StopReason;
}

/** The answer to a request: findings, or why the search could not start (`denied` for a policy refusal). */
export type SearchAnswer = { findings: SearchFindings } | { error: string; denied?: boolean };

/** What the server sends the worker: the request, and one shared Int32 the server sets to a STOP_ code to stop it. */
export interface SearchJob {
  request: SearchRequest;
  stop: SharedArrayBuffer;
}

export const STOP_NONE = 0;
export const STOP_TIME = 1;
export const STOP_CANCEL = 2;

/** Reads the stop word the server writes (a plain load would not see another thread's store reliably). */
export function stopReader(stop: SharedArrayBuffer): () => StopReason | undefined {
  const word = new Int32Array(stop);
  return () => {
    const v = Atomics.load(word, 0);
    return v === STOP_NONE ? undefined : v === STOP_TIME ? "time_budget" : "cancelled";
  };
}

interface Frame {
  prefix: string;
  depth: number;
  entries: Dirent[];
  next: number;
  key: string;
}

const byName = (a: Dirent, b: Dirent): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const devIno = (st: Stats): string => `${st.dev}:${st.ino}`;
const errCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

class Search {
  readonly f: SearchFindings = {
    matches: [],
    lines: [],
    truncated: false,
    cycles: 0,
    outside: 0,
    refused: 0,
    unreadable: 0,
    unreadablePaths: [],
    binarySkipped: 0,
    largeSkipped: 0,
  };
  private readonly glob: Bun.Glob;

  constructor(
    private readonly req: SearchRequest,
    private readonly matcher: LineMatcher | undefined,
    readonly stopped: () => StopReason | undefined,
  ) {
    this.glob = new Bun.Glob(req.pattern);
  }

  get greps(): boolean {
    return this.matcher !== undefined;
  }

  /** True once results are full or the search was told to stop (and records why). */
  get done(): boolean {
    if (this.f.truncated || this.f.stopped) return true;
    const why = this.stopped();
    if (why) this.f.stopped = why;
    return why !== undefined;
  }

  noteUnreadable(path: string): void {
    this.f.unreadable++;
    if (this.f.unreadablePaths.length < MAX_LISTED_UNREADABLE) this.f.unreadablePaths.push(path);
  }

  wants(name: string): boolean {
    return this.glob.match(name);
  }

  /** Whether a link to `path` (whose target's stat is `st`) may be followed. */
  mayFollow(path: string, st: Stats): boolean {
    const policy = this.req.policy;
    if (!policy) return true;
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return false; // changed since the stat: skip rather than guess
    }
    if (refusal(policy, real, "read", st) === undefined) return true;
    this.f.outside++;
    return false;
  }

  /** Records a path whose name matched (with content: its matching lines, if it is a regular file). */
  record(path: string, isFile: boolean): void {
    if (!this.matcher) {
      if (this.f.matches.length >= this.req.maxResults) this.f.truncated = true;
      else this.f.matches.push(path);
      return;
    }
    if (isFile) this.grep(path, this.matcher);
  }

  /** The file's bytes through the policy, or undefined (counted) when it is refused, too large or unreadable. */
  private read(path: string): Buffer | undefined {
    const policy = this.req.policy;
    let large = false;
    try {
      if (!policy) {
        const buf = statSync(path).size > MAX_GREP_BYTES ? undefined : readFileCapped(path, MAX_GREP_BYTES); // a pseudo-file may say 0 bytes and never end
        if (!buf) this.f.largeSkipped++;
        return buf;
      }
      const kindProblem = (st: Stats) => {
        if (!st.isFile()) return `${path} is no longer a regular file`;
        large = st.size > MAX_GREP_BYTES;
        return large ? `${path} is over 16 MiB` : undefined;
      };
      const opened = openChecked(policy, path, "file", kindProblem);
      try {
        const buf = readFdCapped(opened.fd, opened.st.size, MAX_GREP_BYTES);
        if (!buf) this.f.largeSkipped++;
        return buf;
      } finally {
        closeSync(opened.fd);
      }
    } catch (err) {
      if (err instanceof Refused) {
        if (err.denied) this.f.refused++;
        else if (large) this.f.largeSkipped++;
      } else if (errCode(err) !== "ENOENT") this.noteUnreadable(path);
      return undefined;
    }
  }

  private grep(path: string, matcher: LineMatcher): void {
    const buf = this.read(path);
    if (!buf) return;
    if (buf.subarray(0, SNIFF_BYTES).indexOf(0) >= 0) {
      this.f.binarySkipped++;
      return;
    }
    const text = buf.toString("utf8");
    const { f } = this;
    let found = false;
    let lineNo = 0;
    for (let pos = 0; pos < text.length; ) {
      if ((lineNo & 255) === 255 && this.done) return;
      const nl = text.indexOf("\n", pos);
      const end = nl < 0 ? text.length : nl;
      let line = text.slice(pos, end);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      lineNo++;
      if (matcher.test(line)) {
        if (f.lines.length >= this.req.maxResults) {
          f.truncated = true;
          return;
        }
        if (!found) f.matches.push(path);
        found = true;
        f.lines.push(`${path}:${lineNo}:${line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line}`);
      }
      if (nl < 0) return;
      pos = nl + 1;
    }
  }
}

/** A depth-first walk like find -L, in name order: symlinks followed, a directory equal to one of its ancestors (a cycle) neither reported nor entered. */
class Walk {
  private readonly stack: Frame[] = [];
  private readonly ancestors = new Set<string>();

  constructor(
    private readonly s: Search,
    private readonly maxDepth: number,
    private readonly all: boolean,
  ) {}

  run(start: string, st: Stats): void {
    if (this.s.wants(basename(start) || start)) this.s.record(start, st.isFile());
    if (st.isDirectory() && this.maxDepth >= 1 && !this.s.done) this.enter(start, 0, devIno(st));
    this.loop();
  }

  private enter(dir: string, depth: number, key: string): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort(byName);
    } catch (err) {
      const code = errCode(err);
      if (code !== "ENOENT" && code !== "ENOTDIR") this.s.noteUnreadable(dir);
      return;
    }
    this.stack.push({ prefix: dir.endsWith("/") ? dir : `${dir}/`, depth, entries, next: 0, key });
    this.ancestors.add(key);
  }

  private loop(): void {
    const { stack, ancestors, s } = this;
    // The stop check reads shared memory, cheap but not free: every 64 entries when only names are matched.
    const mask = s.greps ? 0 : 63;
    let n = 0;
    while (stack.length > 0) {
      if ((++n & mask) === 0 && s.done) return;
      const frame = stack[stack.length - 1]!;
      const ent = frame.entries[frame.next++];
      if (!ent) {
        stack.pop();
        ancestors.delete(frame.key);
        continue;
      }
      const name = ent.name;
      if (!this.all && name.charCodeAt(0) === 46 /* . */) continue;
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      const wanted = s.wants(name);
      // The common case, a plain file whose name does not match, builds no string.
      if (isFile && !wanted) continue;
      const path = frame.prefix + name;

      let st: Stats | undefined;
      if (!isDir && !isFile) {
        if (ent.isFIFO() || ent.isSocket() || ent.isCharacterDevice() || ent.isBlockDevice()) {
          if (wanted) s.record(path, false);
          continue;
        }
        // A symlink (or an entry the filesystem gave no type): what it points to decides.
        try {
          st = statSync(path);
        } catch (err) {
          const code = errCode(err);
          if (code === "ELOOP") continue; // find -L reports these as errors, not as names
          if (code === "ENOENT" && !ent.isSymbolicLink() && !lstatSync(path, { throwIfNoEntry: false })) continue; // vanished
          // Otherwise a broken link, which find -L lists by name.
        }
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
        // A link is the only way out of an allowed tree (or into lmcp's secrets): follow only where the policy allows.
        if (st && ent.isSymbolicLink() && !s.mayFollow(path, st)) continue;
      }
      let key = "";
      if (isDir) {
        try {
          st ??= statSync(path);
        } catch {
          continue; // vanished since readdir
        }
        key = devIno(st);
        if (ancestors.has(key)) {
          s.f.cycles++;
          continue;
        }
      }
      if (wanted) s.record(path, isFile);
      if (s.done) return;
      if (isDir && frame.depth + 1 < this.maxDepth) this.enter(path, frame.depth + 1, key);
    }
  }
}

/** Checks the start path itself against the policy: the walk below it only leaves it through links, which it checks. */
function startRefusal(policy: FilePolicy | undefined, start: string, st: Stats): string | undefined {
  if (!policy) return undefined;
  return refusal(policy, realpathSync(start), "read", st);
}

/** Runs one search to its end, to max_results, or until `stopped()` says why not. */
export function runSearch(req: SearchRequest, stopped: () => StopReason | undefined): SearchAnswer {
  let matcher: LineMatcher | undefined;
  if (req.content) {
    const compiled = compileContent(req.content.source, req.content.ignoreCase);
    if ("error" in compiled) return { error: compiled.error };
    matcher = compiled.matcher;
  }
  let st: Stats;
  try {
    st = statSync(req.start);
    const why = startRefusal(req.policy, req.start, st);
    if (why) return { error: why, denied: true };
  } catch (err) {
    return { error: `cannot search: ${describePathError(err)}` };
  }
  const s = new Search(req, matcher, stopped);
  new Walk(s, req.maxDepth, req.all).run(req.start, st);
  s.f.matches.sort();
  return { findings: s.f };
}
