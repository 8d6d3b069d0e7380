// search_files' `content` pattern, compiled for RE2JS (a JavaScript port of
// RE2): matching takes time linear in the line, so no pattern can stall a search.
// JavaScript spellings RE2 lacks (\uXXXX, \cX, (?<name>…), [^]) are translated.
import { RE2JS } from "re2js";

/** A compiled content pattern: whether one line (without its newline) matches. */
export interface LineMatcher {
  test(line: string): boolean;
}

const REGEX_HELP = "content uses RE2 syntax, as in grep -E or Go: escape ( [ { . * + ? | \\ with a backslash to match them literally";

/** Constructs a backtracking engine has and RE2 cannot run in linear time, by how they are spelled. */
function unsupported(source: string, re2Error: string): string | undefined {
  if (/\\k</.test(source) || /invalid escape sequence: `\\[1-9]/.test(re2Error)) {
    return "content uses a backreference (\\1 or \\k<name>), which lmcp's linear-time regex engine (RE2) cannot run. Search for the shape without it (e.g. (\\w+) \\w+ for a repeated word) and check the lines it returns, or use shell with grep -P";
  }
  if (/`\(\?[=!]`/.test(re2Error) || /\(\?[=!]/.test(source)) {
    return "content uses a lookahead ((?=…) or (?!…)), which lmcp's linear-time regex engine (RE2) cannot run. Match the following text itself (it then shows in the line), or use shell with grep -P. Lookbehinds (?<=…) and (?<!…) do work";
  }
  if (/`\(\?>`/.test(re2Error) || /`\+\+`|`\*\+`|`\?\+`|`\}\+`/.test(re2Error)) {
    return "content uses an atomic group or possessive quantifier ((?>…), a++), which RE2 does not need: every pattern runs in linear time. Drop the (?> ) or the extra +";
  }
  return undefined;
}

/** Compiles `source` (a JavaScript-style regular expression), or says what is wrong with it and what to do. */
export function compileContent(source: string, ignoreCase: boolean): { matcher: LineMatcher } | { error: string } {
  // RE2JS's translation turns \k<name> into a literal "k<name>", so backreferences by name are refused before it.
  if (/\\k</.test(source)) return { error: unsupported(source, "")! };
  try {
    const re = RE2JS.compile(RE2JS.translateRegExp(source), RE2JS.LOOKBEHINDS | (ignoreCase ? RE2JS.CASE_INSENSITIVE : 0));
    return { matcher: { test: (line) => re.test(line) } };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { error: unsupported(source, message) ?? `content is not a valid regular expression: ${message}. ${REGEX_HELP}` };
  }
}
