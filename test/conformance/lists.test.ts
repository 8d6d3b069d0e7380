import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { excusedChecks, loadLists, parseList } from "./lists.ts";

describe("conformance lists", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  });

  test("a list maps each key to its reason and skips blank and comment lines", () => {
    const list = parseList("# header\n\nping  # the hub probes with it\ntools-list@2026-07-28 # needs v2\n", "a.txt", false);
    expect([...list]).toEqual([
      ["ping", "the hub probes with it"],
      ["tools-list@2026-07-28", "needs v2"],
    ]);
  });

  test("a line without a reason, a bad name or a repeated key is refused with file and line", () => {
    expect(() => parseList("ping\n", "a.txt", false)).toThrow('a.txt:1: "ping" has no reason');
    expect(() => parseList("\nPing Pong  # x\n", "a.txt", false)).toThrow("a.txt:2:");
    expect(() => parseList("ping  # a\nping  # b\n", "a.txt", false)).toThrow('a.txt:2: "ping" is listed twice');
  });

  test("only the not-applicable list may name a single check", () => {
    expect(() => parseList("caching@2026-07-28/sep-2549-x  # no prompts\n", "applicable.txt", false)).toThrow("names a check");
    expect(parseList("caching@2026-07-28/sep-2549-x  # no prompts\n", "n.txt", true).size).toBe(1);
  });

  test("a scenario in two lists is refused, and missing files are empty lists", () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-conformance-lists-"));
    expect(loadLists(dir, "9.9").applicable.size).toBe(0);
    writeFileSync(join(dir, "applicable-9.9.txt"), "ping  # probe\n");
    writeFileSync(join(dir, "not-applicable-9.9.txt"), "ping  # none\n");
    expect(() => loadLists(dir, "9.9")).toThrow("ping is listed as applicable and as not applicable");
  });

  test("excused checks are the not-applicable entries under one scenario key, and only those", () => {
    const notApplicable = parseList("caching@w/a  # x\ncaching@w/b  # y\ncaching@v/c  # z\ncaching  # whole\n", "n.txt", true);
    const lists = { applicable: new Map(), expectedFailures: new Map(), notApplicable };
    expect([...excusedChecks(lists, "caching@w")].sort()).toEqual(["a", "b"]);
    expect(excusedChecks(lists, "caching").size).toBe(0);
  });
});
