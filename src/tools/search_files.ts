// search_files: `find -L START -name PATTERN` (optionally with a per-line
// regex over the files found), the same on Linux and macOS, without blocking
// the server for long: sync fs calls in ~5 ms slices between event-loop turns.
import { lstatSync, readdirSync, statSync, type Dirent, type Stats } from "node:fs";
import { basename } from "node:path";
import { z } from "zod";
import { describePathError, resolveUserPath } from "./paths.ts";
import { readFileCapped } from "./read_capped.ts";
import { type ToolContext, defineTool, fail, ok } from "./tool.ts";

const SLICE_MS = 5;
const MAX_GREP_BYTES = 16 * 1024 * 1024;
const SNIFF_BYTES = 8192;
const MAX_LINE_CHARS = 500;
const MAX_LISTED_UNREADABLE = 20;

const input = z.object({
  path: z.string().min(1).describe("Where to start: a directory (or a symlink to one) to search recursively. Absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  pattern: z
    .string()
    .min(1)
    .describe('Glob matched against each file or directory NAME (not the whole path), like find -name: "*.lua", "Makefile", "test_*.py", "*.{ts,tsx}". Use "*" for every name.'),
  content: z
    .string()
    .optional()
    .describe("Optional JavaScript regular expression searched in each line of the files whose names match (like grep); binary files and files over 16 MiB are skipped. Results are then path:line:text."),
  ignore_case: z.boolean().default(false).describe("Match content case-insensitively (default false)."),
  max_results: z.number().int().min(1).max(100_000).default(1000).describe("Stop after this many results: paths, or matching lines when content is given (default 1000)."),
  max_depth: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("How many levels below path to descend, like find -maxdepth: 1 = only path's direct entries, 0 = only path itself. Default: no limit."),
  all: z.boolean().default(false).describe("Also search names starting with a dot, and inside dot directories (default false)."),
});

const output = z.object({
  path: z.string().describe("The starting path, absolute; every result starts with it."),
  matches: z.array(z.string()).describe("Paths whose name matches, sorted (with content: the files that have a matching line)."),
  count: z.number().describe("Results returned: paths, or matching lines when content is given."),
  truncated: z.boolean().describe("True when max_results cut the results short."),
  lines: z.array(z.string()).optional().describe('With content: matching lines as "path:line:text" (text cut to 500 characters).'),
  cycles_skipped: z.number().describe("Directories not entered because a symlink led back to one of their own ancestors."),
  outside_skipped: z.number().optional().describe("Symlinks not followed because they lead outside the server's allowed_paths."),
  unreadable_skipped: z.number().describe("Directories (or, with content, files) that could not be read, e.g. permission denied."),
  unreadable_paths: z.array(z.string()).describe("Up to 20 of those paths."),
  binary_skipped: z.number().optional().describe("With content: files skipped as binary."),
  large_skipped: z.number().optional().describe("With content: files skipped because they are over 16 MiB."),
});

/** What search_files returns as structured data; the SSH fallback gives the same. */
export type SearchResult = z.output<typeof output>;

interface Frame {
  dir: string;
  /** dir with a trailing slash, for joining names. */
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
  readonly matches: string[] = [];
  readonly lines: string[] = [];
  truncated = false;
  cycles = 0;
  outside = 0;
  unreadable = 0;
  readonly unreadablePaths: string[] = [];
  binarySkipped = 0;
  largeSkipped = 0;
  private readonly glob: Bun.Glob;

  constructor(
    pattern: string,
    private readonly regex: RegExp | undefined,
    private readonly maxResults: number,
  ) {
    this.glob = new Bun.Glob(pattern);
  }

  get greps(): boolean {
    return this.regex !== undefined;
  }

  get done(): boolean {
    return this.truncated;
  }

  noteUnreadable(path: string): void {
    this.unreadable++;
    if (this.unreadablePaths.length < MAX_LISTED_UNREADABLE) this.unreadablePaths.push(path);
  }

  wants(name: string): boolean {
    return this.glob.match(name);
  }

  /** Records a path whose name matched (with a regex: its matching lines, if it is a regular file). */
  record(path: string, isFile: boolean): void {
    if (!this.regex) {
      if (this.matches.length >= this.maxResults) this.truncated = true;
      else this.matches.push(path);
      return;
    }
    if (isFile) this.grep(path, this.regex);
  }

  private grep(path: string, re: RegExp): void {
    let buf: Buffer;
    try {
      if (statSync(path).size > MAX_GREP_BYTES) {
        this.largeSkipped++;
        return;
      }
      const capped = readFileCapped(path, MAX_GREP_BYTES); // a pseudo-file may say 0 bytes and never end
      if (!capped) {
        this.largeSkipped++;
        return;
      }
      buf = capped;
    } catch (err) {
      if (errCode(err) !== "ENOENT") this.noteUnreadable(path);
      return;
    }
    if (buf.subarray(0, SNIFF_BYTES).indexOf(0) >= 0) {
      this.binarySkipped++;
      return;
    }
    const text = buf.toString("utf8");
    let found = false;
    let lineNo = 0;
    for (let pos = 0; pos < text.length; ) {
      const nl = text.indexOf("\n", pos);
      const end = nl < 0 ? text.length : nl;
      let line = text.slice(pos, end);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      lineNo++;
      if (re.test(line)) {
        if (this.lines.length >= this.maxResults) {
          this.truncated = true;
          break;
        }
        if (!found) this.matches.push(path);
        found = true;
        this.lines.push(`${path}:${lineNo}:${line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line}`);
      }
      if (nl < 0) break;
      pos = nl + 1;
    }
  }
}

function readSorted(dir: string): Dirent[] {
  return readdirSync(dir, { withFileTypes: true }).sort(byName);
}

/** A depth-first walk like find -L, in name order: symlinks followed, a directory equal to one of its ancestors (a cycle) neither reported nor entered. */
class Walk {
  private readonly stack: Frame[] = [];
  private readonly ancestors = new Set<string>();

  constructor(
    private readonly s: Search,
    private readonly maxDepth: number,
    private readonly all: boolean,
    private readonly allowPath: ((path: string) => boolean) | undefined,
  ) {}

  begin(start: string, st: Stats): void {
    if (this.s.wants(basename(start) || start)) this.s.record(start, st.isFile());
    if (st.isDirectory() && this.maxDepth >= 1) this.enter(start, 0, devIno(st));
  }

  get finished(): boolean {
    return this.stack.length === 0 || this.s.done;
  }

  private enter(dir: string, depth: number, key: string): void {
    let entries: Dirent[];
    try {
      entries = readSorted(dir);
    } catch (err) {
      const code = errCode(err);
      if (code !== "ENOENT" && code !== "ENOTDIR") this.s.noteUnreadable(dir);
      return;
    }
    this.stack.push({ dir, prefix: dir.endsWith("/") ? dir : `${dir}/`, depth, entries, next: 0, key });
    this.ancestors.add(key);
  }

  /** Walks synchronously until done or until `until` (a performance.now() time) has passed. */
  step(until: number): void {
    const { stack, ancestors, s } = this;
    // Reading the clock costs little, but a grep can cost a lot: then check after every entry.
    const mask = s.greps ? 0 : 63;
    let n = 0;
    while (stack.length > 0 && !s.done) {
      if ((++n & mask) === 0 && performance.now() > until) return;
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
        // With allowed_paths, a symlink is the only way out of an allowed tree: do not follow one that leaves it.
        if (st && this.allowPath && ent.isSymbolicLink() && !this.allowPath(path)) {
          s.outside++;
          continue;
        }
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
          s.cycles++;
          continue;
        }
      }
      if (wanted) s.record(path, isFile);
      if (isDir && frame.depth + 1 < this.maxDepth) this.enter(path, frame.depth + 1, key);
    }
  }
}

/** Runs a walk in slices of about SLICE_MS, yielding to the event loop between them; false when cancelled. */
async function walk(start: string, startStats: Stats, s: Search, maxDepth: number, all: boolean, ctx: ToolContext): Promise<boolean> {
  const signal = ctx.signal;
  if (signal.aborted) return false;
  const w = new Walk(s, maxDepth, all, ctx.allowPath);
  w.begin(start, startStats);
  for (;;) {
    w.step(performance.now() + SLICE_MS);
    if (w.finished) return true;
    await new Promise((r) => setImmediate(r));
    if (signal.aborted) return false;
  }
}

/** The readable text of a search result: the paths or lines, then notes on what was cut or skipped. */
export function summarizeSearch(r: SearchResult, pattern: string, grep: boolean): string {
  const out: string[] = grep ? [...(r.lines ?? [])] : [...r.matches];
  if (r.count === 0) out.push(grep ? `no lines match in files named "${pattern}" under ${r.path}` : `no files named "${pattern}" under ${r.path}`);
  else out.push(`[lmcp: ${r.count} ${grep ? "matching lines" : "matches"}]`);
  if (r.truncated) out.push(`[lmcp: stopped at max_results=${r.count}; narrow the pattern or path, or raise max_results]`);
  if (r.cycles_skipped > 0) out.push(`[lmcp: ${r.cycles_skipped} symlinked directories not entered because they loop back to an ancestor]`);
  if (r.outside_skipped) out.push(`[lmcp: ${r.outside_skipped} symlinks not followed because they lead outside allowed_paths]`);
  if (r.unreadable_skipped > 0) {
    out.push(`[lmcp: ${r.unreadable_skipped} unreadable paths skipped (permission denied?): ${r.unreadable_paths.join(", ")}${r.unreadable_skipped > r.unreadable_paths.length ? ", …" : ""}]`);
  }
  if (r.binary_skipped) out.push(`[lmcp: ${r.binary_skipped} binary files not searched]`);
  if (r.large_skipped) out.push(`[lmcp: ${r.large_skipped} files over 16 MiB not searched; use shell with grep for those]`);
  return out.join("\n");
}

export const searchFiles = defineTool({
  name: "search_files",
  title: "Search files",
  description:
    'Finds files and directories whose NAME matches a glob under a path, recursively, like `find -L PATH -name PATTERN` (follows symlinks, skips symlink loops and unreadable folders and says how many). ' +
    "With content, returns the lines matching a regex in those files as path:line:text. Dot files are skipped unless all is true; max_results (default 1000) caps the results.",
  input,
  output,
  annotations: { title: "Search files", readOnlyHint: true, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    let regex: RegExp | undefined;
    if (args.content !== undefined) {
      try {
        regex = new RegExp(args.content, args.ignore_case ? "i" : "");
      } catch (err) {
        return fail(`content is not a valid JavaScript regular expression: ${(err as Error).message}. Escape special characters like ( [ . * + ? with a backslash to match them literally`);
      }
    }
    let startStats: Stats;
    try {
      startStats = statSync(path);
    } catch (err) {
      return fail(`cannot search: ${describePathError(err)}`);
    }
    const s = new Search(args.pattern, regex, args.max_results);
    const finished = await walk(path, startStats, s, args.max_depth ?? Number.POSITIVE_INFINITY, args.all, ctx);
    if (!finished) return fail("cancelled");
    const grep = regex !== undefined;
    const result: SearchResult = {
      path,
      matches: s.matches.sort(),
      count: grep ? s.lines.length : s.matches.length,
      truncated: s.truncated,
      cycles_skipped: s.cycles,
      ...(s.outside > 0 ? { outside_skipped: s.outside } : {}),
      unreadable_skipped: s.unreadable,
      unreadable_paths: s.unreadablePaths,
      ...(grep ? { lines: s.lines, binary_skipped: s.binarySkipped, large_skipped: s.largeSkipped } : {}),
    };
    return ok(result, summarizeSearch(result, args.pattern, grep));
  },
});
