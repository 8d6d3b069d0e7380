// The session machinery in process: transcript text from PTY bytes, named keys,
// wait_for patterns, and the table's bounds (idle timeout, dropped output, the
// read cap, a cancelled read) with the limits shrunk so they are reached quickly.
import { afterEach, describe, expect, test } from "bun:test";
import { isKeyName, keyBytes, unknownKeyMessage } from "../../src/tools/keys.ts";
import { sessionClose } from "../../src/tools/session_close.ts";
import { sessionRead } from "../../src/tools/session_read.ts";
import { sessionSend } from "../../src/tools/session_send.ts";
import { sessionStart } from "../../src/tools/session_start.ts";
import { TranscriptText, compileWaitFor, findSession, listSessions, sessionLimits } from "../../src/tools/sessions.ts";
import { scratch, testContext } from "../helpers/context.ts";
import { waitFor } from "../helpers/server.ts";

const { setup } = scratch();
const defaults = { ...sessionLimits };
afterEach(async () => {
  Object.assign(sessionLimits, defaults);
  // Every session a test started is closed, whatever the test did.
  const { ctx, cleanup } = testContext();
  for (const s of listSessions()) await sessionClose.run({ session_id: s.id }, ctx);
  cleanup();
});

const enc = new TextEncoder();

describe("transcript text", () => {
  const run = (...chunks: string[]) => {
    const t = new TranscriptText();
    return chunks.map((c) => t.push(enc.encode(c))).join("") + t.flush();
  };
  test("strips colours, titles and modes; CRLF is a newline", () => {
    expect(run("\x1b]0;user@host\x07\x1b[?2004h\x1b[01;32mok\x1b[0m\r\n")).toBe("ok\n");
  });
  test("a sequence cut between chunks is held until its end arrives", () => {
    expect(run("a\x1b[3", "1mred\x1b[", "0m b\x1b]0;ti", "tle\x07c")).toBe("ared bc");
  });
  test("a CR cut from its LF is still one newline; a CR at a line's start moves nowhere; a lone CR starts a line", () => {
    expect(run("one\r", "\ntwo\r\n\r^C\r\n")).toBe("one\ntwo\n^C\n");
    expect(run("10%\r50%\r100%\n")).toBe("10%\n50%\n100%\n");
  });
  test("other controls go; multi-byte characters split between chunks come through", () => {
    const bytes = enc.encode("é✓");
    const t = new TranscriptText();
    const out = t.push(bytes.subarray(0, 1)) + t.push(bytes.subarray(1, 4)) + t.push(bytes.subarray(4)) + t.push(enc.encode("\x07x\by\x0f")) + t.flush();
    expect(out).toBe("é✓xy");
  });
});

describe("named keys", () => {
  test("control keys, cursor keys in both modes, and aliases", () => {
    expect(keyBytes("C-c", false)).toBe("\x03");
    expect(keyBytes("C-C", false)).toBe("\x03");
    expect(keyBytes("C-[", false)).toBe("\x1b");
    expect(keyBytes("c-d", false)).toBe("\x04");
    expect(keyBytes("Enter", false)).toBe("\r");
    expect(keyBytes("enter", false)).toBe("\r");
    expect(keyBytes("Up", false)).toBe("\x1b[A");
    expect(keyBytes("Up", true)).toBe("\x1bOA");
    expect(keyBytes("PgDn", false)).toBe("\x1b[6~");
    expect(keyBytes("F5", false)).toBe("\x1b[15~");
  });
  test("unknown names are refused with the spelling meant", () => {
    for (const bad of ["Ctrl-C", "^C", "C-", "C-1", "Entr", "a"]) expect(isKeyName(bad), bad).toBe(false);
    expect(unknownKeyMessage("Ctrl-C")).toContain('write "C-c"');
    expect(unknownKeyMessage("Entr")).toContain("Enter, Tab");
  });
});

describe("wait_for", () => {
  const m = (p: string) => {
    const c = compileWaitFor(p);
    if ("error" in c) throw new Error(c.error);
    return c.matcher;
  };
  test("a literal, also found across the boundary of new text", () => {
    expect(m("a.b").test("xxa.b", 3)).toBe(true);
    expect(m("a.b").test("xxaXb", 0)).toBe(false);
  });
  test("a /regex/: ^ and $ at line ends, flag i", () => {
    expect(m("/^\\$ $/").test("ls\nfile\n$ ", 0)).toBe(true);
    expect(m("/continue\\? \\[y\\/n\\]/").test("Continue? [Y/n]", 0)).toBe(false);
    expect(m("/continue\\? \\[y\\/n\\]/i").test("Continue? [Y/n]", 0)).toBe(true);
    expect(m("/^b$/").test("a\nb\nc", 0)).toBe(true);
  });
  test("a bad flag or a backreference is refused in words", () => {
    const flag = compileWaitFor("/x/g");
    expect("error" in flag && flag.error).toContain('unknown regex flag "g"');
    const back = compileWaitFor("/(a)\\1/");
    expect("error" in back && back.error).toContain("RE2");
  });
});

describe("bounds", () => {
  const startCat = async (command = "exec cat") => {
    const { ctx } = setup();
    const r = await sessionStart.run({ command }, ctx);
    if (!r.ok) throw new Error(r.error);
    return { ctx, id: r.data.session_id, pid: r.data.pid };
  };

  test("a session nobody sends to or reads is closed after the idle timeout, and a read says so", async () => {
    sessionLimits.idleMs = 300;
    const { ctx, id } = await startCat();
    await waitFor("the idle timeout", () => ("error" in findSession(id) ? true : undefined));
    const r = await sessionRead.run({ session_id: id }, ctx);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain("without session_send or session_read (the idle timeout)");
  });

  test("a read that waits keeps its session from going idle", async () => {
    sessionLimits.idleMs = 200;
    const { ctx, id } = await startCat();
    const r = await sessionRead.run({ session_id: id, wait_for: "never", timeout_s: 1 }, ctx);
    expect(r.ok && r.data.woke_on).toBe("timeout");
    expect("session" in findSession(id)).toBe(true);
  });

  test("past the buffer, the oldest output is dropped and counted; the end survives", async () => {
    sessionLimits.pendingBytes = 8192;
    const { ctx, id } = await startCat("head -c 100000 /dev/zero | tr '\\0' a; echo; echo THE-END");
    const r = await sessionRead.run({ session_id: id, wait_for: "never", timeout_s: 20 }, ctx);
    if (!r.ok) throw new Error(r.error);
    expect(r.data.state).toBe("exited");
    expect(r.data.output.endsWith("a\nTHE-END\n")).toBe(true);
    expect(r.data.dropped_bytes).toBeGreaterThan(90_000);
    expect(r.data.output).toContain("bytes of older output were dropped");
  });

  test("a read is capped: head and tail kept, the cut counted in dropped_bytes", async () => {
    const { ctx: small } = setup({ limits: { maxOutputBytes: 1000 } });
    const { id } = await startCat("seq 1 3000; exec cat");
    const r = await sessionRead.run({ session_id: id, wait_for: "\n3000\n", timeout_s: 20 }, small);
    if (!r.ok) throw new Error(r.error);
    expect(r.data.output.startsWith("1\n2\n")).toBe(true);
    expect(r.data.output.endsWith("2999\n3000\n")).toBe(true);
    expect(r.data.output).toContain("bytes cut from the middle of this read");
    const total = Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join("").length;
    expect(r.data.dropped_bytes).toBeGreaterThan(total - 1100);
  });

  test("a cancelled read takes nothing: the next read gets the output", async () => {
    const { ctx, id } = await startCat();
    await sessionSend.run({ session_id: id, input: "kept-1\n" }, ctx);
    const abort = new AbortController();
    const { ctx: cancelling } = setup({ signal: abort.signal });
    const pending = sessionRead.run({ session_id: id, wait_for: "never", timeout_s: 20 }, cancelling);
    abort.abort();
    const r = await pending;
    expect(r.ok).toBe(false);
    const next = await sessionRead.run({ session_id: id, wait_for: "kept-1\n" }, ctx);
    expect(next.ok && next.data.output).toContain("kept-1");
  });

  test("send needs input or keys; keys follow input", async () => {
    const { ctx, id } = await startCat();
    const none = await sessionSend.run({ session_id: id }, ctx);
    expect(!none.ok && none.error).toContain("nothing to send");
    const both = await sessionSend.run({ session_id: id, input: "ab", keys: ["Enter"] }, ctx);
    expect(both.ok && both.data.bytes_sent).toBe(3);
    const r = await sessionRead.run({ session_id: id, wait_for: "ab\n" }, ctx);
    expect(r.ok && r.data.output).toContain("ab\n");
  });

  test("the alternate screen is seen by the read right after the switch, with the screen", async () => {
    const { ctx, id } = await startCat("printf '\\033[?1049h\\033[HFULL'; read x; printf '\\033[?1049lBACK'; exec cat");
    const r = await sessionRead.run({ session_id: id, wait_for: "FULL" }, ctx);
    if (!r.ok) throw new Error(r.error);
    expect(r.data).toMatchObject({ alternate_screen: true, screen: ["FULL"], cursor: { row: 0, col: 4 } });
    await sessionSend.run({ session_id: id, keys: ["Enter"] }, ctx);
    const back = await sessionRead.run({ session_id: id, wait_for: "BACK" }, ctx);
    expect(back.ok && back.data.alternate_screen).toBe(false);
    expect(back.ok && back.data.screen).toBeUndefined();
    const asked = await sessionRead.run({ session_id: id, idle_ms: 0, screen: true }, ctx);
    expect(asked.ok && asked.data.screen?.at(-1)).toBe("BACK");
  });

  test("cursor keys follow the mode the program set (application cursor keys: ESC O A)", async () => {
    const { ctx, id } = await startCat("stty raw -echo; printf '\\033[?1hready'; head -c 3 | od -An -c");
    await sessionRead.run({ session_id: id, wait_for: "ready" }, ctx);
    await sessionSend.run({ session_id: id, keys: ["Up"] }, ctx);
    const r = await sessionRead.run({ session_id: id, wait_for: "never", timeout_s: 20 }, ctx);
    expect(r.ok && r.data.state).toBe("exited");
    expect(r.ok && r.data.output).toMatch(/033\s+O\s+A/);
  });

  test("a bad id or an unknown session gets an error naming what to pass", async () => {
    const { ctx } = setup();
    const bad = await sessionRead.run({ session_id: "j-abcdefgh23" }, ctx);
    expect(!bad.ok && bad.error).toContain("is not a session id");
    const unknown = await sessionRead.run({ session_id: "s-abcdefgh23" }, ctx);
    expect(!unknown.ok && unknown.error).toContain("a restart ends them");
  });
});
