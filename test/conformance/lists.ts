// The committed scenario lists the conformance runner judges against: one `key  # why` a line.
// A key is a scenario as the runner names it (`tools-list`, or `tools-list@2026-07-28` for a
// scenario run at a given wire); in the not-applicable list it may also name one check of a
// scenario (`caching@2026-07-28/sep-2549-prompts-list-caching-hints`).
import { existsSync, readFileSync } from "node:fs";

export interface ScenarioLists {
  /** Apply to lmcp and must pass. */
  applicable: Map<string, string>;
  /** Apply to lmcp but fail today, for the reason given; passing is news (move it to applicable). */
  expectedFailures: Map<string, string>;
  /** Don't apply to lmcp: whole scenarios, or `scenario/check-id` for one check of an applicable one. */
  notApplicable: Map<string, string>;
}

const keyPattern = /^[a-z0-9][a-z0-9._-]*(@[a-z0-9-]+)?(\/[A-Za-z0-9._-]+)?$/;

/** Parses one list; blank lines and lines that are only a comment are skipped. */
export function parseList(text: string, file: string, allowCheckKeys: boolean): Map<string, string> {
  const entries = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `${file}:${i + 1}`;
    const hash = line.indexOf("#");
    const key = (hash < 0 ? line : line.slice(0, hash)).trim();
    const why = hash < 0 ? "" : line.slice(hash + 1).trim();
    if (!keyPattern.test(key)) throw new Error(`${where}: "${key}" is not a scenario name (expected \`scenario[@wire]  # why\`)`);
    if (key.includes("/") && !allowCheckKeys) throw new Error(`${where}: "${key}" names a check; only the not-applicable list may do that`);
    if (why === "") throw new Error(`${where}: "${key}" has no reason; add \`  # why\` after it`);
    if (entries.has(key)) throw new Error(`${where}: "${key}" is listed twice`);
    entries.set(key, why);
  });
  return entries;
}

/** Reads the three lists of one suite version from `dir`; a missing file is an empty list. */
export function loadLists(dir: string, version: string): ScenarioLists {
  const read = (name: string, allowCheckKeys: boolean) => {
    const file = `${dir}/${name}-${version}.txt`;
    return existsSync(file) ? parseList(readFileSync(file, "utf8"), file, allowCheckKeys) : new Map<string, string>();
  };
  const lists = {
    applicable: read("applicable", false),
    expectedFailures: read("expected-failures", false),
    notApplicable: read("not-applicable", true),
  };
  for (const key of lists.expectedFailures.keys()) {
    if (lists.applicable.has(key)) throw new Error(`${key} is in both applicable-${version}.txt and expected-failures-${version}.txt; keep one`);
  }
  for (const key of lists.notApplicable.keys()) {
    if (lists.applicable.has(key) || lists.expectedFailures.has(key)) {
      throw new Error(`${key} is listed as applicable and as not applicable for ${version}; keep one`);
    }
  }
  return lists;
}

/** The check ids the not-applicable list excuses within scenario `key`. */
export function excusedChecks(lists: ScenarioLists, key: string): Set<string> {
  const ids = new Set<string>();
  for (const entry of lists.notApplicable.keys()) {
    if (entry.startsWith(`${key}/`)) ids.add(entry.slice(key.length + 1));
  }
  return ids;
}
