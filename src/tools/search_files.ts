// search_files: `find -L START -name PATTERN` (optionally with a per-line
// regex over the files found), the same on Linux and macOS. The search runs on
// a worker thread (search_pool.ts) with a linear-time regex engine and a time
// budget, so no pattern and no tree can hold up the server.
import { z } from "zod";
import type { SearchFindings, SearchRequest } from "./search_engine.ts";
import { runPooledSearch } from "./search_pool.ts";
import { resolveUserPath } from "./paths.ts";
import { defineTool, deny, fail, ok } from "./tool.ts";

/** A search's time budget when timeout_s is not given, and the most timeout_s may ask for. */
export const DEFAULT_SEARCH_TIMEOUT_S = 30;
export const MAX_SEARCH_TIMEOUT_S = 300;

const input = z.object({
  path: z.string().min(1).describe("Where to start: a directory (or a symlink to one) to search recursively. Absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  pattern: z
    .string()
    .min(1)
    .describe('Glob matched against each file or directory NAME (not the whole path), like find -name: "*.lua", "Makefile", "test_*.py", "*.{ts,tsx}". Use "*" for every name.'),
  content: z
    .string()
    .optional()
    .describe(
      "Optional regular expression searched in each line of the files whose names match (like grep -E); binary files and files over 16 MiB are skipped. Results are then path:line:text. " +
        "RE2 syntax (linear time, so any pattern is safe): JavaScript spellings such as \\d, \\b, (?<name>…), \\uXXXX and lookbehinds work; backreferences and lookaheads do not.",
    ),
  ignore_case: z.boolean().default(false).describe("Match content case-insensitively (default false)."),
  max_results: z.number().int().min(1).max(100_000).default(1000).describe("Stop after this many results: paths, or matching lines when content is given (default 1000)."),
  max_depth: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("How many levels below path to descend, like find -maxdepth: 1 = only path's direct entries, 0 = only path itself. Default: no limit."),
  all: z.boolean().default(false).describe("Also search names starting with a dot, and inside dot directories (default false)."),
  timeout_s: z
    .number()
    .positive()
    .max(MAX_SEARCH_TIMEOUT_S)
    .optional()
    .describe(`Stop after this many seconds and return what was found so far, with timed_out true (default ${DEFAULT_SEARCH_TIMEOUT_S}, at most ${MAX_SEARCH_TIMEOUT_S}).`),
});

const output = z.object({
  path: z.string().describe("The starting path, absolute; every result starts with it."),
  matches: z.array(z.string()).describe("Paths whose name matches, sorted (with content: the files that have a matching line)."),
  count: z.number().describe("Results returned: paths, or matching lines when content is given."),
  truncated: z.boolean().describe("True when max_results cut the results short."),
  lines: z.array(z.string()).optional().describe('With content: matching lines as "path:line:text" (text cut to 500 characters).'),
  cycles_skipped: z.number().describe("Directories not entered because a symlink led back to one of their own ancestors."),
  outside_skipped: z.number().optional().describe("Symlinks not followed because the file policy refuses where they lead (outside allowed_paths, or lmcp's own secrets)."),
  refused_skipped: z.number().optional().describe("With content: files not searched because the file policy refuses them (lmcp's own secrets, outside allowed_paths)."),
  timed_out: z.boolean().optional().describe("True when timeout_s ran out: the results are what was found until then."),
  unreadable_skipped: z.number().describe("Directories (or, with content, files) that could not be read, e.g. permission denied."),
  unreadable_paths: z.array(z.string()).describe("Up to 20 of those paths."),
  binary_skipped: z.number().optional().describe("With content: files skipped as binary."),
  large_skipped: z.number().optional().describe("With content: files skipped because they are over 16 MiB."),
});

/** What search_files returns as structured data; the SSH fallback gives the same. */
export type SearchResult = z.output<typeof output>;

/** The readable text of a search result: the paths or lines, then notes on what was cut or skipped. */
export function summarizeSearch(r: SearchResult, pattern: string, grep: boolean): string {
  const out: string[] = grep ? [...(r.lines ?? [])] : [...r.matches];
  if (r.count === 0) out.push(grep ? `no lines match in files named "${pattern}" under ${r.path}` : `no files named "${pattern}" under ${r.path}`);
  else out.push(`[lmcp: ${r.count} ${grep ? "matching lines" : "matches"}]`);
  if (r.truncated) out.push(`[lmcp: stopped at max_results=${r.count}; narrow the pattern or path, or raise max_results]`);
  if (r.cycles_skipped > 0) out.push(`[lmcp: ${r.cycles_skipped} symlinked directories not entered because they loop back to an ancestor]`);
  if (r.outside_skipped) out.push(`[lmcp: ${r.outside_skipped} symlinks not followed because the file policy refuses where they lead (outside allowed_paths, or lmcp's own secrets)]`);
  if (r.refused_skipped) out.push(`[lmcp: ${r.refused_skipped} files not searched because the file policy refuses them (lmcp's own secrets, or outside allowed_paths)]`);
  if (r.unreadable_skipped > 0) {
    out.push(`[lmcp: ${r.unreadable_skipped} unreadable paths skipped (permission denied?): ${r.unreadable_paths.join(", ")}${r.unreadable_skipped > r.unreadable_paths.length ? ", …" : ""}]`);
  }
  if (r.binary_skipped) out.push(`[lmcp: ${r.binary_skipped} binary files not searched]`);
  if (r.large_skipped) out.push(`[lmcp: ${r.large_skipped} files over 16 MiB not searched; use shell with grep for those]`);
  if (r.timed_out) out.push(`[lmcp: stopped at the time budget (timeout_s, default ${DEFAULT_SEARCH_TIMEOUT_S}, at most ${MAX_SEARCH_TIMEOUT_S}): these are the results found until then; narrow path or pattern, or raise timeout_s]`);
  return out.join("\n");
}

export const searchFiles = defineTool({
  name: "search_files",
  title: "Search files",
  description:
    'Finds files and directories whose NAME matches a glob under a path, recursively, like `find -L PATH -name PATTERN` (follows symlinks, skips symlink loops and unreadable folders and says how many). ' +
    "With content, returns the lines matching a regex (RE2 syntax, linear time) in those files as path:line:text. Dot files are skipped unless all is true; max_results (default 1000) caps the results, " +
    `timeout_s (default ${DEFAULT_SEARCH_TIMEOUT_S} s) the time: then what was found so far comes back with timed_out.`,
  input,
  output,
  annotations: { title: "Search files", readOnlyHint: true, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    const budgetMs = (args.timeout_s ?? DEFAULT_SEARCH_TIMEOUT_S) * 1000;
    const request: SearchRequest = {
      start: path,
      pattern: args.pattern,
      ...(args.content !== undefined ? { content: { source: args.content, ignoreCase: args.ignore_case } } : {}),
      maxResults: args.max_results,
      maxDepth: args.max_depth ?? Number.POSITIVE_INFINITY,
      all: args.all,
      ...(ctx.policy ? { policy: ctx.policy } : {}),
    };
    const ran = await runPooledSearch(request, budgetMs, ctx.signal);
    if (ctx.signal.aborted) return fail("cancelled: the search was stopped");
    let found: SearchFindings;
    if ("unanswered" in ran) {
      // Stopped before any worker answered (queued behind other searches past the budget, or a filesystem call hung).
      if (ran.unanswered === "cancelled") return fail("cancelled: the search was stopped");
      found = { ...emptyFindings(), stopped: "time_budget" };
    } else if ("error" in ran.answer) {
      return ran.answer.denied ? deny(ran.answer.error) : fail(ran.answer.error);
    } else found = ran.answer.findings;
    const grep = args.content !== undefined;
    const result: SearchResult = {
      path,
      matches: found.matches,
      count: grep ? found.lines.length : found.matches.length,
      truncated: found.truncated,
      cycles_skipped: found.cycles,
      ...(found.outside > 0 ? { outside_skipped: found.outside } : {}),
      ...(found.refused > 0 ? { refused_skipped: found.refused } : {}),
      unreadable_skipped: found.unreadable,
      unreadable_paths: found.unreadablePaths,
      ...(grep ? { lines: found.lines, binary_skipped: found.binarySkipped, large_skipped: found.largeSkipped } : {}),
      ...(found.stopped === "time_budget" ? { timed_out: true } : {}),
    };
    return ok(result, summarizeSearch(result, args.pattern, grep));
  },
});

function emptyFindings(): SearchFindings {
  return { matches: [], lines: [], truncated: false, cycles: 0, outside: 0, refused: 0, unreadable: 0, unreadablePaths: [], binarySkipped: 0, largeSkipped: 0 };
}
