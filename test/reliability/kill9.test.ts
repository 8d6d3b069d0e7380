// kill -9 of a real `lmcp serve` at seeded random moments during write_file and
// edit_file of multi-MB files: the file must hold exactly the old or the new
// content every time, and the next start must leave no temp file behind.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type StartedServer, startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/context.ts";
import { mulberry32 } from "./prng.ts";

const SEED = 0x6b696c6c; // "kill"
const KILLS = 220;
const MiB = 1024 * 1024;

type Kind = "write" | "edit";
type Outcome = "before" | "mid-write" | "after-rename";

const home = tempDir("lmcp-kill9-");
const dataDir = join(home, "data");
const journal = join(home, ".state", "lmcp", "pending-writes");
let server: StartedServer | undefined;

afterAll(async () => {
  await server?.stop("SIGKILL");
  rmSync(home, { recursive: true, force: true });
});

// write_file alternates between two contents that differ in byte and size; edit_file swaps a middle region.
const writePath = join(dataDir, "big-write.bin");
const editPath = join(dataDir, "big-edit.txt");
const writeContents = [Buffer.alloc(6 * MiB, "A"), Buffer.alloc(5 * MiB, "B")] as const;
const side = "a".repeat(3 * MiB);
const regions = ["X".repeat(256 * 1024), "Y".repeat(320 * 1024)] as const;
const editContents = [Buffer.from(side + regions[0] + side), Buffer.from(side + regions[1] + side)] as const;

const call = (id: number, name: string, args: Record<string, unknown>) =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
/** Request bodies that take the file from state s to state 1-s, built once. */
const bodies: Record<Kind, readonly [string, string]> = {
  write: [call(1, "write_file", { path: writePath, content: writeContents[1].toString() }), call(1, "write_file", { path: writePath, content: writeContents[0].toString() })],
  edit: [call(2, "edit_file", { path: editPath, old_string: regions[0], new_string: regions[1] }), call(2, "edit_file", { path: editPath, old_string: regions[1], new_string: regions[0] })],
};
const contents: Record<Kind, readonly [Buffer, Buffer]> = { write: writeContents, edit: editContents };
const paths: Record<Kind, string> = { write: writePath, edit: editPath };

const tempsIn = (dir: string) => readdirSync(dir).filter((n) => n.includes(".lmcp-tmp-"));
const journalRecords = () => (existsSync(journal) ? readdirSync(journal) : []);

function send(s: StartedServer, body: string): Promise<number | undefined> {
  return fetch(s.url, {
    method: "POST",
    headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json", accept: "application/json" },
    body,
    signal: AbortSignal.timeout(20_000),
  })
    .then(async (r) => {
      const text = await r.text();
      if (r.status !== 200 || text.includes('"isError":true')) throw new Error(`call failed: ${r.status} ${text.slice(0, 300)}`);
      return performance.now();
    })
    .catch((err: Error) => {
      if (err.message.startsWith("call failed")) throw err;
      return undefined; // the connection died with the server
    });
}

/** Which of the two known contents the file holds; fails the test on anything else (a torn or mixed file). */
function stateOf(kind: Kind): 0 | 1 {
  const now = readFileSync(paths[kind]);
  if (now.equals(contents[kind][0])) return 0;
  if (now.equals(contents[kind][1])) return 1;
  throw new Error(`${paths[kind]} holds neither the old nor the new content (${now.length} bytes, starts ${JSON.stringify(now.subarray(0, 16).toString())})`);
}

async function restart(): Promise<StartedServer> {
  server = await startServer({ home });
  // The start-up line comes after the journal clean-up, so by now every stale temp is gone.
  expect(tempsIn(dataDir)).toEqual([]);
  expect(journalRecords()).toEqual([]);
  return server;
}

test(`${KILLS} kill -9 during write_file and edit_file of 5-6 MB files leave the old or the new content and no temp file`, async () => {
  const rng = mulberry32(SEED);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(writePath, writeContents[0]);
  writeFileSync(editPath, editContents[0]);
  const state: Record<Kind, 0 | 1> = { write: 0, edit: 0 };
  const logs: string[] = [];
  let s = await restart();

  // Calibrate: how long a whole call takes on a freshly started server (the kill window spans it).
  const took: Record<Kind, number[]> = { write: [], edit: [] };
  for (let round = 0; round < 3; round++) {
    for (const kind of ["write", "edit"] as const) {
      const sent = performance.now();
      const done = await send(s, bodies[kind][state[kind]]);
      expect(done).toBeDefined();
      took[kind].push(done! - sent);
      state[kind] = stateOf(kind);
      logs.push(s.logs());
      await s.stop("SIGKILL");
      s = await restart();
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const windowMs: Record<Kind, number> = { write: median(took.write), edit: median(took.edit) };

  const counts: Record<Kind, Record<Outcome, number>> = {
    write: { before: 0, "mid-write": 0, "after-rename": 0 },
    edit: { before: 0, "mid-write": 0, "after-rename": 0 },
  };
  let answeredBeforeKill = 0;
  const started = performance.now();
  for (let i = 0; i < KILLS; i++) {
    const kind: Kind = i % 2 === 0 ? "write" : "edit";
    const from = state[kind];
    // Uniform over the call but its start, which is mostly the upload and JSON parse.
    const delay = (0.2 + 0.9 * rng.next()) * windowMs[kind];
    const sentAt = performance.now();
    const reply = send(s, bodies[kind][from]);
    // The random moment is the point of the test: the kill lands wherever the server is by then.
    await Bun.sleep(delay);
    const killedAt = performance.now();
    s.proc.kill("SIGKILL");
    await s.proc.exited;
    const answeredAt = await reply;
    if (answeredAt !== undefined && answeredAt <= killedAt) answeredBeforeKill++;
    expect(killedAt - sentAt).toBeLessThan(1.1 * windowMs[kind] + 1000);

    const temps = tempsIn(dataDir);
    const now = stateOf(kind);
    const outcome: Outcome = temps.length > 0 ? "mid-write" : now === from ? "before" : "after-rename";
    if (outcome === "mid-write") expect(now).toBe(from);
    counts[kind][outcome]++;
    state[kind] = now;
    expect(stateOf(kind === "write" ? "edit" : "write")).toBe(state[kind === "write" ? "edit" : "write"]);

    logs.push(s.logs());
    await s.stop();
    s = await restart();
  }
  const elapsed = performance.now() - started;
  logs.push(s.logs());
  await s.stop();
  server = undefined;

  const all = logs.join("");
  expect(all).not.toContain(s.token);
  expect(all).not.toContain("AAAAAAAA");
  expect(all).not.toContain("XXXXXXXX");
  const mid = counts.write["mid-write"] + counts.edit["mid-write"];
  console.log(
    [
      `kill -9 suite (seed ${SEED}): ${KILLS} kills in ${(elapsed / 1000).toFixed(1)} s; kill window write ${windowMs.write.toFixed(0)} ms, edit ${windowMs.edit.toFixed(0)} ms`,
      "kind   before  mid-write(temp present)  after-rename",
      ...(["write", "edit"] as const).map((k) => `${k.padEnd(6)} ${String(counts[k].before).padStart(6)}  ${String(counts[k]["mid-write"]).padStart(23)}  ${String(counts[k]["after-rename"]).padStart(12)}`),
      `mid-write kills: ${mid}; calls answered before their kill: ${answeredBeforeKill}`,
    ].join("\n"),
  );
  // The window spans a whole call, so a fair share of the kills must land with the temp file on disk.
  expect(counts.write["mid-write"]).toBeGreaterThan(0);
  expect(counts.edit["mid-write"]).toBeGreaterThan(0);
}, 180_000);
