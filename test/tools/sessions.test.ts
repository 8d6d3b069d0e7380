// Terminal sessions end to end: a real lmcp (the compiled binary when LMCP_BIN is
// set) driven by the SDK client: REPLs, prompts, Ctrl-C, less, scopes, the cap,
// waking on events, surviving a disconnect, the audit log.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { type StartedServer, callTool, connect, pidAlive, processGone, resultText, startServer, waitFor, waitForPidFile } from "../helpers/server.ts";

const FULL = "full-token-sess1";
const READER = "reader-token-sess2";
let server: StartedServer;
let client: Client;
let auditPath: string;
let home: string;
beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "lmcp-sessions-"));
  auditPath = join(home, "audit.log");
  writeFileSync(join(home, "token"), `${FULL} name=ops\n${READER} read-only name=reader\n`, { mode: 0o600 });
  server = await startServer({ home, env: { LMCP_AUDIT_LOG: auditPath } });
  client = await connect(server, FULL);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(home, { recursive: true, force: true });
});

type Read = {
  output: string;
  woke_on: string;
  state: string;
  exit_code?: number | null;
  dropped_bytes: number;
  alternate_screen: boolean;
  screen?: string[];
};
const structured = <T,>(r: CallToolResult) => r.structuredContent as T;

/** Every session a test starts, closed after it (an ended one is already gone: its close fails harmlessly). */
const open = new Set<string>();
afterEach(async () => {
  for (const id of open) await callTool(client, "session_close", { session_id: id }).catch(() => undefined);
  open.clear();
});

async function start(args: Record<string, unknown> = {}, c: Client = client): Promise<string> {
  const r = await callTool(c, "session_start", args);
  expect(r.isError, resultText(r)).toBeFalsy();
  const id = structured<{ session_id: string }>(r).session_id;
  open.add(id);
  return id;
}
const send = async (id: string, args: { input?: string; keys?: string[] }) => {
  const r = await callTool(client, "session_send", { session_id: id, ...args });
  expect(r.isError, resultText(r)).toBeFalsy();
};
async function read(id: string, args: Record<string, unknown> = {}, c: Client = client): Promise<Read> {
  const r = (await c.callTool({ name: "session_read", arguments: { session_id: id, ...args } }, { timeout: 60_000 })) as CallToolResult;
  expect(r.isError, resultText(r)).toBeFalsy();
  return structured<Read>(r);
}
/** Reads until the transcript so far contains `text` (each read waits for it, so no read is a blind poll). */
async function readUntil(id: string, text: string, timeoutS = 20): Promise<string> {
  let all = "";
  const deadline = Date.now() + timeoutS * 1000;
  while (!all.includes(text)) {
    if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(all)}`);
    const r = await read(id, { wait_for: text, timeout_s: timeoutS });
    all += r.output;
    if (r.state === "exited" && !all.includes(text)) throw new Error(`session exited before ${JSON.stringify(text)}: ${JSON.stringify(all)}`);
  }
  return all;
}

describe("tools and scopes", () => {
  test("the five session tools are listed, none read-only", async () => {
    const { tools } = await client.listTools();
    const names = ["session_start", "session_send", "session_read", "session_list", "session_close"];
    for (const n of names) {
      const t = tools.find((x) => x.name === n);
      expect(t, n).toBeDefined();
      expect(t!.annotations?.readOnlyHint, n).not.toBe(true);
      expect(t!.description!.length, n).toBeGreaterThan(100);
    }
  });
  test("a read-only token sees no session tool and is refused session_start", async () => {
    const reader = await connect(server, READER);
    try {
      const { tools } = await reader.listTools();
      expect(tools.filter((t) => t.name.startsWith("session_"))).toEqual([]);
      const refused = await reader.callTool({ name: "session_start", arguments: {} }).then(
        (r) => resultText(r as CallToolResult),
        (e: Error) => e.message,
      );
      expect(refused).toContain("read-only");
      const list = await callTool(client, "session_list", {});
      expect(structured<{ sessions: unknown[] }>(list).sessions).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});

describe("driving programs", () => {
  test("python3 -q -i: define a function, call it, see the result", async () => {
    const id = await start({ command: "python3 -q -i" });
    expect((await read(id, { wait_for: ">>> " })).woke_on).toBe("match");
    await send(id, { input: "def area(w, h):\n    return w * h * 3\n\n" });
    await readUntil(id, ">>> ");
    await send(id, { input: "area(7, 2)\n" });
    // Up to the next prompt: Ctrl-D typed while Python is still between prompts is flushed by readline.
    const out = await readUntil(id, "42\n>>> ");
    expect(out).toContain("area(7, 2)\n42\n");
    await send(id, { keys: ["C-d"] });
    const last = await read(id, { wait_for: "never printed", timeout_s: 20 });
    expect(last).toMatchObject({ state: "exited", exit_code: 0, woke_on: "exit" });
  });

  test("answers a read -p prompt; after the exit one read returns the last output with exit_code", async () => {
    const id = await start({ command: 'read -p "Name? " n; echo "hello, $n"; exit 4' });
    const prompt = await read(id, { wait_for: "Name? " });
    expect(prompt.output).toBe("Name? ");
    await send(id, { input: "Ada" });
    await send(id, { keys: ["Enter"] });
    const done = await read(id, { wait_for: "/^never$/", timeout_s: 20 });
    expect(done.output).toBe("Ada\nhello, Ada\n");
    expect(done).toMatchObject({ state: "exited", exit_code: 4, woke_on: "exit" });
    const again = await callTool(client, "session_read", { session_id: id });
    expect(again.isError).toBe(true);
    expect(resultText(again)).toContain("exited with code 4, and its last output was read");
    const send2 = await callTool(client, "session_send", { session_id: id, input: "x" });
    expect(send2.isError).toBe(true);
  });

  test("Ctrl-C interrupts sleep and the shell goes on", async () => {
    const id = await start({ cwd: server.home });
    await send(id, { input: "echo ready-$((40+2))\n" });
    await readUntil(id, "ready-42");
    const pidFile = join(server.home, "sleep.pid");
    await send(id, { input: `sh -c 'echo $$ > ${pidFile}; exec sleep 300'; echo after-$((1+1))\n` });
    const pid = await waitForPidFile(pidFile);
    expect(pidAlive(pid)).toBe(true);
    await send(id, { keys: ["C-c"] });
    await waitFor("the sleep to end", () => processGone(pid));
    await send(id, { input: "echo alive-$((6*7))\n" });
    const out = await readUntil(id, "alive-42");
    expect(out).toContain("^C");
    // The interrupt ended the whole command line, as at a terminal.
    expect(out).not.toContain("after-2");
  });

  test("less shows its screen as text and pages with Space", async () => {
    const file = join(server.home, "numbers.txt");
    writeFileSync(file, Array.from({ length: 100 }, (_, i) => `line ${String(i + 1).padStart(3, "0")}`).join("\n") + "\n");
    const id = await start({ command: `less ${file}`, rows: 24, cols: 80 });
    const screenTop = async (want: string) =>
      waitFor(`less to show ${want} at the top`, async () => {
        const r = await read(id, { idle_ms: 100 });
        return r.screen?.[0] === want ? r : undefined;
      }, 20_000);
    const first = await screenTop("line 001");
    expect(first.alternate_screen).toBe(true);
    expect(first.screen?.[22]).toBe("line 023");
    await send(id, { keys: ["Space"] });
    const second = await screenTop("line 024");
    expect(second.screen?.[22]).toBe("line 046");
    await send(id, { input: "q" });
    const end = await read(id, { wait_for: "never", timeout_s: 20 });
    expect(end).toMatchObject({ state: "exited", exit_code: 0, alternate_screen: false });
  });

  test("an unknown key name is refused, naming the grammar", async () => {
    const id = await start({ command: "cat" });
    const r = await client.callTool({ name: "session_send", arguments: { session_id: id, keys: ["Ctrl-C"] } }).then(
      (x) => resultText(x as CallToolResult),
      (e: Error) => e.message,
    );
    expect(r).toContain('unknown key "Ctrl-C"');
    expect(r).toContain('"C-c"');
  });
});

describe("waiting", () => {
  test("wait_for wakes on the output that matches, not at the timeout", async () => {
    const id = await start({ command: "cat" });
    const pending = read(id, { wait_for: "/pong-\\d+/", timeout_s: 50 });
    await send(id, { input: "pong-7\n" });
    const r = await pending;
    expect(r.woke_on).toBe("match");
    expect(r.output).toContain("pong-7");
  });

  test("idle_ms waits for output to stop, counting from the last output", async () => {
    const id = await start({ command: "for i in 1 2 3 4; do echo tick$i; sleep 0.3; done; exec cat" });
    const r = await read(id, { idle_ms: 1500, timeout_s: 50 });
    expect(r.woke_on).toBe("idle");
    expect(r.output).toBe("tick1\ntick2\ntick3\ntick4\n");
  });

  test("a long wait sends progress with the last line", async () => {
    const id = await start({ command: "echo working; exec cat" });
    const seen: { message?: string }[] = [];
    const r = (await client.callTool(
      { name: "session_read", arguments: { session_id: id, wait_for: "never", timeout_s: 5.5 } },
      { onprogress: (p) => void seen.push(p), timeout: 30_000 },
    )) as CallToolResult;
    expect(structured<Read>(r).woke_on).toBe("timeout");
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]?.message).toMatch(/^waited 5s for output matching "never"; last line: working$/);
  }, 30_000);
});

describe("floods", () => {
  test("output faster than the screen parses neither breaks the server nor the screen: it skips ahead to the end", async () => {
    const id = await start({ command: "yes abcdefghijklmnopqrstuvwxyz | head -c 80000000; echo; echo FLOOD-END" });
    const r = await read(id, { wait_for: "never", timeout_s: 50, screen: true });
    expect(r.state).toBe("exited");
    expect(r.output.endsWith("FLOOD-END\n")).toBe(true);
    expect(r.dropped_bytes).toBeGreaterThan(70_000_000);
    expect(r.screen?.at(-1)).toBe("FLOOD-END");
    expect(server.logs()).not.toMatch(/discarded|threw|uncaught|flow control/i);
    expect((await callTool(client, "session_list", {})).isError).toBeFalsy();
  }, 60_000);
});

describe("the table", () => {
  test("at most 16 sessions; the 17th is refused with advice", async () => {
    for (let i = 0; i < 16; i++) await start({ command: "cat" });
    const r = await callTool(client, "session_start", { command: "cat" });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("16 sessions are open");
    expect(resultText(r)).toContain("session_close");
    const list = structured<{ sessions: { session_id: string }[] }>(await callTool(client, "session_list", {}));
    expect(list.sessions.length).toBe(16);
  });

  test("a session survives its client disconnecting; session_close hangs it up, jobs included", async () => {
    const other = await connect(server, FULL);
    const id = await start({ cwd: server.home }, other);
    const pidFile = join(server.home, "job.pid");
    await callTool(other, "session_send", { session_id: id, input: `sleep 300 & echo $! > ${pidFile}\n` });
    const job = await waitForPidFile(pidFile);
    await other.close();
    const list = structured<{ sessions: { session_id: string }[] }>(await callTool(client, "session_list", {}));
    expect(list.sessions.map((s) => s.session_id)).toContain(id);
    await send(id, { input: "echo still-$((3*3))\n" });
    await readUntil(id, "still-9");
    const closed = await callTool(client, "session_close", { session_id: id });
    expect(structured<{ was: string }>(closed).was).toBe("running");
    open.delete(id);
    await waitFor("the background job to be hung up", () => processGone(job));
    const after = await callTool(client, "session_read", { session_id: id });
    expect(resultText(after)).toContain("was closed with session_close");
  });

  test("sessions end with their server: stopping it hangs up their programs", async () => {
    const own = await startServer();
    try {
      const c = await connect(own);
      const pidFile = join(own.home, "leader.pid");
      const r = await callTool(c, "session_start", { command: `echo $$ > ${pidFile}; exec sleep 300` });
      expect(r.isError, resultText(r)).toBeFalsy();
      const pid = await waitForPidFile(pidFile);
      await c.close();
      expect(await own.stop()).toBe(0);
      await waitFor("the session's program to end with the server", () => processGone(pid));
    } finally {
      await own.stop();
    }
  });

  test("the audit log records the session calls without the typed text", async () => {
    const id = await start({ command: "cat" });
    await send(id, { input: "s3cr3t-typed-text\n" });
    await readUntil(id, "s3cr3t-typed-text");
    const lines = await waitFor("the audit lines", () => {
      const text = readFileSync(auditPath, "utf8");
      return text.includes('"tool":"session_read"') ? text : undefined;
    });
    expect(lines).toContain('"tool":"session_start"');
    expect(lines).toContain('"command":"cat"');
    expect(lines).toContain('"tool":"session_send"');
    expect(lines).not.toContain("s3cr3t-typed-text");
  });
});
