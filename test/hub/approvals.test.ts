// Approvals sized to the blast radius and canary rollouts, end to end: a real
// hub in front of a real lmcp, and the SDK's v2 client answering (or not able
// to answer) the hub's confirmation through its elicitation handler.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { approvalReason, decide, defaultApprovals } from "../../src/hub/approvals.ts";
import { rolloutStages } from "../../src/hub/rollout.ts";
import { closedPort } from "../helpers/fixtures.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, startServer } from "../helpers/server.ts";

describe("who is asked (pure)", () => {
  const hosts = (n: number, tags: string[] = []) => Array.from({ length: n }, (_, i) => ({ name: `h${i}`, tags }));
  test("more hosts than approve_above_hosts, or a guarded tag, needs a confirmation; fewer untagged hosts do not", () => {
    expect(approvalReason({ command: "x", hosts: hosts(10) }, defaultApprovals)).toBeUndefined();
    expect(approvalReason({ command: "x", hosts: hosts(11) }, defaultApprovals)).toContain("11 hosts");
    expect(approvalReason({ command: "x", hosts: [{ name: "db1", tags: ["prod", "db"] }] }, defaultApprovals)).toBe("db1 is tagged prod");
  });
  test("an answer counts only for the plan it was asked about: another command or host list is asked again", () => {
    const plan = { command: "reboot", hosts: hosts(12) };
    const first = decide(plan, defaultApprovals, { elicitation: { form: true, url: false } });
    expect(first.kind).toBe("ask");
    const state = first.kind === "ask" ? first.ask.state : undefined;
    const yes = { approve: { action: "accept", content: { approve: true } } };
    expect(decide(plan, defaultApprovals, { inputResponses: yes, requestState: state }).kind).toBe("go");
    expect(decide({ ...plan, command: "rm -rf /" }, defaultApprovals, { inputResponses: yes, requestState: state, elicitation: { form: true, url: false } }).kind).toBe("ask");
    expect(decide(plan, defaultApprovals, { inputResponses: yes, requestState: "forged.0000", elicitation: { form: true, url: false } }).kind).toBe("ask");
    expect(decide(plan, defaultApprovals, { inputResponses: { approve: { action: "decline" } }, requestState: state }).kind).toBe("refuse");
  });
  test("rollout stages: first, then a share of all, then the rest", () => {
    const names = Array.from({ length: 8 }, (_, i) => `h${i + 1}`);
    expect(rolloutStages(names, {})).toEqual([["h1"], ["h2", "h3"], ["h4", "h5", "h6", "h7", "h8"]]);
    expect(rolloutStages(names, { first: 2, then_percent: 50 })).toEqual([["h1", "h2"], ["h3", "h4", "h5", "h6"], ["h7", "h8"]]);
    expect(rolloutStages(["a"], {})).toEqual([["a"]]);
  });
});

let dir: string;
let backend: StartedServer;
let hub: StartedServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-approvals-"));
  backend = await startServer();
  const b = (name: string, tags: string[] = []) => ({ name, url: backend.url, token: backend.token, tags });
  const dead = `http://127.0.0.1:${closedPort()}/mcp`;
  hub = await startHub(
    [
      ...Array.from({ length: 12 }, (_, i) => b(`web${i + 1}`, ["web"])),
      b("db1", ["prod"]),
      // A canary fleet: the second host cannot be reached, so a rollout stops after its stage.
      b("c1", ["canary"]),
      { name: "c2", url: dead, token: "x", tags: ["canary"] },
      ...Array.from({ length: 6 }, (_, i) => b(`c${i + 3}`, ["canary"])),
    ],
    { registryDir: dir },
  );
});
afterAll(async () => {
  await Promise.all([hub?.stop(), backend?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A v2 client pinned to 2026-07-28; `answer` (when given) is its elicitation handler, which records each question. */
async function client(answer?: (message: string) => { action: "accept" | "decline" | "cancel"; content?: Record<string, string | number | boolean | string[]> }) {
  const asked: string[] = [];
  const c = new Client({ name: "approvals-test", version: "0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: answer ? { elicitation: { form: {} } } : {} });
  if (answer) {
    c.setRequestHandler("elicitation/create", async (req) => {
      const message = (req.params as { message: string }).message;
      asked.push(message);
      return answer(message);
    });
  }
  await c.connect(new StreamableHTTPClientTransport(new URL(hub.url), { requestInit: { headers: { authorization: `Bearer ${hub.token}` } } }));
  return { c, asked };
}

const many = async (c: Client, args: Record<string, unknown>) =>
  (await c.callTool({ name: "remote_shell_many", arguments: args }, { timeout: 30_000 })) as {
    isError?: boolean;
    content: { text: string }[];
    structuredContent?: { counts: { ok: number; total: number }; approved: boolean; rollout?: { stages: { hosts: string[]; failed: number }[]; stopped_after_stage: number | null; not_run: string[] } };
  };

/** A command that leaves a mark per host it ran on, so "nothing ran" is checked, not assumed. */
const marking = (tag: string) => `touch ${join(dir, `ran-${tag}`)}-$RANDOM$RANDOM`;
const marks = (tag: string) => readdirSync(dir).filter((f) => f.startsWith(`ran-${tag}-`)).length;

describe("remote_shell_many asks before a wide or prod run", () => {
  test("13 hosts: the user is shown the exact command and every host, approves, and it runs on all", async () => {
    const { c, asked } = await client(() => ({ action: "accept", content: { approve: true } }));
    try {
      const r = await many(c, { tag: "web", hosts: ["db1"], command: marking("wide") });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent?.approved).toBe(true);
      expect(r.structuredContent?.counts.ok).toBe(13);
      expect(asked).toHaveLength(1);
      expect(asked[0]).toContain(marking("wide"));
      expect(asked[0]).toContain("web12");
      expect(asked[0]).toContain("db1 [prod]");
      expect(marks("wide")).toBe(13);
    } finally {
      await c.close();
    }
  });

  test("a declined confirmation runs nothing anywhere, and says so", async () => {
    const { c, asked } = await client(() => ({ action: "decline" }));
    try {
      const r = await many(c, { hosts: ["db1"], command: marking("declined") });
      expect(r.isError).toBe(true);
      expect(r.content[0]!.text).toContain("declined");
      expect(asked[0]).toContain("tagged prod");
      expect(marks("declined")).toBe(0);
    } finally {
      await c.close();
    }
  });

  test("a client without elicitation is refused, naming the hub.toml key that would allow it", async () => {
    const { c } = await client();
    try {
      const r = await many(c, { tag: "web", command: marking("unasked") });
      expect(r.isError).toBe(true);
      expect(r.content[0]!.text).toContain("approve_without_elicitation");
      expect(marks("unasked")).toBe(0);
    } finally {
      await c.close();
    }
  });

  test("a few untagged hosts run without a question", async () => {
    const { c, asked } = await client(() => ({ action: "decline" }));
    try {
      const r = await many(c, { hosts: ["web1", "web2"], command: "true" });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent?.approved).toBe(false);
      expect(asked).toHaveLength(0);
    } finally {
      await c.close();
    }
  });
});

describe("canary rollout", () => {
  test("runs on one host, then a quarter, and stops at the first failure, reporting where and what never ran", async () => {
    const { c } = await client();
    try {
      const r = await many(c, { tag: "canary", command: marking("canary"), rollout: { first: 1, then_percent: 25, max_errors: 1 } });
      const ro = r.structuredContent!.rollout!;
      expect(ro.stages.map((s) => s.hosts)).toEqual([["c1"], ["c2", "c3"]]);
      expect(ro.stages[1]!.failed).toBe(1);
      expect(ro.stopped_after_stage).toBe(2);
      expect(ro.not_run).toEqual(["c4", "c5", "c6", "c7", "c8"]);
      expect(marks("canary")).toBe(2);
      expect(r.content[0]!.text).toContain("rollout stopped after stage 2 of 3");
    } finally {
      await c.close();
    }
  });

  test("with room for errors every stage runs", async () => {
    const { c } = await client();
    try {
      const r = await many(c, { tag: "canary", command: "true", rollout: { max_errors: 2 } });
      expect(r.structuredContent!.rollout!.stopped_after_stage).toBeNull();
      expect(r.structuredContent!.rollout!.not_run).toEqual([]);
      expect(existsSync(dir)).toBe(true);
    } finally {
      await c.close();
    }
  });
});
