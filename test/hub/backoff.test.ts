import { describe, expect, test } from "bun:test";
import { afterAuthFailure, afterFailure, afterSuccess, defaultPolicy, downBackoff, isDue, unknownHealth } from "../../src/hub/backoff.ts";

describe("downBackoff", () => {
  test("goes 60, 120, 240, 480, then stays at 900 s", () => {
    expect([1, 2, 3, 4, 5, 6, 50, 10_000].map((n) => downBackoff(n, defaultPolicy) / 1000)).toEqual([60, 120, 240, 480, 900, 900, 900, 900]);
  });
  test("follows the configured min and max", () => {
    const p = { ttlUpMs: 1, ttlDownMinMs: 1000, ttlDownMaxMs: 5000 };
    expect([1, 2, 3, 4].map((n) => downBackoff(n, p))).toEqual([1000, 2000, 4000, 5000]);
  });
});

describe("health transitions", () => {
  test("an unknown host is due at once", () => {
    expect(isDue(unknownHealth(), 0)).toBe(true);
  });
  test("up is trusted for the up TTL, then due", () => {
    const h = afterSuccess(1000, 2, defaultPolicy);
    expect(h.state).toBe("up");
    expect(isDue(h, 1000 + 29_999)).toBe(false);
    expect(isDue(h, 1000 + 30_000)).toBe(true);
  });
  test("down stays down without a probe for the backoff, which grows per failure and resets on success", () => {
    let h = unknownHealth();
    const now = 0;
    h = afterFailure(h, now, "refused", defaultPolicy);
    expect(h).toMatchObject({ state: "down", failures: 1, nextProbe: 60_000, error: "refused" });
    h = afterFailure(h, 60_000, "refused", defaultPolicy);
    expect(h.nextProbe).toBe(60_000 + 120_000);
    h = afterFailure(h, 180_000, "refused", defaultPolicy);
    expect(h.nextProbe - 180_000).toBe(240_000);
    h = afterSuccess(500_000, 1, defaultPolicy);
    expect(h.failures).toBe(0);
    h = afterFailure(h, 600_000, "again", defaultPolicy);
    expect(h.nextProbe - 600_000).toBe(60_000);
  });
  test("auth_failed is its own state and does not back off", () => {
    const h = afterAuthFailure(5, 1, defaultPolicy);
    expect(h.state).toBe("auth_failed");
    expect(h.nextProbe).toBe(5 + 30_000);
  });
});
