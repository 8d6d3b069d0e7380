// `bun bench/search_load.ts [--binary PATH] [--seconds N]`: /healthz latency
// (p50, p99, max) on an idle server, then while 4 catastrophic searches run
// all the time (issue 11, case 2: `^(\w+\s?)*$` over the red team's 674-line
// text, fanned out through symlinks so each search has ~1.6M lines to grep and
// is re-issued as soon as it answers). Prints one table; not a test.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { callTool, connect, startServer } from "../test/helpers/server.ts";
import { redosCorpus, redosText } from "../test/reliability/redos_corpus.ts";

const { values } = parseArgs({ options: { binary: { type: "string" }, seconds: { type: "string" } } });
const SECONDS = Number(values.seconds ?? 10);
const SEARCHES = 4;

const server = await startServer(values.binary ? { binary: values.binary } : {});
const work = join(server.home, "search-load");
try {
  for (const d of ["leaf", "mid", "top"]) mkdirSync(join(work, d), { recursive: true });
  writeFileSync(join(work, "leaf", "text.txt"), redosText(redosCorpus[0]!));
  for (let i = 0; i < 40; i++) {
    symlinkSync(join(work, "leaf"), join(work, "mid", `m${i}`));
    symlinkSync(join(work, "mid"), join(work, "top", `t${i}`));
  }

  const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
  async function pollHealthz(ms: number): Promise<number[]> {
    const seen: number[] = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const t = performance.now();
      await (await fetch(`${server.base}/healthz`)).text();
      seen.push(performance.now() - t);
      await Bun.sleep(5);
    }
    return seen;
  }
  const row = (name: string, xs: number[], extra = "") =>
    console.log(`${name.padEnd(34)} n=${String(xs.length).padStart(5)}  p50=${percentile(xs, 50).toFixed(2)} ms  p99=${percentile(xs, 99).toFixed(2)} ms  max=${Math.max(...xs).toFixed(2)} ms${extra}`);

  row("/healthz, idle", await pollHealthz(Math.min(3000, SECONDS * 1000)));

  const client = await connect(server);
  let stop = false;
  let answered = 0;
  let timedOut = 0;
  const loops = Array.from({ length: SEARCHES }, async () => {
    while (!stop) {
      const r = await callTool(client, "search_files", { path: join(work, "top"), pattern: "*.txt", content: "^(\\w+\\s?)*$", max_results: 100_000, timeout_s: 5 });
      answered++;
      if ((r.structuredContent as { timed_out?: boolean } | undefined)?.timed_out) timedOut++;
    }
  });
  await Bun.sleep(200); // let all four start
  const loaded = await pollHealthz(SECONDS * 1000);
  stop = true;
  await Promise.all(loops);
  await client.close();
  row(`/healthz, ${SEARCHES} catastrophic searches`, loaded, `  (searches answered: ${answered}, at their 5 s budget: ${timedOut})`);
} finally {
  rmSync(work, { recursive: true, force: true });
  await server.stop();
}
