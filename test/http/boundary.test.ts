import { describe, expect, test } from "bun:test";
import { hostCheck } from "../../src/http/boundary.ts";

describe("hostCheck", () => {
  test("on loopback, accepts loopback names with any port and refuses others", () => {
    const ok = hostCheck("127.0.0.1", [])!;
    for (const h of ["localhost", "localhost:8765", "127.0.0.1:1", "[::1]:8765", "[::1]", "LOCALHOST:9"]) expect(ok(h)).toBe(true);
    for (const h of ["evil.com", "evil.com:8765", "127.0.0.1.evil.com", "localhost.evil.com:80", "", "[::2]:80"]) expect(ok(h)).toBe(false);
  });
  test("allowed_hosts extend the loopback names", () => {
    const ok = hostCheck("127.0.0.1", ["box.lan"])!;
    expect(ok("box.lan:8765")).toBe(true);
    expect(ok("other.lan")).toBe(false);
  });
  test("the bound loopback address itself is accepted", () => {
    expect(hostCheck("127.0.0.9", [])!("127.0.0.9:8765")).toBe(true);
  });
  test("off loopback without allowed_hosts there is no Host check", () => {
    expect(hostCheck("0.0.0.0", [])).toBeNull();
    expect(hostCheck("0.0.0.0", ["a.lan"])!("b.lan")).toBe(false);
  });
});
