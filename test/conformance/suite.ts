// Drives one installed version of the official conformance CLI (under Bun: it needs Node >= 22,
// CI has Node 20) and reads back what it wrote: one checks.json per scenario under `-o DIR`.
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Check } from "./verdict.ts";

/** Children still running, so a signal handler can stop them. */
const running = new Set<Bun.Subprocess>();
let stopping = false;

/** After a signal nothing new may start, not even a results folder (the clean-up may have removed its parent). */
function refuseOnceStopping(): void {
  if (stopping) throw new Error("stopped by a signal");
}

/** Kills every child and starts no more; resolves once they have exited. */
export async function stopAllRuns(): Promise<void> {
  stopping = true;
  for (const proc of running) proc.kill("SIGKILL");
  await Promise.all([...running].map((p) => p.exited));
}

export interface CliRun {
  code: number | null;
  output: string;
  timedOut: boolean;
}

/** Runs the CLI at `cli` with `args`; kills it once `deadlineMs` has passed. */
export async function runCli(cli: string, args: string[], deadlineMs: number): Promise<CliRun> {
  refuseOnceStopping();
  const proc = Bun.spawn([process.execPath, cli, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  running.add(proc);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, deadlineMs);
  try {
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    return { code, output: out + err, timedOut };
  } finally {
    clearTimeout(timer);
    running.delete(proc);
  }
}

/** Server scenario names from `conformance list --server ...`: lines `  - name [versions]`. */
export async function listScenarios(cli: string, args: string[]): Promise<string[]> {
  const r = await runCli(cli, ["list", "--server", ...args], 60_000);
  if (r.code !== 0) throw new Error(`conformance list --server ${args.join(" ")} exited ${r.code}:\n${r.output}`);
  const names = [...r.output.matchAll(/^\s+-\s+([a-z0-9][a-z0-9._-]*)(?:\s+\[[^\]]*\])?\s*$/gm)].map((m) => m[1]!);
  if (names.length === 0) throw new Error(`conformance list --server ${args.join(" ")} listed no scenarios:\n${r.output}`);
  return names;
}

const checksFile = z.array(z.object({ id: z.string(), status: z.string(), errorMessage: z.string().nullish() }));

/**
 * What the suite wrote under `dir`, by scenario: its checks, or undefined when the scenario's
 * folder has no checks.json (the scenario threw). Folders are `server-NAME-TIMESTAMP`.
 */
export function readResults(dir: string): Map<string, Check[] | undefined> {
  const results = new Map<string, Check[] | undefined>();
  if (!existsSync(dir)) return results;
  for (const entry of readdirSync(dir)) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry);
    if (!m) continue;
    const file = join(dir, entry, "checks.json");
    if (!existsSync(file)) {
      results.set(m[1]!, undefined);
      continue;
    }
    const parsed = checksFile.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) throw new Error(`${file} is not the suite's checks format: ${parsed.error.message}`);
    results.set(m[1]!, parsed.data);
  }
  return results;
}

/** Why a scenario left no checks: the suite's own "Failed to run scenario" line, cut short. */
export function errorNote(output: string, scenario: string, timedOut: boolean): string {
  if (timedOut) return "the suite timed out";
  // A whole-suite run says "Failed to run scenario NAME:", a one-scenario run "Server test error:".
  const at = Math.max(output.indexOf(`Failed to run scenario ${scenario}:`), output.indexOf("Server test error:"));
  if (at < 0) return "the suite wrote no checks for it";
  const tail = output.slice(at).split("\n");
  // The message is followed by a dump of the minified source; the error class line says what went wrong.
  const error = tail.find((l) => /^\w*Error: /.test(l));
  return (error ?? tail[0]!).slice(0, 160);
}

/** Runs `server --url URL ...args -o DIR` and returns its results and output. */
export async function runScenarios(cli: string, url: string, args: string[], dir: string, deadlineMs: number) {
  refuseOnceStopping();
  mkdirSync(dir, { recursive: true });
  const run = await runCli(cli, ["server", "--url", url, ...args, "-o", dir], deadlineMs);
  return { run, results: readResults(dir) };
}
