// A ReDoS corpus: classic catastrophic-backtracking patterns (nested
// quantifiers, overlapping alternatives, polynomial repeats), each with a line
// that matches and a line that does not. One of the two sends a backtracking
// engine (JavaScript's own, Perl, PCRE) into exponential or high-polynomial
// time; a linear-time engine answers both at once.

export interface RedosCase {
  name: string;
  /** The content pattern, as an agent would send it. */
  pattern: string;
  /** A line the pattern matches. */
  hit: string;
  /** A line it does not match. */
  miss: string;
}

const a = (n: number) => "a".repeat(n);

export const redosCorpus: RedosCase[] = [
  { name: "words with optional spaces (the red team's)", pattern: "^(\\w+\\s?)*$", hit: "just some words", miss: `${a(40)}!` },
  { name: "nested plus", pattern: "^(a+)+$", hit: a(5), miss: `${a(40)}b` },
  { name: "identical alternatives", pattern: "^(a|a)*$", hit: a(3), miss: `${a(40)}b` },
  { name: "overlapping alternatives", pattern: "^(a|aa)+$", hit: a(5), miss: `${a(60)}b` },
  { name: "star of star", pattern: "^(a*)*$", hit: a(4), miss: `${a(40)}b` },
  { name: "adjacent pluses under a plus", pattern: "(x+x+)+y", hit: "xxy", miss: "x".repeat(40) },
  { name: "OWASP Java class name", pattern: "^(([a-z])+.)+[A-Z]([a-z])+$", hit: "abc.Def", miss: `${a(40)}!` },
  {
    name: "OWASP e-mail",
    pattern: "^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
    hit: "john.doe@example.com",
    miss: `${a(40)}!`,
  },
  { name: "word or digit overlap", pattern: "^(\\w|\\d)+$", hit: "abc123", miss: `${"1".repeat(40)}!` },
  { name: "optional a's then a's (Thompson's example)", pattern: "^(a?){30}a{30}$", hit: a(30), miss: `${a(40)}b` },
  { name: "a or optional a", pattern: "^(a|a?)+$", hit: a(3), miss: `${a(40)}b` },
  { name: "lazy CSV fields", pattern: "^(.*?,){30}P", hit: `${"x,".repeat(30)}P`, miss: "1,".repeat(40) },
  { name: "digits under a star", pattern: "^(\\d+)*$", hit: "12345", miss: `${"1".repeat(40)}x` },
  { name: "polynomial: a dozen greedy dot-stars", pattern: "^(.*a){12}$", hit: a(12), miss: `${a(80)}b` },
  { name: "spaces or comma-with-spaces", pattern: "^(\\s+|\\s*,\\s*)*$", hit: " , , ", miss: `${" ".repeat(40)}!` },
  { name: "domain labels", pattern: "^([a-z0-9]+\\.?)+\\.com$", hit: "www.example.com", miss: `${a(40)}!` },
];

/** A text of `lines` lines: the case's hit on every line i with i % 97 == 0, its miss on the others. */
export function redosText(c: RedosCase, lines = 674): string {
  return `${Array.from({ length: lines }, (_, i) => (i % 97 === 0 ? c.hit : c.miss)).join("\n")}\n`;
}

/** The 1-based numbers of the lines of redosText that hold the hit. */
export function redosHitLines(lines = 674): number[] {
  return Array.from({ length: lines }, (_, i) => i).filter((i) => i % 97 === 0).map((i) => i + 1);
}
