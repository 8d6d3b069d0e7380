// Runs every server scenario of each installed version of the official MCP conformance suite,
// from outside, against the compiled lmcp binary, and judges each one against the lists in this
// folder. Exit 1 when an applicable scenario fails, a listed failure passes, a scenario is in no
// list, or a list names a scenario the suite no longer has. Usage: bun test/conformance/run.ts --help
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot, startServer, type StartedServer } from "../helpers/server.ts";
import { excusedChecks, loadLists } from "./lists.ts";
import { errorNote, listScenarios, runScenarios, stopAllRuns } from "./suite.ts";
import { judge, outcomeOf, problems, summaryTable, type Outcome } from "./verdict.ts";
import type { Check } from "./verdict.ts";

interface Pass {
  /** Suffix of the keys this pass produces (`name@label`); "" keeps bare names. */
  label: string;
  /** Every scenario (at one wire when `specVersion` is set), the ones no earlier pass ran, or these. */
  select: { specVersion?: string } | "rest" | string[];
  /** Reach the server as http://localhost:PORT (the Host and Origin a browser on this machine sends). */
  localhost?: boolean;
}

interface SuiteVersion {
  /** Names the list files (`applicable-VERSION.txt`); the installed package must be this version or a release of it. */
  version: string;
  pkg: string;
  passes: Pass[];
}

// The suite runs each scenario at one wire; 0.2 knows two revisions, so lmcp meets each
// scenario at every revision it declares, and extension scenarios at the suite's default.
const suites: SuiteVersion[] = [
  {
    version: "0.1.16",
    pkg: "@modelcontextprotocol/conformance",
    passes: [
      { label: "", select: {} },
      { label: "localhost", select: ["dns-rebinding-protection"], localhost: true },
    ],
  },
  {
    version: "0.2",
    pkg: "mcp-conformance-next",
    passes: [
      { label: "2025-11-25", select: { specVersion: "2025-11-25" } },
      { label: "2026-07-28", select: { specVersion: "2026-07-28" } },
      { label: "extension", select: "rest" },
      { label: "localhost", select: ["dns-rebinding-protection"], localhost: true },
    ],
  },
];

const WHOLE_PASS_MS = 15 * 60_000;
const ONE_SCENARIO_MS = 2 * 60_000;

const usage = `Usage: bun test/conformance/run.ts [--binary FILE] [--only VERSION] [--lists DIR]

Starts the compiled lmcp (serve --no-auth on 127.0.0.1, fresh HOME) once per suite version,
runs every server scenario of @modelcontextprotocol/conformance ${suites.map((s) => s.version).join(" and ")},
and judges each against test/conformance/{applicable,expected-failures,not-applicable}-VERSION.txt.
  --binary FILE   the lmcp binary (default dist/lmcp-${process.platform}-${process.arch})
  --only VERSION  run one suite version (${suites.map((s) => s.version).join(" or ")})
  --lists DIR     read the lists from DIR instead of test/conformance (to try a change)
  -h, --help      this help
Exit 0 green, 1 red, 2 when it could not run (no binary, suite not installed, bad list).
Auth is off because the suite's CLI has no way to send a token.`;

/** What is still to be removed if the run is cut short. */
const cleanups = new Set<() => Promise<void>>();

async function cleanUp(): Promise<void> {
  await stopAllRuns();
  for (const c of [...cleanups]) await c();
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => void cleanUp().finally(() => process.exit(code)));
}

function installedVersion(pkg: string): string {
  const file = join(repoRoot, "node_modules", pkg, "package.json");
  if (!existsSync(file)) throw new Error(`${pkg} is not installed: run \`npm ci\``);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

interface Result {
  checks: Check[] | undefined;
  note: string;
}

/** Runs one pass and returns what each of its scenarios produced, by scenario name. */
async function runPass(cli: string, url: string, pass: Pass, all: string[], seen: Set<string>, dir: string): Promise<Map<string, Result>> {
  const out = new Map<string, Result>();
  const collect = (names: string[], results: Map<string, Check[] | undefined>, output: string, timedOut: boolean) => {
    for (const name of names) out.set(name, { checks: results.get(name), note: errorNote(output, name, timedOut) });
  };
  if (typeof pass.select === "object" && !Array.isArray(pass.select)) {
    const wire = pass.select.specVersion ? ["--spec-version", pass.select.specVersion] : [];
    const names = await listScenarios(cli, wire);
    const { run, results } = await runScenarios(cli, url, ["--suite", "all", ...wire], dir, WHOLE_PASS_MS);
    collect(names, results, run.output, run.timedOut);
  } else {
    const names = pass.select === "rest" ? all.filter((n) => !seen.has(n)) : pass.select;
    for (const name of names) {
      const { run, results } = await runScenarios(cli, url, ["--scenario", name], join(dir, name), ONE_SCENARIO_MS);
      collect([name], results, run.output, run.timedOut);
    }
  }
  for (const name of out.keys()) seen.add(name);
  return out;
}

async function runSuite(suite: SuiteVersion, binary: string, listsDir: string, work: string): Promise<boolean> {
  const started = performance.now();
  const installed = installedVersion(suite.pkg);
  if (installed !== suite.version && !installed.startsWith(`${suite.version}.`)) {
    throw new Error(`${suite.pkg} is ${installed}, but the lists here are for ${suite.version}: run \`npm ci\`, or update the lists`);
  }
  const lists = loadLists(listsDir, suite.version);
  const cli = join(repoRoot, "node_modules", suite.pkg, "dist/index.js");
  const all = await listScenarios(cli, []);
  const server: StartedServer = await startServer({ binary, noTokenFile: true, args: ["--no-auth"] });
  const stop = async () => {
    cleanups.delete(stop);
    await server.stop();
  };
  cleanups.add(stop);
  const outcomes = new Map<string, Outcome>();
  try {
    const seen = new Set<string>();
    for (const pass of suite.passes) {
      const url = pass.localhost ? server.url.replace("//127.0.0.1:", "//localhost:") : server.url;
      const results = await runPass(cli, url, pass, all, seen, join(work, `${suite.version}-${pass.label || "default"}`));
      for (const [name, r] of results) {
        const key = pass.label ? `${name}@${pass.label}` : name;
        outcomes.set(key, outcomeOf(r.checks, r.note, excusedChecks(lists, key)));
      }
      if (server.proc.exitCode !== null) throw new Error(`lmcp exited with ${server.proc.exitCode} during the ${suite.version} suite:\n${server.logs()}`);
    }
  } finally {
    await stop();
  }
  const j = judge(outcomes, lists);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(summaryTable(`\nconformance ${installed} (${suite.pkg}) against ${binary}, ${seconds} s`, j));
  for (const p of problems(j, suite.version)) console.log(p);
  return j.green;
}

async function main(): Promise<number> {
  const options = { binary: { type: "string" }, only: { type: "string" }, lists: { type: "string" }, help: { type: "boolean", short: "h" } } as const;
  let values: ReturnType<typeof parseArgs<{ options: typeof options }>>["values"];
  try {
    values = parseArgs({ options }).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}; see --help`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const binary = resolve(values.binary ?? join(repoRoot, `dist/lmcp-${process.platform}-${process.arch}`));
  if (!existsSync(binary)) {
    console.error(`no lmcp binary at ${binary}: build it (npx bun build/build.ts --target ${process.platform}-${process.arch}) or pass --binary FILE`);
    return 2;
  }
  const chosen = values.only === undefined ? suites : suites.filter((s) => s.version === values.only);
  if (chosen.length === 0) {
    console.error(`--only ${values.only}: no such suite version; choose ${suites.map((s) => s.version).join(" or ")}`);
    return 2;
  }
  const listsDir = resolve(values.lists ?? import.meta.dir);
  const started = performance.now();
  const work = mkdtempSync(join(tmpdir(), "lmcp-conformance-"));
  const removeWork = async () => {
    cleanups.delete(removeWork);
    rmSync(work, { recursive: true, force: true });
  };
  cleanups.add(removeWork);
  try {
    let green = true;
    for (const suite of chosen) green = (await runSuite(suite, binary, listsDir, work)) && green;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`\nconformance: ${green ? "green" : "RED"} (${seconds} s)`);
    return green ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  await cleanUp();
  console.error(`conformance: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
}
