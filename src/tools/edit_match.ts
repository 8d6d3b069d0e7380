// When edit_file's old_string is not in the file: finds the closest region and
// says what differs (line endings, indentation, trailing spaces, case), so the
// agent can retry in one step. Pure functions, bounded work.

/** How the closest region was found: the loosest normalisation under which it equals old_string, or by similarity. */
export type MatchLevel = "exact_lines" | "trailing_space" | "whitespace" | "case" | "similar";

export interface ClosestMatch {
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  level: MatchLevel;
  /** 0..1; 1 unless level is "similar". */
  similarity: number;
  /** What differs, in the agent's words; most useful first. */
  differences: string[];
  /** The region's lines (line endings dropped), bounded; `regionCut` says lines were left out. */
  region: string;
  regionCut: boolean;
  /** Only the first `scannedLines` lines were searched by similarity (large file). */
  scannedLines?: number;
}

/** Bounds: shown region, similarity scan, per-line comparison. */
export const REGION_MAX_LINES = 40;
export const REGION_MAX_BYTES = 4096;
const SCAN_MAX_CHARS = 32_000_000;
const LINE_MAX_CHARS = 2000;
const COMPARE_BUDGET = 5_000_000;
/** Below this, nothing is "close" and no region is shown. */
const MIN_SIMILARITY = 0.4;

const stripCR = (l: string) => (l.endsWith("\r") ? l.slice(0, -1) : l);
const collapse = (l: string) => l.replace(/[ \t]+/g, " ").trim();
const NORMALISERS: [MatchLevel, (l: string) => string][] = [
  ["exact_lines", (l) => l],
  ["trailing_space", (l) => l.trimEnd()],
  ["whitespace", collapse],
  ["case", (l) => collapse(l).toLowerCase()],
];

/**
 * Whether old line `i` of `w` fits file line `f`: the first line may be the end
 * of a file line, the last its start, a single line any part (old_string need
 * not start or end at a line boundary).
 */
function lineFits(f: string, o: string, i: number, w: number): boolean {
  if (w === 1) return f.includes(o);
  if (i === 0) return f.endsWith(o);
  if (i === w - 1) return f.startsWith(o);
  return f === o;
}

/** The first window of lines equal to `core` under `norm`; gives up after COMPARE_BUDGET line comparisons (pathological repetitive files). */
function findWindow(file: string[], core: string[], norm: (l: string) => string): number | undefined {
  const w = core.length;
  const nc = core.map(norm);
  const nf = file.map(norm);
  let budget = COMPARE_BUDGET;
  for (let k = 0; k + w <= nf.length && budget > 0; k++) {
    let all = true;
    for (let i = 0; i < w && all; i++, budget--) all = lineFits(nf[k + i]!, nc[i]!, i, w);
    if (all) return k;
  }
  return undefined;
}

// --- similarity: Dice coefficient over character bigrams ---

function bigrams(s: string): Map<number, number> {
  const m = new Map<number, number>();
  const t = s.length > LINE_MAX_CHARS ? s.slice(0, LINE_MAX_CHARS) : s;
  for (let i = 0; i + 1 < t.length; i++) {
    const key = t.charCodeAt(i) * 65536 + t.charCodeAt(i + 1);
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  return m;
}

function dice(a: string, b: string, bg = bigrams(a)): number {
  if (a === b) return 1;
  if (a.length < 2 || b.length < 2) return 0;
  const other = bigrams(b);
  let common = 0;
  let na = 0;
  let nb = 0;
  for (const n of bg.values()) na += n;
  for (const [k, n] of other) {
    nb += n;
    common += Math.min(n, bg.get(k) ?? 0);
  }
  return (2 * common) / (na + nb);
}

/** Similarity of old line `o` to file line `f`, allowing `o` to be a fragment of `f` where lineFits would. */
function lineScore(f: string, o: string, i: number, w: number): number {
  const whole = dice(o, f);
  const partial = w === 1 || i === 0 || i === w - 1;
  if (!partial || f.length <= o.length * 1.5 || o.length < 2) return whole;
  let best = whole;
  const bg = bigrams(o);
  const step = Math.max(1, Math.ceil(o.length / 4));
  const hay = f.slice(0, LINE_MAX_CHARS);
  for (let s = 0; s + o.length <= hay.length; s += step) best = Math.max(best, dice(o, hay.slice(s, s + o.length), bg));
  return best;
}

/** Similarity of a window of file lines to `core`, each line weighted by its length. */
function windowScore(window: string[], core: string[]): number {
  let sum = 0;
  let weight = 0;
  for (let i = 0; i < core.length; i++) {
    const o = core[i]!;
    const wgt = Math.max(1, o.length);
    sum += wgt * lineScore(window[i] ?? "", o, i, core.length);
    weight += wgt;
  }
  return weight === 0 ? 0 : sum / weight;
}

const tokensOf = (l: string): string[] => l.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];

/**
 * The best window by similarity. Scoring every window is too slow for big
 * files, so candidates come from a cheap pass first: windows holding the most
 * of old_string's words, each weighted by its rarity in the file (a line
 * naming `value150000` counts far more than one naming `const`), plus windows
 * where whole lines agree. Only the candidates are scored by character bigrams.
 */
function similarWindow(file: string[], core: string[]): { k: number; score: number; scanned: number } {
  const norm = NORMALISERS[3]![1];
  const w = core.length;
  const nc = core.map(norm);
  const wanted = new Set(nc.flatMap(tokensOf));
  const lineTokens: string[][] = [];
  const freq = new Map<string, number>();
  let chars = 0;
  for (const l of file) {
    if (chars > SCAN_MAX_CHARS) break;
    chars += l.length;
    const hits = [...new Set(tokensOf(l))].filter((t) => wanted.has(t));
    for (const t of hits) freq.set(t, (freq.get(t) ?? 0) + 1);
    lineTokens.push(hits);
  }
  const scanned = lineTokens.length;
  const lastStart = Math.max(0, scanned - w);
  const lineWeight = lineTokens.map((hits) => hits.reduce((sum, t) => sum + 1 / freq.get(t)!, 0));
  // Sliding sum of line weights over windows of w lines.
  const windows: [number, number][] = [];
  let sum = 0;
  for (let j = 0; j < scanned; j++) {
    sum += lineWeight[j]!;
    if (j >= w) sum -= lineWeight[j - w]!;
    if (j >= Math.min(w, scanned) - 1) windows.push([Math.max(0, j - w + 1), sum]);
  }
  const candidates = new Set(
    windows
      .filter(([, v]) => v > 1e-9) // the sliding sum leaves float dust where no word matched
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([k]) => k),
  );
  const where = new Map<string, number[]>();
  nc.forEach((l, i) => l && where.set(l, [...(where.get(l) ?? []), i]));
  // A line repeated all over old_string says little about where it is, and would cost a vote per repeat per file line.
  for (const [l, is] of where) if (is.length > 3) where.delete(l);
  const votes = new Map<number, number>();
  for (let j = 0; j < scanned; j++) {
    for (const i of where.get(norm(file[j]!)) ?? []) {
      const k = Math.min(lastStart, Math.max(0, j - i));
      votes.set(k, (votes.get(k) ?? 0) + 1);
    }
  }
  for (const [k] of [...votes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10)) candidates.add(k);
  if (candidates.size === 0) candidates.add(0);

  const nf = (k: number) => file.slice(k, k + w).map((l) => norm(l.slice(0, LINE_MAX_CHARS)));
  let best = { k: 0, score: 0, scanned };
  for (const k of candidates) {
    const score = windowScore(nf(k), nc);
    if (score > best.score) best = { k, score, scanned };
  }
  return best;
}

// --- describing what differs ---

function describeIndent(ws: string): string {
  const tabs = [...ws].filter((c) => c === "\t").length;
  const spaces = ws.length - tabs;
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? "" : "s"}`;
  if (ws === "") return "no indentation";
  if (tabs === 0) return n(spaces, "space");
  if (spaces === 0) return n(tabs, "tab");
  return `${n(tabs, "tab")} and ${n(spaces, "space")}`;
}

const leadOf = (s: string) => s.slice(0, s.length - s.trimStart().length);
const trailOf = (s: string) => s.slice(s.trimEnd().length);
const show = (s: string) => {
  const points = Array.from(s);
  return JSON.stringify(points.length > 100 ? `${points.slice(0, 97).join("")}...` : s);
};

/** What differs between file lines k.. and the old_string lines `core`, first example of each kind. */
function describe(rawFile: string[], file: string[], core: string[], k: number, oldHasCRLF: boolean): string[] {
  const out: string[] = [];
  const w = core.length;
  const window = rawFile.slice(k, k + w);
  const crlf = window.slice(0, w > 1 ? w - 1 : 1).filter((l) => l.endsWith("\r")).length;
  const breaks = Math.max(1, w - 1);
  if (oldHasCRLF && crlf === 0) out.push("old_string has CRLF line endings, the file uses LF here");
  else if (crlf > 0 && crlf < breaks && w > 1) out.push("the file mixes CRLF and LF line endings in these lines; old_string must match each one");
  let indent: string | undefined;
  let trailing: string | undefined;
  let spacing: string | undefined;
  let caseNote: string | undefined;
  let other: string | undefined;
  let otherCount = 0;
  for (let i = 0; i < w; i++) {
    const f = file[k + i] ?? "";
    const o = core[i]!;
    const line = k + i + 1;
    const fits = (lvl: number) => lineFits(NORMALISERS[lvl]![1](f), NORMALISERS[lvl]![1](o), i, w);
    if (fits(0)) continue;
    if (!fits(3)) {
      otherCount++;
      other ??= `line ${line} differs: the file has ${show(f)}, old_string has ${show(o)}`;
      continue;
    }
    if (!fits(2)) caseNote ??= `letter case differs (line ${line}: the file has ${show(f.trim())}, old_string has ${show(o.trim())})`;
    // Where old_string starts or ends inside a line, that side of the line is not compared.
    const full = collapse(f) === collapse(o);
    const [lf, lo] = [leadOf(f), leadOf(o)];
    // old_string may start at the first non-blank character of its first line: no indentation there is no difference.
    if ((i > 0 || (full && lo !== "")) && lf !== lo) {
      const style =
        lf.includes("\t") && !lf.includes(" ") && lo.includes(" ") && !lo.includes("\t")
          ? "the file indents with tabs, old_string with spaces; "
          : lf.includes(" ") && !lf.includes("\t") && lo.includes("\t") && !lo.includes(" ")
            ? "the file indents with spaces, old_string with tabs; "
            : "";
      indent ??= `indentation differs: ${style}line ${line} of the file has ${describeIndent(lf)}, old_string has ${describeIndent(lo)}`;
    }
    const [tf, to] = [trailOf(f), trailOf(o)];
    if ((full || (w > 1 && i < w - 1)) && tf !== to) {
      trailing ??= `trailing whitespace differs: line ${line} of the file ends with ${tf ? describeIndent(tf) : "no whitespace"}, old_string with ${to ? describeIndent(to) : "none"}`;
    }
    if (full && f.trim() !== o.trim()) spacing ??= `spacing inside line ${line} differs: the file has ${show(f.trim())}, old_string has ${show(o.trim())}`;
  }
  if (other) out.push(otherCount > 1 ? `${other} (${otherCount} lines differ)` : other);
  for (const d of [indent, trailing, spacing, caseNote]) if (d) out.push(d);
  return out;
}

function renderRegion(lines: string[]): { text: string; cut: boolean } {
  const kept: string[] = [];
  let bytes = 0;
  for (const l of lines.slice(0, REGION_MAX_LINES)) {
    const size = Buffer.byteLength(l, "utf8") + 1;
    if (bytes + size > REGION_MAX_BYTES) {
      if (kept.length === 0) kept.push(`${Array.from(l).slice(0, REGION_MAX_BYTES / 4).join("")}…`);
      return { text: kept.join("\n"), cut: true };
    }
    kept.push(l);
    bytes += size;
  }
  return { text: kept.join("\n"), cut: lines.length > kept.length };
}

/** The region of `text` closest to `oldS` and how it differs, or undefined when nothing is close. */
export function findClosest(text: string, oldS: string): ClosestMatch | undefined {
  const rawFile = text.split("\n");
  const file = rawFile.map(stripCR);
  const oldLines = oldS.split("\n").map(stripCR);
  if (oldLines.length > 1 && oldLines.at(-1) === "") oldLines.pop();
  const first = oldLines.findIndex((l) => l.trim() !== "");
  if (first < 0) return undefined;
  let last = oldLines.length - 1;
  while (oldLines[last]!.trim() === "") last--;
  const core = oldLines.slice(first, last + 1);
  const oldHasCRLF = oldS.includes("\r\n");

  const found = (k: number, level: MatchLevel, similarity: number, scannedLines?: number): ClosestMatch => {
    const differences = describe(rawFile, file, core, k, oldHasCRLF);
    const endLine = Math.min(file.length, k + core.length);
    if (level === "similar") differences.unshift(`closest text found at lines ${k + 1}–${endLine} (${Math.min(99, Math.floor(similarity * 100))}% similar)`);
    else if (differences.length === 0) {
      differences.push("the same lines are in the file, but the blank lines or line breaks at the start or end of old_string differ");
    }
    const region = renderRegion(file.slice(k, endLine));
    const m: ClosestMatch = { startLine: k + 1, endLine, level, similarity, differences, region: region.text, regionCut: region.cut };
    if (scannedLines !== undefined && scannedLines < file.length) m.scannedLines = scannedLines;
    return m;
  };

  for (const [level, norm] of NORMALISERS) {
    const k = findWindow(file, core, norm);
    if (k !== undefined) return found(k, level, 1);
  }
  const best = similarWindow(file, core);
  if (best.score < MIN_SIMILARITY) return undefined;
  return found(best.k, "similar", best.score, best.scanned);
}

/** The not-found message: what to do, and the closest region with its differences when there is one. */
export function notFoundMessage(path: string, text: string, oldS: string): string {
  const head = `old_string not found in ${path}; read the file again and copy the exact text, including whitespace and indentation`;
  const m = findClosest(text, oldS);
  if (!m) return `${head}. Nothing in the file is close to it.`;
  const lines = [`${head}.`, `Closest text: lines ${m.startLine}–${m.endLine}. What differs:`, ...m.differences.map((d) => `- ${d}`)];
  if (m.scannedLines) lines.push(`(only the first ${m.scannedLines} lines were searched for similar text)`);
  lines.push(`Lines ${m.startLine}–${m.endLine} of the file${m.regionCut ? " (cut)" : ""}:`, m.region);
  return lines.join("\n");
}
