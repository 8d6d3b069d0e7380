import { describe, expect, test } from "bun:test";
import { jsonTooDeep } from "../../src/http/json_depth.ts";

const nest = (n: number) => "[".repeat(n) + "]".repeat(n);

describe("jsonTooDeep", () => {
  test("accepts exactly 64 levels and refuses 65", () => {
    expect(jsonTooDeep(nest(64), 64)).toBe(false);
    expect(jsonTooDeep(nest(65), 64)).toBe(true);
  });
  test("counts objects and arrays alike", () => {
    expect(jsonTooDeep('{"a":'.repeat(65) + "1" + "}".repeat(65), 64)).toBe(true);
  });
  test("ignores brackets inside strings, escaped quotes included", () => {
    const s = JSON.stringify({ s: "[".repeat(1000) + '\\"[[[' });
    expect(jsonTooDeep(s, 2)).toBe(false);
  });
  test("an unterminated deep prefix is still refused", () => {
    expect(jsonTooDeep("[".repeat(100_000), 64)).toBe(true);
  });
  test("siblings do not add depth", () => {
    expect(jsonTooDeep("[" + "[],".repeat(1000) + "[]]", 2)).toBe(false);
  });
});
