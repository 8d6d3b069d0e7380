import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeBase64, writeFile } from "../../src/tools/write_file.ts";
import { scratch } from "../helpers/context.ts";

const { setup } = scratch();
const run = (args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) => writeFile.run(writeFile.input.parse(args), ctx);

describe("write_file", () => {
  test("defaults: utf8, create_dirs true, no mode", () => {
    expect(writeFile.input.parse({ path: "p", content: "" })).toEqual({ path: "p", content: "", encoding: "utf8", create_dirs: true });
  });

  test("rejects a mode that is not 3 or 4 octal digits", () => {
    expect(() => writeFile.input.parse({ path: "p", content: "", mode: "999" })).toThrow();
    expect(() => writeFile.input.parse({ path: "p", content: "", mode: "rw-r--r--" })).toThrow();
    expect(writeFile.input.parse({ path: "p", content: "", mode: "0640" }).mode).toBe("0640");
  });

  test("creates a file and its parent directories, mode 0644, and its output matches the schema", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "a", "b", "new.txt");
    const r = await run({ path: p, content: "hello\n" }, ctx);
    if (!r.ok) throw new Error(r.error);
    expect(r.data).toEqual({ path: p, bytes_written: 6, created: true });
    expect(() => writeFile.output.parse(r.data)).not.toThrow();
    expect(readFileSync(p, "utf8")).toBe("hello\n");
    expect(statSync(p).mode & 0o7777).toBe(0o644);
  });

  test("with create_dirs false a missing parent fails and says to pass create_dirs", async () => {
    const { dir: d, ctx } = setup();
    const r = await run({ path: join(d, "missing", "f.txt"), content: "x", create_dirs: false }, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("create_dirs");
    expect(existsSync(join(d, "missing"))).toBe(false);
  });

  test("overwriting keeps the existing mode and owner and reports created false", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "secret");
    writeFileSync(p, "old");
    chmodSync(p, 0o600);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(p, 65534, 65534);
    else console.warn("owner check skipped: keeping another user's ownership needs root");
    const r = await run({ path: p, content: "new" }, ctx);
    expect(r.ok && r.data.created).toBe(false);
    const st = statSync(p);
    expect(st.mode & 0o7777).toBe(0o600);
    if (asRoot) expect([st.uid, st.gid]).toEqual([65534, 65534]);
    expect(readFileSync(p, "utf8")).toBe("new");
  });

  test("mode sets the permission bits", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "run.sh");
    await run({ path: p, content: "#!/bin/sh\n", mode: "755" }, ctx);
    expect(statSync(p).mode & 0o7777).toBe(0o755);
    await run({ path: p, content: "#!/bin/sh\n", mode: "0700" }, ctx);
    expect(statSync(p).mode & 0o7777).toBe(0o700);
  });

  test("base64 content is stored as exact bytes", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "bin");
    const bytes = Buffer.from([0, 1, 2, 254, 255, 0x0d, 0x0a]);
    const r = await run({ path: p, content: bytes.toString("base64"), encoding: "base64" }, ctx);
    expect(r.ok && r.data.bytes_written).toBe(7);
    expect(readFileSync(p).equals(bytes)).toBe(true);
  });

  test("invalid base64 fails and writes nothing", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "bin");
    const r = await run({ path: p, content: "not base64!", encoding: "base64" }, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("not valid base64");
    expect(existsSync(p)).toBe(false);
  });

  test("decodeBase64 accepts standard and URL-safe text and rejects the rest", () => {
    expect(Buffer.from(decodeBase64("aGk=")!).toString()).toBe("hi");
    expect(Buffer.from(decodeBase64("aGk")!).toString()).toBe("hi");
    expect(Buffer.from(decodeBase64("-_8=")!)).toEqual(Buffer.from([0xfb, 0xff]));
    expect(Buffer.from(decodeBase64("aG\nk=")!).toString()).toBe("hi");
    expect(decodeBase64("a")).toBeUndefined();
    expect(decodeBase64("a=b=")).toBeUndefined();
    expect(decodeBase64("aGk*")).toBeUndefined();
  });

  test("CRLF, emoji and combining marks are written byte for byte", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "unicode.txt");
    const text = "\uFEFFcafe\u0301 👩‍👩‍👧 🇫🇷\r\nline two\r\n";
    const r = await run({ path: p, content: text }, ctx);
    expect(r.ok && r.data.bytes_written).toBe(Buffer.byteLength(text));
    expect(readFileSync(p).equals(Buffer.from(text, "utf8"))).toBe(true);
  });

  test("writing to a symlink replaces its target and keeps the link", async () => {
    const { dir: d, ctx } = setup();
    writeFileSync(join(d, "target.conf"), "old");
    symlinkSync("target.conf", join(d, "link.conf"));
    const r = await run({ path: join(d, "link.conf"), content: "new" }, ctx);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.text).toContain(join(d, "target.conf"));
    expect(lstatSync(join(d, "link.conf")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(d, "target.conf"), "utf8")).toBe("new");
  });

  test("a directory path fails and leaves no temp file", async () => {
    const { dir: d, ctx } = setup();
    mkdirSync(join(d, "dir"));
    const r = await run({ path: join(d, "dir"), content: "x" }, ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("is a directory");
    expect(readdirSync(d)).toEqual(["dir"]);
  });

  test("leaves no temp file next to the file after a write", async () => {
    const { dir: d, ctx } = setup();
    await run({ path: join(d, "f"), content: "1" }, ctx);
    await run({ path: join(d, "f"), content: "2" }, ctx);
    expect(readdirSync(d)).toEqual(["f"]);
  });
});
