import { describe, expect, test } from "bun:test";
import { jsonShapeProblem } from "../../src/http/json_depth.ts";

const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
const shape = (text: string, maxDepth = 64, maxValues = 100_000) => jsonShapeProblem(text, { maxDepth, maxValues });

describe("jsonShapeProblem: depth", () => {
  test("accepts exactly 64 levels and refuses 65", () => {
    expect(shape(nest(64))).toBeUndefined();
    expect(shape(nest(65))).toBe("too_deep");
  });
  test("counts objects and arrays alike", () => {
    expect(shape('{"a":'.repeat(65) + "1" + "}".repeat(65))).toBe("too_deep");
  });
  test("ignores brackets inside strings, escaped quotes and multi-byte text included", () => {
    const s = JSON.stringify({ s: "[".repeat(1000) + '\\"[[[' + "é😀[".repeat(100) });
    expect(shape(s, 2)).toBeUndefined();
  });
  test("an unterminated deep prefix is still refused", () => {
    expect(shape("[".repeat(100_000))).toBe("too_deep");
  });
  test("siblings do not add depth", () => {
    expect(shape("[" + "[],".repeat(1000) + "[]]", 2)).toBeUndefined();
  });
});

describe("jsonShapeProblem: values", () => {
  test("a body of millions of tiny values is refused; the same bytes as one string pass", () => {
    expect(shape(`[${"{},".repeat(200_000)}{}]`)).toBe("too_many_values");
    expect(shape(`[${"1,".repeat(200_000)}1]`)).toBe("too_many_values");
    expect(shape(JSON.stringify({ content: "{},".repeat(200_000) }))).toBeUndefined();
  });
  test("the limit is exact: separators and containers count", () => {
    expect(shape("[1,2,3]", 64, 3)).toBeUndefined(); // one array, two commas
    expect(shape("[1,2,3,4]", 64, 3)).toBe("too_many_values");
  });
});
