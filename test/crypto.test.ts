import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { bytesEqual, randomBytes, sha256, sha256Hex } from "../src/crypto.ts";

describe("crypto on Bun's native primitives", () => {
  test("sha256 and sha256Hex agree with node:crypto for strings and bytes", () => {
    for (const input of ["", "token-abc", "é☃\u0000", new Uint8Array([0, 255, 7, 128])]) {
      const expected = createHash("sha256").update(input).digest();
      expect(sha256(input).equals(expected)).toBe(true);
      expect(sha256Hex(input)).toBe(expected.toString("hex"));
    }
  });

  test("randomBytes gives the length asked for, and differs from call to call", () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(a.length).toBe(32);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a.equals(b)).toBe(false);
    expect(randomBytes(5).toString("hex")).toMatch(/^[0-9a-f]{10}$/);
  });

  test("bytesEqual is true only for identical bytes of the same length", () => {
    const d = sha256("x");
    expect(bytesEqual(d, sha256("x"))).toBe(true);
    expect(bytesEqual(d, sha256("y"))).toBe(false);
    expect(bytesEqual(d, d.subarray(0, 16))).toBe(false);
  });
});
