import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { resolveUserPath } from "../../src/tools/paths.ts";
import { fitReply, readFile } from "../../src/tools/read_file.ts";
import type { ToolOutcome } from "../../src/tools/tool.ts";
import { scratch } from "../helpers/context.ts";

const { setup } = scratch();

interface ReadData {
  path: string;
  encoding: string;
  content: string;
  size: number;
  binary: boolean;
  truncated: boolean;
  offset: number;
  next_offset?: number;
  total_lines?: number;
  lines_returned?: number;
  bytes_returned?: number;
}

async function read(args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) {
  const r = (await readFile.run(readFile.input.parse(args), ctx)) as ToolOutcome<ReadData>;
  if (!r.ok) throw new Error(`expected success, got: ${r.error}`);
  return r;
}
async function readFails(args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) {
  const r = await readFile.run(readFile.input.parse(args), ctx);
  if (r.ok) throw new Error("expected a failure");
  return r.error;
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}\n`).join("");

describe("read_file", () => {
  test("reads a small file exactly, with counts, and its output matches the declared schema", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "a.txt");
    writeFileSync(p, "one\ntwo\nthree\n");
    const r = await read({ path: p }, ctx);
    expect(r.data).toMatchObject({ path: p, encoding: "utf8", content: "one\ntwo\nthree\n", total_lines: 3, offset: 1, lines_returned: 3, truncated: false, size: 14, binary: false });
    expect(r.data.next_offset).toBeUndefined();
    expect(r.text).toBe("one\ntwo\nthree\n");
    expect(() => readFile.output.parse(r.data)).not.toThrow();
  });

  test("defaults to utf8 and leaves offset and limit unset", () => {
    expect(readFile.input.parse({ path: "x" })).toEqual({ path: "x", encoding: "utf8" });
    expect(() => readFile.input.parse({ path: "x", offset: -1 })).toThrow();
    expect(() => readFile.input.parse({ path: "x", limit: 0 })).toThrow();
  });

  test("returns at most 2000 lines and says how to page with next_offset", async () => {
    const { dir: d, ctx } = setup({ limits: { maxReadBytes: 1024 * 1024 } });
    const p = join(d, "long.txt");
    writeFileSync(p, numbered(5000));
    const first = await read({ path: p }, ctx);
    expect(first.data.lines_returned).toBe(2000);
    expect(first.data.total_lines).toBe(5000);
    expect(first.data.truncated).toBe(true);
    expect(first.data.next_offset).toBe(2001);
    expect(first.data.content).toBe(numbered(2000));
    expect(first.text).toContain("[lmcp: lines 1–2000 of 5000 shown; call read_file with offset=2001 for more]");

    const last = await read({ path: p, offset: 4001 }, ctx);
    expect(last.data.content.startsWith("line 4001\n")).toBe(true);
    expect(last.data.lines_returned).toBe(1000);
    expect(last.data.truncated).toBe(false);
    expect(last.data.next_offset).toBeUndefined();
    expect(last.text).not.toContain("[lmcp:");
  });

  test("offset and limit select exact lines", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, numbered(10));
    const r = await read({ path: p, offset: 3, limit: 2 }, ctx);
    expect(r.data.content).toBe("line 3\nline 4\n");
    expect(r.data).toMatchObject({ offset: 3, lines_returned: 2, next_offset: 5, truncated: true });
    const zero = await read({ path: p, offset: 0, limit: 1 }, ctx);
    expect(zero.data.content).toBe("line 1\n");
  });

  test("caps the reply in bytes at a line boundary", async () => {
    const { dir: d, ctx } = setup({ limits: { maxReadBytes: 100 } });
    const p = join(d, "f");
    const line = `${"x".repeat(29)}\n`; // 30 bytes
    writeFileSync(p, line.repeat(10));
    const r = await read({ path: p }, ctx);
    expect(r.data.content).toBe(line.repeat(3));
    expect(r.data).toMatchObject({ lines_returned: 3, next_offset: 4, truncated: true });
    expect(r.text).toContain("reply cap");
    expect(r.text).toContain("offset=4");
    // Paging with next_offset reaches every line exactly once.
    let all = "";
    let offset: number | undefined = 1;
    while (offset !== undefined) {
      const page: ToolOutcome<ReadData> & { ok: true } = await read({ path: p, offset }, ctx);
      all += page.data.content;
      offset = page.data.next_offset;
    }
    expect(all).toBe(line.repeat(10));
  });

  test("cuts a first line longer than the cap at a UTF-8 character boundary and says so", async () => {
    const { dir: d, ctx } = setup({ limits: { maxReadBytes: 10 } });
    const p = join(d, "emoji");
    writeFileSync(p, "😀😀😀😀😀\nnext\n"); // 4-byte characters: the cap falls inside the third
    const r = await read({ path: p }, ctx);
    expect(r.data.content).toBe("😀😀");
    expect(r.data).toMatchObject({ truncated: true, lines_returned: 1, next_offset: 2 });
    expect(r.text).toContain("longer than the reply cap");
    expect(r.text).toContain('encoding "base64" and offset=8');
  });

  test("keeps CRLF line endings, a BOM and a last line without newline", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "win.txt");
    const text = "\uFEFFa\r\nb\r\nlast";
    writeFileSync(p, text);
    const r = await read({ path: p }, ctx);
    expect(r.data.content).toBe(text);
    expect(r.data.total_lines).toBe(3);
    const tail = await read({ path: p, offset: 2 }, ctx);
    expect(tail.data.content).toBe("b\r\nlast");
  });

  test("reports a file with a NUL byte as binary, without content", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "bin");
    writeFileSync(p, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01]));
    const r = await read({ path: p }, ctx);
    expect(r.data).toMatchObject({ binary: true, content: "", size: 6 });
    expect(r.text).toContain("binary");
    expect(r.text).toContain('encoding "base64"');
    expect(() => readFile.output.parse(r.data)).not.toThrow();
  });

  test("reports invalid UTF-8 as binary", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "latin1");
    writeFileSync(p, Buffer.from("caf\xe9\n", "latin1"));
    const r = await read({ path: p }, ctx);
    expect(r.data.binary).toBe(true);
  });

  test("base64 pages through any file by bytes and round-trips it", async () => {
    const { dir: d, ctx } = setup({ limits: { maxReadBytes: 4096 } });
    const p = join(d, "blob");
    const original = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7919) % 256));
    writeFileSync(p, original);
    const parts: Buffer[] = [];
    let offset: number | undefined = 0;
    let calls = 0;
    while (offset !== undefined) {
      const r: ToolOutcome<ReadData> & { ok: true } = await read({ path: p, encoding: "base64", offset }, ctx);
      expect(r.data.content.length).toBeLessThanOrEqual(4096);
      expect(() => readFile.output.parse(r.data)).not.toThrow();
      parts.push(Buffer.from(r.data.content, "base64"));
      offset = r.data.next_offset;
      calls++;
    }
    expect(calls).toBeGreaterThan(1);
    expect(Buffer.concat(parts).equals(original)).toBe(true);

    const slice = await read({ path: p, encoding: "base64", offset: 100, limit: 5 }, ctx);
    expect(Buffer.from(slice.data.content, "base64").equals(original.subarray(100, 105))).toBe(true);
    expect(slice.data).toMatchObject({ binary: true, bytes_returned: 5, next_offset: 105, truncated: true });
  });

  test("an empty file has no lines and empty content", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "empty");
    writeFileSync(p, "");
    const r = await read({ path: p }, ctx);
    expect(r.data).toMatchObject({ content: "", total_lines: 0, lines_returned: 0, truncated: false, binary: false });
    expect(r.text).toContain("empty");
  });

  test("an offset past the end returns nothing and says how many lines there are", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "a\nb\nc\n");
    const r = await read({ path: p, offset: 10 }, ctx);
    expect(r.data).toMatchObject({ content: "", total_lines: 3, lines_returned: 0, truncated: false });
    expect(r.text).toContain("has 3 lines");
  });

  test("refuses a directory and points to list_dir", async () => {
    const { dir: d, ctx } = setup();
    expect(await readFails({ path: d }, ctx)).toContain("is a directory; use list_dir");
  });

  test("a missing file is a failure that names the path", async () => {
    const { dir: d, ctx } = setup();
    const error = await readFails({ path: join(d, "nope.txt") }, ctx);
    expect(error).toContain(join(d, "nope.txt"));
    expect(error).toContain("no such file");
  });

  test("reads through a symlink", async () => {
    const { dir: d, ctx } = setup();
    writeFileSync(join(d, "real"), "content\n");
    symlinkSync("real", join(d, "link"));
    expect((await read({ path: join(d, "link") }, ctx)).data.content).toBe("content\n");
  });

  test("relative paths and ~ resolve against the home directory", async () => {
    const home = homedir();
    expect(resolveUserPath("~")).toBe(home);
    expect(resolveUserPath("~/x/y")).toBe(join(home, "x/y"));
    expect(resolveUserPath("x/../y")).toBe(join(home, "y"));
    expect(resolveUserPath("/etc/../etc/hosts")).toBe("/etc/hosts");
    const { dir: d, ctx } = setup();
    writeFileSync(join(d, "rel.txt"), "relative\n");
    const r = await read({ path: relative(home, join(d, "rel.txt")) }, ctx);
    expect(r.data.path).toBe(join(d, "rel.txt"));
    expect(r.data.content).toBe("relative\n");
  });

  test("streams a file over 8 MiB and still pages it correctly", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "big.log");
    const lines = 400_000;
    const body = Array.from({ length: lines }, (_, i) => `entry ${String(i + 1).padStart(8, "0")} ${"z".repeat(12)}\n`).join("");
    writeFileSync(p, body);
    expect(body.length).toBeGreaterThan(8 * 1024 * 1024);
    const r = await read({ path: p, offset: 399_999, limit: 5 }, ctx);
    expect(r.data.total_lines).toBe(lines);
    expect(r.data.content).toBe(`entry 00399999 ${"z".repeat(12)}\nentry 00400000 ${"z".repeat(12)}\n`);
    expect(r.data.next_offset).toBeUndefined();
    const head = await read({ path: p }, ctx);
    expect(head.data.next_offset).toBe(head.data.lines_returned! + 1);
    expect(head.data.content).toBe(body.slice(0, head.data.content.length));
    expect(Buffer.byteLength(head.data.content)).toBeLessThanOrEqual(96 * 1024);
  });

  test("detects a binary file over 8 MiB from its first 8 KiB", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "big.bin");
    const buf = Buffer.alloc(9 * 1024 * 1024, 0x41);
    buf[100] = 0;
    writeFileSync(p, buf);
    const r = await read({ path: p }, ctx);
    expect(r.data.binary).toBe(true);
  });

  test("streaming cuts a single line over 8 MiB at the cap", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "one-line");
    writeFileSync(p, "é".repeat(5 * 1024 * 1024)); // 10 MiB, no newline
    const r = await read({ path: p }, ctx);
    expect(r.data).toMatchObject({ total_lines: 1, lines_returned: 1, truncated: true });
    expect(r.data.next_offset).toBeUndefined();
    expect(r.data.content).toBe("é".repeat(48 * 1024));
    expect(r.text).toContain("longer than the reply cap");
  });

  test("a directory removed before the call is a failure, not a crash", async () => {
    const { dir: d, ctx } = setup();
    mkdirSync(join(d, "gone"));
    rmSync(join(d, "gone"), { recursive: true });
    expect(await readFails({ path: join(d, "gone") }, ctx)).toContain("no such file");
  });
});

describe("fitReply", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  test("keeps everything that fits", () => {
    expect(fitReply(enc("ab\ncd\n"), 6)).toEqual({ end: 6, cutInside: false });
  });
  test("ends at the last line end within the cap", () => {
    expect(fitReply(enc("ab\ncd\nef\n"), 7)).toEqual({ end: 6, cutInside: false });
  });
  test("cuts inside a lone long line before a multi-byte character", () => {
    expect(fitReply(enc("aé€x"), 4)).toEqual({ end: 3, cutInside: true });
  });
});
