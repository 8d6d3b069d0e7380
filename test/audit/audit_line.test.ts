// One audit entry is one line in every reader: every control, format and line
// separator character is escaped, and the line parses back to the same values.
import { describe, expect, test } from "bun:test";
import { GENESIS, chainLine, escapeJson, freshChain, lineHash } from "../../src/audit/audit_line.ts";
import { auditEntry } from "../../src/audit/audit_log.ts";

const c1 = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)).join("");
const c0 = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join("");
// Every character some reader treats as a line break, a control or an invisible reordering.
const hostile = `echo a${c0}\u007f${c1}\u2028\u2029\u0085\u202e\u2066\u200b\ufeff\u{e0001}b`;
/** Line boundaries of JavaScript, Python's str.splitlines and Unicode (UAX #14 mandatory breaks). */
const anyLineBreak = /[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/;

describe("escapeJson", () => {
  test("escapes DEL, each C1 control, U+2028, U+2029, NEL and format characters as \\uXXXX", () => {
    const out = escapeJson(JSON.stringify({ command: hostile }));
    expect(out).toContain("\\u007f");
    for (let cp = 0x80; cp <= 0x9f; cp++) expect(out).toContain(`\\u${cp.toString(16).padStart(4, "0")}`);
    for (const esc of ["\\u2028", "\\u2029", "\\u0085", "\\u202e", "\\u2066", "\\u200b", "\\ufeff", "\\udb40\\udc01"]) expect(out).toContain(esc);
    expect(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(out)).toBe(false);
    expect((JSON.parse(out) as { command: string }).command).toBe(hostile);
  });
  test("leaves ordinary text, non-Latin letters and emoji as they are", () => {
    const text = JSON.stringify({ path: "/srv/données/日本/🙂 file.txt" });
    expect(escapeJson(text)).toBe(text);
  });
});

describe("chainLine", () => {
  test("an entry whose command holds every such character is one line that parses back to it", () => {
    const entry = auditEntry("shell", { command: hostile, cwd: `/tmp/\u2028x` }, { ok: true, data: { exit_code: 0 } }, { client: "127.0.0.1:1", token: "ops" }, 3);
    const { line } = chainLine(entry, freshChain());
    expect(anyLineBreak.test(line)).toBe(false);
    expect(`${line}\n`.split("\n")).toHaveLength(2);
    const back = JSON.parse(line) as Record<string, unknown>;
    expect(back.command).toBe(hostile);
    expect(back.cwd).toBe("/tmp/\u2028x");
  });
  test("puts seq and prev first, starts at genesis, and chains each line to the sha256 of the one before", () => {
    const first = chainLine({ tool: "a" }, freshChain());
    expect(first.line.startsWith(`{"seq":1,"prev":"${GENESIS}",`)).toBe(true);
    const second = chainLine({ tool: "b" }, first.next);
    expect(JSON.parse(second.line)).toMatchObject({ seq: 2, prev: lineHash(first.line), tool: "b" });
    expect(lineHash(first.line)).toBe(new Bun.CryptoHasher("sha256").update(first.line).digest("hex"));
  });
});

describe("auditEntry", () => {
  test("records a refusal as denied with its reason, and the traceparent when given", () => {
    const e = auditEntry(
      "read_file",
      { path: "/etc/lmcp/token" },
      { ok: false, error: "refused: /etc/lmcp/token is protected", denied: true },
      { client: "127.0.0.1:5", token: "reader" },
      1.4,
      { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    );
    expect(e).toMatchObject({ tool: "read_file", path: "/etc/lmcp/token", outcome: "denied", error: "refused: /etc/lmcp/token is protected", token: "reader", duration_ms: 1 });
    expect(e.traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  });
  test("cuts long fields so a line stays bounded", () => {
    const e = auditEntry("shell", { command: "x".repeat(100_000), path: "p".repeat(5000) }, { ok: false, error: "e".repeat(5000) }, { client: "c", token: "t" }, 0);
    expect(e.command!.length).toBeLessThanOrEqual(4097);
    expect(e.path!.length).toBeLessThanOrEqual(1025);
    expect(e.error!.length).toBeLessThanOrEqual(501);
    expect(e.outcome).toBe("error");
  });
});
