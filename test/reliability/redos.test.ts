// The ReDoS corpus against a real server, bounded in time: every catastrophic
// pattern answers over a 674-line text with exactly the lines it matches (one
// call each through the SDK client, then all of them in one JSON-RPC batch), and
// /healthz answers promptly the whole time.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { type StartedServer, callTool, connect, rpc, startServer } from "../helpers/server.ts";
import { redosCorpus, redosHitLines, redosText } from "./redos_corpus.ts";

/** Generous: a linear engine answers each case in milliseconds; a backtracking one needs minutes. */
const PER_CALL_S = 20;
const HEALTHZ_BOUND_MS = 1000;

let server: StartedServer;
let client: Client;
const files: string[] = [];

beforeAll(async () => {
  server = await startServer();
  client = await connect(server);
  redosCorpus.forEach((c, i) => {
    const dir = join(server.home, "redos", String(i));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "text.txt"), redosText(c));
    files.push(join(dir, "text.txt"));
  });
}, 30_000);

afterAll(async () => {
  await client?.close();
  await server?.stop();
});

const args = (i: number) => ({ path: join(files[i]!, ".."), pattern: "text.txt", content: redosCorpus[i]!.pattern, timeout_s: PER_CALL_S });
const expectedLines = (i: number) => redosHitLines().map((n) => `${files[i]}:${n}:${redosCorpus[i]!.hit}`);

/** Polls /healthz until `done` resolves; returns every latency seen. */
async function healthzWhile(done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const seen: number[] = [];
  for (let i = 0; i < 5000 && !finished; i++) {
    const started = performance.now();
    const res = await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(10_000) });
    await res.text();
    expect(res.status).toBe(200);
    seen.push(performance.now() - started);
    await Bun.sleep(10);
  }
  return seen;
}

test(`each of ${redosCorpus.length} catastrophic patterns answers with the lines it matches, four at a time`, async () => {
  expect(redosCorpus.length).toBeGreaterThanOrEqual(12);
  const all = (async () => {
    for (let i = 0; i < redosCorpus.length; i += 4) {
      const chunk = redosCorpus.slice(i, i + 4).map((_, k) => i + k);
      const results = await Promise.all(chunk.map((j) => callTool(client, "search_files", args(j))));
      results.forEach((r, k) => {
        const j = chunk[k]!;
        const data = r.structuredContent as { lines?: string[]; timed_out?: boolean };
        expect({ name: redosCorpus[j]!.name, lines: data.lines, timed_out: data.timed_out }).toEqual({ name: redosCorpus[j]!.name, lines: expectedLines(j), timed_out: undefined });
      });
    }
  })();
  const latencies = await healthzWhile(all);
  await all;
  expect(Math.max(0, ...latencies)).toBeLessThan(HEALTHZ_BOUND_MS);
}, 120_000);

test("the whole corpus in one JSON-RPC batch answers every call, and /healthz stays prompt", async () => {
  const batch = redosCorpus.map((_, i) => ({ jsonrpc: "2.0", id: i + 1, method: "tools/call", params: { name: "search_files", arguments: args(i) } }));
  const reply = rpc(server, batch, { accept: "application/json" }).then(async (res) => ({ status: res.status, body: (await res.json()) as { id: number; result?: { structuredContent?: { lines?: string[] } } }[] }));
  const latencies = await healthzWhile(reply);
  const { status, body } = await reply;
  expect(status).toBe(200);
  expect(body).toHaveLength(redosCorpus.length);
  for (const item of body) expect(item.result?.structuredContent?.lines).toEqual(expectedLines(item.id - 1));
  expect(Math.max(0, ...latencies)).toBeLessThan(HEALTHZ_BOUND_MS);
}, 120_000);
