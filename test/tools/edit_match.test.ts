import { describe, expect, test } from "bun:test";
import { findClosest, notFoundMessage, REGION_MAX_BYTES, REGION_MAX_LINES } from "../../src/tools/edit_match.ts";

const closest = (text: string, old: string) => {
  const m = findClosest(text, old);
  if (!m) throw new Error("expected a closest match");
  return m;
};

describe("findClosest", () => {
  test("same lines apart from line endings: old_string with CRLF in an LF file", () => {
    const m = closest("x\na\nb\n", "a\r\nb");
    expect(m).toMatchObject({ startLine: 2, endLine: 3, level: "exact_lines", similarity: 1 });
    expect(m.differences).toEqual(["old_string has CRLF line endings, the file uses LF here"]);
  });

  test("a file that mixes CRLF and LF is named as such", () => {
    expect(closest("a\r\nb\nc\r\n", "a\nb\nc").differences[0]).toContain("mixes CRLF and LF");
  });

  test("extra blank lines at the edge of old_string are the only difference", () => {
    const m = closest("    indented\n", "  indented\n\n");
    expect(m.level).toBe("exact_lines");
    expect(m.differences[0]).toContain("blank lines or line breaks at the start or end");
  });

  test("trailing whitespace: says which line and what it ends with", () => {
    const m = closest("a = 1\t\nb = 2\n", "a = 1\nb = 2");
    expect(m.level).toBe("trailing_space");
    expect(m.differences).toEqual(["trailing whitespace differs: line 1 of the file ends with 1 tab, old_string with none"]);
  });

  test("indentation: tabs against spaces, and different widths", () => {
    const tabs = closest("if x:\n\tgo()\n", "if x:\n    go()");
    expect(tabs.level).toBe("whitespace");
    expect(tabs.differences[0]).toBe(
      "indentation differs: the file indents with tabs, old_string with spaces; line 2 of the file has 1 tab, old_string has 4 spaces",
    );
    expect(closest("if x:\n        go()\n", "if x:\n    go()").differences[0]).toContain("line 2 of the file has 8 spaces, old_string has 4 spaces");
  });

  test("a fragment that starts mid-line is not blamed for missing indentation", () => {
    const m = closest("    total = a +  b\n    return total\n", "total = a + b\n    return total");
    expect(m.differences).toEqual(["spacing inside line 1 differs: the file has \"total = a +  b\", old_string has \"total = a + b\""]);
  });

  test("letter case", () => {
    const m = closest("SELECT * FROM t;\n", "select * from t;");
    expect(m.level).toBe("case");
    expect(m.differences[0]).toContain("letter case differs (line 1");
  });

  test("otherwise the most similar window, with its similarity and first differing line", () => {
    const text = ["import x", "", "def area(w, h):", "    return w * h", "", "def other():", "    pass"].join("\n");
    const m = closest(text, "def area(w, h):\n    return w + h");
    expect(m).toMatchObject({ startLine: 3, endLine: 4, level: "similar" });
    expect(m.similarity).toBeGreaterThan(0.8);
    expect(m.similarity).toBeLessThan(1);
    expect(m.differences[0]).toMatch(/^closest text found at lines 3–4 \(\d+% similar\)$/);
    expect(m.differences[1]).toContain("line 4 differs");
  });

  test("nothing close, or an old_string of blank lines only, gives no match", () => {
    expect(findClosest("alpha\nbeta\n", "zzzz qqqq")).toBeUndefined();
    expect(findClosest("alpha\n", "\n  \n")).toBeUndefined();
  });

  test("the region shown is bounded in lines and bytes", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}  `);
    const m = closest(lines.join("\n"), lines.map((l) => l.trimEnd()).join("\n"));
    expect(m.regionCut).toBe(true);
    expect(m.region.split("\n")).toHaveLength(REGION_MAX_LINES);
    const long = `${"é".repeat(10_000)}\n`;
    const big = closest(long, `${"é".repeat(10_000)}  \n`);
    expect(Buffer.byteLength(big.region)).toBeLessThanOrEqual(REGION_MAX_BYTES + 4);
    expect(big.region).not.toContain("\uFFFD");
  });

  test("finds a near match deep in a large file within a bounded time", () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `    const value${i} = compute(${i}, "text ${i % 97}");`);
    const t0 = performance.now();
    const m = closest(lines.join("\n"), `    const value90000 = compute(90000, "TEXT 77");\n    const value90001 = compute(90001, "txt 79");`);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(m.startLine).toBe(90_001);
  });
});

describe("notFoundMessage", () => {
  test("keeps the advice, then the line range, the differences and the region's text", () => {
    const msg = notFoundMessage("/srv/app.py", "def f():\n\treturn 1\n", "def f():\n    return 1");
    expect(msg.split("\n")).toEqual([
      "old_string not found in /srv/app.py; read the file again and copy the exact text, including whitespace and indentation.",
      "Closest text: lines 1–2. What differs:",
      "- indentation differs: the file indents with tabs, old_string with spaces; line 2 of the file has 1 tab, old_string has 4 spaces",
      "Lines 1–2 of the file:",
      "def f():",
      "\treturn 1",
    ]);
  });
});
