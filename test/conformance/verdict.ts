// Turns the suite's per-scenario checks into a verdict against the committed lists, and the
// summary table CI prints. Pure: no processes, no files.
import type { ScenarioLists } from "./lists.ts";

/** One check as the suite writes it in checks.json (SUCCESS, FAILURE, WARNING, INFO, SKIPPED). */
export interface Check {
  id: string;
  status: string;
  errorMessage?: string | null | undefined;
}

export type Outcome =
  | { state: "pass"; excused: number }
  | { state: "fail"; failed: Check[] }
  /** The suite wrote no checks: the scenario threw, timed out, or never ran. */
  | { state: "error"; note: string };

/** A scenario passes when no check failed, leaving out checks the not-applicable list excuses. */
export function outcomeOf(checks: Check[] | undefined, note: string, excused: Set<string>): Outcome {
  if (checks === undefined) return { state: "error", note };
  const failures = checks.filter((c) => c.status === "FAILURE");
  const failed = failures.filter((c) => !excused.has(c.id));
  return failed.length === 0 ? { state: "pass", excused: failures.length } : { state: "fail", failed };
}

export type Listed = "applicable" | "expected failure" | "n/a" | "unlisted";
/** ok and xfail and n/a keep CI green; FAIL, XPASS (listed as failing, passes now) and NEW don't. */
export type Verdict = "ok" | "xfail" | "n/a" | "FAIL" | "XPASS" | "NEW";

export interface Row {
  key: string;
  outcome: Outcome;
  listed: Listed;
  verdict: Verdict;
  why: string;
}

export interface Judgement {
  rows: Row[];
  /** List entries naming a scenario this suite version did not run: renamed or removed upstream. */
  stale: string[];
  green: boolean;
}

export function judge(outcomes: Map<string, Outcome>, lists: ScenarioLists): Judgement {
  const rows: Row[] = [...outcomes].map(([key, outcome]) => {
    const passed = outcome.state === "pass";
    if (lists.applicable.has(key)) return { key, outcome, listed: "applicable", verdict: passed ? "ok" : "FAIL", why: lists.applicable.get(key)! };
    if (lists.expectedFailures.has(key)) {
      return { key, outcome, listed: "expected failure", verdict: passed ? "XPASS" : "xfail", why: lists.expectedFailures.get(key)! };
    }
    if (lists.notApplicable.has(key)) return { key, outcome, listed: "n/a", verdict: "n/a", why: lists.notApplicable.get(key)! };
    return { key, outcome, listed: "unlisted", verdict: "NEW", why: "" };
  });
  const stale = [...lists.applicable.keys(), ...lists.expectedFailures.keys(), ...lists.notApplicable.keys()].filter(
    (entry) => !outcomes.has(entry.split("/")[0]!),
  );
  const green = stale.length === 0 && rows.every((r) => r.verdict === "ok" || r.verdict === "xfail" || r.verdict === "n/a");
  return { rows, stale, green };
}

export function describeOutcome(o: Outcome): string {
  if (o.state === "error") return `error: ${o.note}`;
  if (o.state === "pass") return o.excused > 0 ? `pass (${o.excused} n/a check${o.excused > 1 ? "s" : ""})` : "pass";
  const ids = [...new Set(o.failed.map((c) => c.id))];
  return `fail ${o.failed.length}: ${ids.slice(0, 2).join(", ")}${ids.length > 2 ? ", …" : ""}`;
}

/** The summary table: one row per scenario, then the counts. */
export function summaryTable(title: string, j: Judgement): string {
  const cells = j.rows.map((r) => [r.key, r.listed, r.verdict, describeOutcome(r.outcome)]);
  const head = ["scenario", "list", "verdict", "outcome"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => (i === c.length - 1 ? s : s.padEnd(widths[i]!))).join("  ");
  const count = (v: Verdict) => j.rows.filter((r) => r.verdict === v).length;
  const counts = (["ok", "xfail", "n/a", "FAIL", "XPASS", "NEW"] as const).map((v) => `${count(v)} ${v}`).join(", ");
  return [title, line(head), ...cells.map(line), `${j.rows.length} scenarios: ${counts}${j.stale.length ? `, ${j.stale.length} stale` : ""}`].join("\n");
}

/** What to do about each row (and stale entry) that turns CI red. */
export function problems(j: Judgement, version: string): string[] {
  const out: string[] = [];
  for (const r of j.rows) {
    if (r.verdict === "FAIL") {
      out.push(`FAIL ${r.key} (${r.why}): ${describeOutcome(r.outcome)}`);
      if (r.outcome.state === "fail") for (const c of r.outcome.failed) out.push(`    ${c.id}: ${(c.errorMessage ?? "").slice(0, 300)}`);
    } else if (r.verdict === "XPASS") {
      out.push(`XPASS ${r.key} passes now: move it from expected-failures-${version}.txt to applicable-${version}.txt`);
    } else if (r.verdict === "NEW") {
      out.push(`NEW ${r.key} is in no list (${describeOutcome(r.outcome)}): add it to applicable-, expected-failures- or not-applicable-${version}.txt with a reason`);
    }
  }
  for (const s of j.stale) out.push(`STALE ${s} is listed for ${version} but the suite ran no such scenario: remove or rename it`);
  return out;
}
