import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScenarioLists } from "./lists.ts";
import { errorNote, readResults } from "./suite.ts";
import { judge, outcomeOf, problems, summaryTable, type Check, type Outcome } from "./verdict.ts";

const ok: Check = { id: "a", status: "SUCCESS" };
const warn: Check = { id: "w", status: "WARNING", errorMessage: "no session id" };
const bad: Check = { id: "b", status: "FAILURE", errorMessage: "Method not found" };

function lists(applicable: string[], expectedFailures: string[], notApplicable: string[]): ScenarioLists {
  const m = (keys: string[]) => new Map(keys.map((k) => [k, `why ${k}`]));
  return { applicable: m(applicable), expectedFailures: m(expectedFailures), notApplicable: m(notApplicable) };
}

describe("conformance verdicts", () => {
  test("a scenario passes with warnings, fails on a FAILURE check, and is an error without checks", () => {
    expect(outcomeOf([ok, warn], "", new Set()).state).toBe("pass");
    expect(outcomeOf([ok, bad], "", new Set())).toEqual({ state: "fail", failed: [bad] });
    expect(outcomeOf(undefined, "the suite timed out", new Set())).toEqual({ state: "error", note: "the suite timed out" });
  });

  test("an excused check's failure does not fail the scenario, and is counted", () => {
    expect(outcomeOf([ok, bad], "", new Set(["b"]))).toEqual({ state: "pass", excused: 1 });
  });

  test("applicable must pass, expected failures must fail, and unlisted or stale entries turn it red", () => {
    const outcomes = new Map<string, Outcome>([
      ["ping", { state: "pass", excused: 0 }],
      ["tools-list", { state: "fail", failed: [bad] }],
      ["discover", { state: "fail", failed: [bad] }],
      ["caching", { state: "pass", excused: 0 }],
      ["prompts-list", { state: "fail", failed: [bad] }],
      ["brand-new", { state: "pass", excused: 0 }],
    ]);
    const j = judge(outcomes, lists(["ping", "tools-list"], ["discover", "caching"], ["prompts-list", "gone", "caching/x"]));
    expect(j.rows.map((r) => [r.key, r.verdict])).toEqual([
      ["ping", "ok"],
      ["tools-list", "FAIL"],
      ["discover", "xfail"],
      ["caching", "XPASS"],
      ["prompts-list", "n/a"],
      ["brand-new", "NEW"],
    ]);
    expect(j.stale).toEqual(["gone"]);
    expect(j.green).toBe(false);
    const said = problems(j, "0.2").join("\n");
    expect(said).toContain("FAIL tools-list (why tools-list)");
    expect(said).toContain("b: Method not found");
    expect(said).toContain("XPASS caching passes now: move it from expected-failures-0.2.txt to applicable-0.2.txt");
    expect(said).toContain("NEW brand-new is in no list");
    expect(said).toContain("STALE gone");
  });

  test("only ok, xfail and n/a rows are green, and the table counts them", () => {
    const outcomes = new Map<string, Outcome>([
      ["ping", { state: "pass", excused: 0 }],
      ["discover", { state: "error", note: "threw" }],
      ["prompts-list", { state: "fail", failed: [bad] }],
    ]);
    const j = judge(outcomes, lists(["ping"], ["discover"], ["prompts-list"]));
    expect(j.green).toBe(true);
    expect(problems(j, "0.2")).toEqual([]);
    const table = summaryTable("t", j);
    expect(table).toContain("discover      expected failure  xfail    error: threw");
    expect(table).toContain("3 scenarios: 1 ok, 1 xfail, 1 n/a, 0 FAIL, 0 XPASS, 0 NEW");
  });
});

describe("conformance results", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  });

  test("results are read by scenario name from the suite's folders; a folder without checks.json is an error", () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-conformance-results-"));
    mkdirSync(join(dir, "server-server-initialize-2026-12-01T23-23-17-328Z"));
    writeFileSync(join(dir, "server-server-initialize-2026-12-01T23-23-17-328Z", "checks.json"), JSON.stringify([ok, bad]));
    mkdirSync(join(dir, "server-tasks-lifecycle-2026-12-01T23-23-28-649Z"));
    mkdirSync(join(dir, "not-a-result"));
    const results = readResults(dir);
    expect([...results.keys()].sort()).toEqual(["server-initialize", "tasks-lifecycle"]);
    expect(results.get("server-initialize")).toEqual([ok, bad]);
    expect(results.get("tasks-lifecycle")).toBeUndefined();
  });

  test("a checks.json in another shape is refused with its path", () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-conformance-results-"));
    mkdirSync(join(dir, "server-ping-2026-12-01T23-23-17-328Z"));
    writeFileSync(join(dir, "server-ping-2026-12-01T23-23-17-328Z", "checks.json"), JSON.stringify({ checks: [] }));
    expect(() => readResults(dir)).toThrow("checks.json is not the suite's checks format");
  });

  test("the error note is the suite's error line, not its source dump", () => {
    const output = "Running…\nFailed to run scenario caching: 1123 | `minified source`\n1124 | more\n\nJsonRpcError: Bad Request: unsupported\n code: -32000";
    expect(errorNote(output, "caching", false)).toBe("JsonRpcError: Bad Request: unsupported");
    expect(errorNote("Server test error: 1 | x\n\nTypeError: ECONNREFUSED", "ping", false)).toBe("TypeError: ECONNREFUSED");
    expect(errorNote(output, "caching", true)).toBe("the suite timed out");
    expect(errorNote("", "ping", false)).toBe("the suite wrote no checks for it");
  });
});
