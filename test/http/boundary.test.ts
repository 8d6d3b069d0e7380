import { describe, expect, test } from "bun:test";
import { hostCheck } from "../../src/http/boundary.ts";
import { canonicalHost, isLoopback, loopbackOrigins, parseHostHeader } from "../../src/http/host_names.ts";

describe("hostCheck", () => {
  test("on loopback, accepts loopback names with any port and refuses others", () => {
    const check = hostCheck("127.0.0.1", [])!;
    for (const h of ["localhost", "localhost:8765", "127.0.0.1:1", "[::1]:8765", "[::1]", "LOCALHOST:9", "127.1:8765"]) expect(check.allows(h), h).toBe(true);
    for (const h of ["evil.com", "evil.com:8765", "127.0.0.1.evil.com", "localhost.evil.com:80", "", "[::2]:80"]) expect(check.allows(h), h).toBe(false);
  });
  test("Host values are parsed strictly: anything after the host but :digits is refused", () => {
    const check = hostCheck("127.0.0.1", [])!;
    for (const h of ["[::1]evil.com", "localhost:80x", "localhost:", "localhost:99999", "[::1]:", "localhost evil.com", "localhost/x", "user@localhost", "[::1", "localhost:80:80"]) {
      expect(check.allows(h), h).toBe(false);
    }
  });
  test("every loopback spelling of the bound address gets the check", () => {
    for (const bound of ["127.0.0.1", "127.1", "0x7f.1", "2130706433", "::1", "[::1]", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1", "localhost", "127.0.0.9"]) {
      const check = hostCheck(bound, []);
      expect(check, bound).not.toBeNull();
      expect(check!.allows("evil.com:8765"), bound).toBe(false);
      expect(check!.allows("localhost:8765"), bound).toBe(true);
    }
  });
  test("allowed_hosts extend the loopback names", () => {
    const check = hostCheck("127.0.0.1", ["box.lan"])!;
    expect(check.allows("box.lan:8765")).toBe(true);
    expect(check.allows("BOX.LAN")).toBe(true);
    expect(check.allows("other.lan")).toBe(false);
    expect(check.expected).toContain("box.lan");
    expect(check.expected).toContain("localhost");
  });
  test("the bound loopback address itself is accepted", () => {
    expect(hostCheck("127.0.0.9", [])!.allows("127.0.0.9:8765")).toBe(true);
    expect(hostCheck("::ffff:127.0.0.1", [])!.allows("[::ffff:127.0.0.1]:8765")).toBe(true);
  });
  test("off loopback without allowed_hosts there is no Host check", () => {
    expect(hostCheck("0.0.0.0", [])).toBeNull();
    expect(hostCheck("::", [])).toBeNull();
    expect(hostCheck("10.1.2.3", [])).toBeNull();
    expect(hostCheck("::ffff:10.1.2.3", [])).toBeNull();
    expect(hostCheck("0.0.0.0", ["a.lan"])!.allows("b.lan")).toBe(false);
    expect(hostCheck("0.0.0.0", ["a.lan"])!.allows("a.lan:80")).toBe(true);
  });
});

describe("host names", () => {
  test("canonicalHost gives one form per address and null for what is not a host", () => {
    expect(canonicalHost("127.1")).toBe("127.0.0.1");
    expect(canonicalHost("::ffff:127.0.0.1")).toBe("[::ffff:7f00:1]");
    expect(canonicalHost("[0:0:0:0:0:0:0:1]")).toBe("[::1]");
    expect(canonicalHost("LocalHost")).toBe("localhost");
    for (const bad of ["", "a b", "x:80", "x/y", "u@x", "999.1.1.1", "[v1.x]"]) expect(canonicalHost(bad), bad).toBeNull();
  });
  test("isLoopback covers 127/8, ::1 and mapped 127/8 only", () => {
    for (const a of ["127.0.0.1", "127.255.0.1", "[::1]", "[::ffff:7f00:1]", "[::ffff:7fff:ffff]", "localhost"]) expect(isLoopback(a), a).toBe(true);
    for (const a of ["0.0.0.0", "[::]", "10.0.0.1", "[::ffff:a00:1]", "128.0.0.1", "localhost.evil.com"]) expect(isLoopback(a), a).toBe(false);
  });
  test("parseHostHeader splits host and port", () => {
    expect(parseHostHeader("[::1]:8765")).toEqual({ host: "[::1]", port: 8765 });
    expect(parseHostHeader("Example.COM")).toEqual({ host: "example.com", port: undefined });
    expect(parseHostHeader("[::1]evil.com")).toBeNull();
  });
  test("loopbackOrigins are this listener's own port on loopback names, http and https", () => {
    const origins = loopbackOrigins("127.0.0.1", 8765);
    for (const o of ["http://localhost:8765", "https://localhost:8765", "http://127.0.0.1:8765", "http://[::1]:8765"]) expect(origins).toContain(o);
    expect(origins).not.toContain("http://localhost:8766");
    expect(loopbackOrigins("127.0.0.1", 80)).toContain("http://localhost");
  });
});
