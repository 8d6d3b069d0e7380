// The pure parts of the NATS fleet: presence states by age, subject names, and
// the --nats URL list.
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/config/file.ts";
import { parseNatsUrls } from "../../src/config/server.ts";
import { FORGET_AFTER_MS, PresenceTable } from "../../src/nats/presence.ts";
import { callSubject, presenceSubject } from "../../src/nats/subjects.ts";
import type { Announcement } from "../../src/nats/wire.ts";

const announce = (name: string, over: Partial<Announcement> = {}): Announcement => ({
  v: 1,
  name,
  tags: ["t"],
  version: "1.2.3",
  instance: "i1",
  every_ms: 1000,
  state: "up",
  ...over,
});

describe("PresenceTable", () => {
  test("a host is up until it misses three heartbeats of its own period, then down saying why", () => {
    let now = 1_000_000;
    const t = new PresenceTable(() => now);
    t.heard(announce("a"));
    now += 3000;
    expect(t.get("a")).toMatchObject({ name: "a", state: "up", tags: ["t"], version: "1.2.3", lastSeen: 1_000_000, error: undefined });
    now += 1;
    expect(t.get("a")?.state).toBe("down");
    expect(t.get("a")?.error).toContain("no heartbeat for 3.0 s (it announces every 1 s)");
    t.heard(announce("a"));
    expect(t.get("a")?.state).toBe("up");
  });

  test("a goodbye is down at once and tells the waiting calls; a host long gone is forgotten", () => {
    let now = 0;
    const t = new PresenceTable(() => now);
    const left: string[] = [];
    t.onLeft = (n) => left.push(n);
    t.heard(announce("a"));
    t.heard(announce("b"));
    t.heard(announce("a", { state: "left" }));
    expect(t.get("a")?.state).toBe("down");
    expect(t.get("a")?.error).toContain("said goodbye");
    expect(left).toEqual(["a"]);
    now = FORGET_AFTER_MS + 1;
    expect(t.all()).toEqual([]);
  });

  test("the instance is that of the last announcement (a restart changes it)", () => {
    const t = new PresenceTable();
    t.heard(announce("a"));
    t.heard(announce("a", { instance: "i2" }));
    expect(t.instance("a")).toBe("i2");
  });
});

describe("subjects", () => {
  test("a host name is one subject token: dots cannot open a wildcard level", () => {
    expect(callSubject("web-1")).toBe("lmcp.call.web-1");
    expect(callSubject("web.lan")).toBe("lmcp.call.web~lan");
    expect(presenceSubject("a.b.c")).toBe("lmcp.presence.a~b~c");
  });
});

describe("parseNatsUrls", () => {
  test("takes a comma-separated list, with or without nats://, and adds the default port", () => {
    expect(parseNatsUrls("nats://10.0.0.1:4222, 10.0.0.2:5222,host", "--nats")).toEqual(["nats://10.0.0.1:4222", "nats://10.0.0.2:5222", "nats://host:4222"]);
    expect(parseNatsUrls(["a:1", "b:2"], "nats")).toEqual(["nats://a:1", "nats://b:2"]);
    expect(parseNatsUrls("tls://x", "--nats")).toEqual(["tls://x:4222"]);
  });
  test("refuses what it cannot use, naming where it came from and what to write", () => {
    expect(() => parseNatsUrls("", "--nats")).toThrow(ConfigError);
    expect(() => parseNatsUrls("http://x:1", "LMCP_NATS")).toThrow(/LMCP_NATS: "http:\/\/" is not a NATS URL scheme/);
    expect(() => parseNatsUrls("nats://u:p@x:1", "--nats")).toThrow(/credentials/);
    expect(() => parseNatsUrls("nats://x:1/path", "--nats")).toThrow(/use nats:\/\/HOST:PORT or tls:\/\/HOST:PORT/);
  });
});
