// The hash chain of the audit file: kept across rotation and restarts, a torn tail
// closed and owned up to, and edits, cuts and removed lines found by verifyChain.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileAudit, existingAuditFiles } from "../../src/audit/audit_file.ts";
import { GENESIS } from "../../src/audit/audit_line.ts";
import type { AuditEntry } from "../../src/audit/audit_log.ts";
import { lmcpCommand } from "../helpers/server.ts";
import { type AuditSource, verifyChain } from "../../src/audit/audit_verify.ts";

let dir: string;
let file: string;
let notes: string[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-audit-"));
  file = join(dir, "state", "audit.jsonl");
  notes = [];
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const entry = (n: number): AuditEntry => ({ time: new Date(0).toISOString(), client: "127.0.0.1:1", token: "ops", tool: "shell", command: `echo ${n}`, outcome: "ok", duration_ms: n });
const open = (maxBytes?: number) => new FileAudit(file, maxBytes, 5, (m) => notes.push(m));
const source = (f: string): AuditSource => ({ name: f, bytes: readFileSync(f) });
const verify = (files = [file], partial = false) => verifyChain(files.map(source), { partial });
const fileLines = (f = file) => readFileSync(f, "utf8").split("\n").filter(Boolean);
const lmcpVerify = (files: string[], env: Record<string, string> = {}) => {
  const r = Bun.spawnSync([...lmcpCommand(), "audit", "verify", ...files], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, XDG_CONFIG_HOME: join(dir, ".config"), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
};
const writeLines = (lines: string[]) => writeFileSync(file, lines.map((l) => `${l}\n`).join(""));

describe("FileAudit and verifyChain", () => {
  test("a fresh log starts at genesis in a 0700 directory with a 0600 file, and verifies", () => {
    const audit = open();
    for (let i = 1; i <= 3; i++) audit.write(entry(i));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
    expect(JSON.parse(fileLines()[0]!)).toMatchObject({ seq: 1, prev: GENESIS, command: "echo 1" });
    expect(verify()).toMatchObject({ ok: true, entries: 3, firstSeq: 1, lastSeq: 3 });
  });

  test("the chain goes on across a restart", () => {
    const first = open();
    first.write(entry(1));
    first.write(entry(2));
    const second = open();
    second.write(entry(3));
    expect(JSON.parse(fileLines()[2]!)).toMatchObject({ seq: 3 });
    expect(verify()).toMatchObject({ ok: true, entries: 3 });
    expect(notes).toEqual([]);
  });

  test("the chain goes on across rotation: FILE.2 FILE.1 FILE verify in order, and not alone or out of order", () => {
    const audit = open(600);
    for (let i = 1; i <= 12; i++) audit.write(entry(i));
    const files = existingAuditFiles(file);
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.at(-1)).toBe(file);
    expect(verify(files)).toMatchObject({ ok: true, entries: 12, firstSeq: 1, lastSeq: 12 });
    const live = verify([file]);
    expect(live).toMatchObject({ ok: false, line: 1 });
    expect(live.ok || live.reason).toContain("older rotated files");
    expect(verify([file], true)).toMatchObject({ ok: true });
    expect(verify([...files].reverse())).toMatchObject({ ok: false });
    const cli = lmcpVerify(files);
    expect(cli.code).toBe(0);
    expect(cli.out).toStartWith(`ok: 12 entries (seq 1-12) across ${files.length} files`);
    expect(lmcpVerify([file]).code).toBe(1);
  });

  test("the oldest rotation falls off after five, and --partial checks the rest", () => {
    const audit = open(300);
    for (let i = 1; i <= 30; i++) audit.write(entry(i));
    const files = existingAuditFiles(file);
    expect(files[0]).toBe(`${file}.5`);
    expect(existsSync(`${file}.6`)).toBe(false);
    expect(verify(files)).toMatchObject({ ok: false, name: `${file}.5`, line: 1 });
    expect(verify(files, true)).toMatchObject({ ok: true, lastSeq: 30 });
    // The configured file with no FILE named: its rotations too, and FILE.5's start may have fallen off.
    const cli = lmcpVerify([], { LMCP_AUDIT_LOG: file });
    expect(cli.out).toStartWith("ok: ");
    expect(cli.out).toContain("rotated away");
    expect(cli.code).toBe(0);
  });

  test("a changed middle line is found: the line after it names it", () => {
    const audit = open();
    for (let i = 1; i <= 5; i++) audit.write(entry(i));
    const lines = fileLines();
    lines[2] = lines[2]!.replace("echo 3", "echo 9");
    writeLines(lines);
    const r = verify();
    expect(r).toMatchObject({ ok: false, line: 4, entries: 3 });
    expect(r.ok || r.reason).toContain(`${file} line 3`);
  });

  test("a removed middle line, a removed first line and a file cut mid-line are found", () => {
    const audit = open();
    for (let i = 1; i <= 5; i++) audit.write(entry(i));
    const lines = fileLines();
    writeLines([...lines.slice(0, 2), ...lines.slice(3)]);
    expect(verify()).toMatchObject({ ok: false, line: 3 });
    writeLines(lines.slice(1));
    const first = verify();
    expect(first).toMatchObject({ ok: false, line: 1 });
    expect(first.ok || first.reason).toContain("start of the log was removed");
    writeLines(lines);
    truncateSync(file, statSync(file).size - 10);
    const cut = verify();
    expect(cut).toMatchObject({ ok: false, line: 5 });
    expect(cut.ok || cut.reason).toContain("torn");
  });

  test("lines cut from the end while lmcp runs are told, and the next entry shows the break", () => {
    const audit = open();
    for (let i = 1; i <= 4; i++) audit.write(entry(i));
    writeLines(fileLines().slice(0, 2));
    audit.write(entry(5));
    expect(notes.join("\n")).toContain("changed outside lmcp");
    expect(verify()).toMatchObject({ ok: false, line: 3 });
  });

  test("a torn tail (lmcp stopped mid-write) is closed and noted at restart, and the chain owns up to it", () => {
    const audit = open();
    for (let i = 1; i <= 3; i++) audit.write(entry(i));
    appendFileSync(file, '{"seq":4,"prev":"ab');
    expect(verify()).toMatchObject({ ok: false, line: 4 });
    const again = open();
    expect(notes.join("\n")).toContain("torn line");
    again.write(entry(5));
    const lines = fileLines();
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[4]!)).toMatchObject({ seq: 5, torn: true });
    const r = verify();
    expect(r).toMatchObject({ ok: true, entries: 4 });
    expect(r.ok && r.notes.join("\n")).toContain("line 4: torn");
    // A line changed into garbage is not a torn line: nothing after it owns up to it.
    const edited = fileLines();
    edited[1] = "garbage";
    writeLines(edited);
    expect(verify()).toMatchObject({ ok: false, line: 2 });
  });

  test("a log from before the chain is moved aside, and a fresh chain starts", () => {
    const legacy = `${JSON.stringify({ time: "t", tool: "shell", outcome: "ok" })}\n`;
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    writeFileSync(file, legacy);
    const audit = open();
    audit.write(entry(1));
    expect(readFileSync(`${file}.1`, "utf8")).toBe(legacy);
    expect(notes.join("\n")).toContain("did not end in a chained entry");
    expect(verify()).toMatchObject({ ok: true, entries: 1 });
  });

  test("an unwritable log is told once per failure streak, never thrown, and the gap is counted in the next line", () => {
    // A regular file where the log's directory should be: ENOTDIR for every user, root included.
    const blocker = join(dir, "blocker");
    writeFileSync(blocker, "");
    file = join(blocker, "audit.jsonl");
    const audit = open();
    for (let i = 1; i <= 3; i++) expect(() => audit.write(entry(i))).not.toThrow();
    expect(notes.filter((n) => n.startsWith("error: cannot"))).toHaveLength(2); // one at open, one for the write streak
    rmSync(blocker);
    mkdirSync(blocker, { mode: 0o700 });
    audit.write(entry(4));
    expect(notes.at(-1)).toContain("writable again; 3 entries were lost");
    expect(JSON.parse(fileLines()[0]!)).toMatchObject({ seq: 1, lost: 3, command: "echo 4" });
    expect(verify()).toMatchObject({ ok: true, entries: 1 });
    renameSync(blocker, `${blocker}.old`);
    writeFileSync(blocker, "");
    audit.write(entry(5));
    audit.write(entry(6));
    expect(notes.filter((n) => n.startsWith("error: cannot write the audit log"))).toHaveLength(2);
  });
});

describe("verifyChain on journal text", () => {
  test("takes StderrAudit's lines among other log lines, and lets a restart begin a new chain", () => {
    // Two runs of a process that writes two entries each through StderrAudit, with another log line between them.
    const script = `
      const { StderrAudit } = await import(${JSON.stringify(join(import.meta.dir, "../../src/audit/audit_log.ts"))});
      const sink = new StderrAudit();
      for (const n of [1, 2]) {
        sink.write({ time: "t", client: "c", token: "ops", tool: "shell", command: "echo " + n + "\u2028", outcome: "ok", duration_ms: 0 });
        process.stderr.write("2026-01-01T00:00:00Z client=127.0.0.1:1 method=tools/call status=200\\n");
      }`;
    let text = "";
    for (let run = 0; run < 2; run++) {
      const r = Bun.spawnSync([process.execPath, "-e", script], { stderr: "pipe", stdout: "ignore" });
      expect(r.exitCode).toBe(0);
      text += r.stderr.toString();
    }
    expect(text.match(/^audit \{"seq":1,/gm)).toHaveLength(2);
    const bytes = (t: string) => [{ name: "stdin", bytes: new TextEncoder().encode(t) }];
    const r = verifyChain(bytes(text), { journal: true });
    expect(r).toMatchObject({ ok: true, entries: 4 });
    expect(verifyChain(bytes(text.replace("echo 1", "echo 7")), { journal: true })).toMatchObject({ ok: false, line: 3 });
  });
});
