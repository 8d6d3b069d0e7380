import { describe, expect, test } from "bun:test";
import { BearerAuth } from "../../src/http/auth.ts";

describe("BearerAuth", () => {
  const auth = new BearerAuth(["alpha-token", "beta-token"]);
  test("accepts every configured token and says which one", () => {
    expect(auth.check("Bearer alpha-token")).toBe(0);
    expect(auth.check("Bearer beta-token")).toBe(1);
    expect(auth.check("bearer beta-token")).toBe(1);
  });
  test("refuses wrong, missing, prefixed and malformed headers", () => {
    for (const h of [null, "", "Bearer", "Bearer ", "Bearer alpha", "Bearer alpha-token2", "Basic alpha-token", "alpha-token", "Bearer alpha-token extra"]) {
      expect(auth.check(h)).toBe(-1);
    }
  });
  test("rotation replaces the accepted set", () => {
    const a = new BearerAuth(["old"]);
    a.replace(["new"]);
    expect(a.check("Bearer old")).toBe(-1);
    expect(a.check("Bearer new")).toBe(0);
  });
});
