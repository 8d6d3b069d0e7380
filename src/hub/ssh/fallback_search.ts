// search_files over ssh: `find -L START` walks (following a symlinked start,
// reporting loops and unreadable folders on stderr), -name filters, and perl
// orders the paths as lmcp's walk does and greps the files.
import { searchFiles, summarizeSearch, type SearchResult } from "../../tools/search_files.ts";
import { compileContent } from "../../tools/search_regex.ts";
import { fail, ok, type ToolContext, type ToolOutcome } from "../../tools/tool.ts";
import { noRemotePolicy, remoteProgram } from "./perl.ts";
import { hasNul } from "./quote.ts";
import { policyRefusal, remoteErrnoMessage, runProgram } from "./remote.ts";
import type { SshRunner, SshTarget } from "./runner.ts";

const MAX_PATTERNS = 256;

/**
 * Expands `{a,b}` alternatives (nested too) into plain globs for find -name,
 * which has no braces; Bun.Glob, which lmcp matches names with, has them. The
 * rest of the syntax (`*`, `?`, `[...]`, `\` escapes) means the same to both.
 * Unbalanced braces stay literal. At most MAX_PATTERNS results.
 */
export function expandBraces(pattern: string): string[] {
  let open = -1;
  let depth = 0;
  const commas: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "{") {
      if (depth === 0) open = i;
      depth++;
    } else if (c === "}" && depth > 0) {
      depth--;
      if (depth === 0) {
        if (commas.length === 0) {
          // `{x}` is not an alternative: keep it literal and look further.
          const rest = expandBraces(pattern.slice(i + 1));
          return rest.map((r) => pattern.slice(0, i + 1) + r).slice(0, MAX_PATTERNS);
        }
        const pre = pattern.slice(0, open);
        const post = pattern.slice(i + 1);
        const bounds = [open, ...commas, i];
        const out: string[] = [];
        for (let k = 0; k + 1 < bounds.length && out.length < MAX_PATTERNS; k++) {
          for (const alt of expandBraces(pattern.slice(bounds[k]! + 1, bounds[k + 1]!))) {
            for (const tail of expandBraces(post)) {
              if (out.length >= MAX_PATTERNS) break;
              out.push(pre + alt + tail);
            }
          }
        }
        return [...new Set(out)];
      }
    } else if (c === "," && depth === 1) {
      commas.push(i);
    }
  }
  return [pattern];
}

/**
 * A JavaScript regex source as perl reads it. perl's engine agrees with JS on
 * common patterns (classes, groups, lookaround, named groups, quantifiers,
 * anchors); the differences are handled or accepted here:
 * - `\uXXXX` becomes `\x{XXXX}`; `[^]` (any character) becomes `[\s\S]`.
 * - `(?a)` keeps `\d`, `\w`, `\s`, `\b` to ASCII as in JS (JS's `\s` also
 *   matches Unicode spaces such as U+00A0; under `(?a)` perl's does not).
 * - perl's `/i` folds case by full Unicode rules, JS's (without /u) by simple ones.
 * - perl forbids some constructs JS accepts (a lone `{` after an atom, lookbehind
 *   of unbounded length); those fail with perl's message.
 * - Lines that are not valid UTF-8 are matched as bytes by perl, as U+FFFD by lmcp.
 */
export function jsRegexToPerl(src: string): string {
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") {
      const hex = /^u([0-9a-fA-F]{4})/.exec(src.slice(i + 1, i + 6));
      if (hex) {
        out += `\\x{${hex[1]}}`;
        i += 5;
      } else {
        out += src.slice(i, i + 2);
        i++;
      }
    } else if (src.startsWith("[^]", i)) {
      out += "[\\s\\S]";
      i += 2;
    } else {
      out += c;
    }
  }
  return `(?a)${out}`;
}

export async function sshSearchFiles(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = searchFiles.input.parse(raw);
  if (hasNul(args.path) || hasNul(args.pattern) || (args.content !== undefined && hasNul(args.content))) {
    return fail("path, pattern and content cannot hold a NUL byte over ssh; remove it");
  }
  let perlRegex = "";
  if (args.content !== undefined) {
    // The same check as lmcp's own (RE2 syntax), so a pattern lmcp refuses is refused over SSH too, in the same words.
    const compiled = compileContent(args.content, args.ignore_case);
    if ("error" in compiled) return fail(compiled.error);
    perlRegex = jsRegexToPerl(args.content);
  }
  const patterns = expandBraces(args.pattern);
  const script = remoteProgram("search_files", target.policy ?? noRemotePolicy, [
    args.path,
    args.all ? 1 : 0,
    args.max_depth ?? "",
    args.max_results,
    args.content !== undefined ? 1 : 0,
    perlRegex,
    args.ignore_case ? 1 : 0,
    patterns.length,
    ...patterns,
  ]);
  const run = await runProgram(runner, target, script, { signal: ctx.signal });
  if ("failure" in run) return run.failure;
  const f = run.reader;
  if (f.text() === "err") {
    const code = f.text();
    const path = f.text();
    const rest = f.left > 0 ? f.text() : "";
    const refused = policyRefusal(target, code, path);
    if (refused) return refused;
    if (code === "REGEX") return fail(`content is a valid JavaScript regex, but perl on ${target.name} (the SSH fallback greps with perl) refuses it: ${rest.trim()}. Simplify the pattern`);
    if (code === "FIND") return fail(`cannot search on ${target.name}: find could not be started (${rest}); the SSH fallback needs find there`);
    return fail(`cannot search: ${remoteErrnoMessage(target, code, path, rest)}`);
  }
  const path = f.text();
  const truncated = f.flag();
  const cycles = f.number();
  const unreadable = f.number();
  const binary = f.number();
  const large = f.number();
  const unreadablePaths = f.texts(f.number());
  const matches = f.texts(f.number());
  const lines = f.texts(f.number());
  const grep = args.content !== undefined;
  const result: SearchResult = {
    path,
    matches: matches.sort(),
    count: grep ? lines.length : matches.length,
    truncated,
    cycles_skipped: cycles,
    unreadable_skipped: unreadable,
    unreadable_paths: unreadablePaths,
    ...(grep ? { lines, binary_skipped: binary, large_skipped: large } : {}),
  };
  return ok(result, summarizeSearch(result, args.pattern, grep));
}
