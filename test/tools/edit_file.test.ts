import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { editFile, planEdit } from "../../src/tools/edit_file.ts";
import { scratch } from "../helpers/context.ts";

const { setup } = scratch();
const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const run = (args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) => editFile.run(editFile.input.parse(args), ctx);
async function edits(args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) {
  const r = await run(args, ctx);
  if (!r.ok) throw new Error(`expected success, got: ${r.error}`);
  return r;
}
async function refuses(args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) {
  const r = await run(args, ctx);
  if (r.ok) throw new Error("expected a failure");
  return r.error;
}

describe("edit_file", () => {
  test("replace_all defaults to false", () => {
    expect(editFile.input.parse({ path: "p", old_string: "a", new_string: "b" }).replace_all).toBe(false);
  });

  test("replaces a unique match, reports one replacement, and its output matches the schema", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f.py");
    writeFileSync(p, "def f():\n    return 1\n");
    const r = await edits({ path: p, old_string: "return 1", new_string: "return 2" }, ctx);
    expect(r.data).toEqual({ path: p, replacements: 1, bytes_written: 22, created: false, sha256: sha256(readFileSync(p)) });
    expect(() => editFile.output.parse(r.data)).not.toThrow();
    expect(r.text).toContain("line 2");
    expect(readFileSync(p, "utf8")).toBe("def f():\n    return 2\n");
  });

  test("refuses an ambiguous match and reports the count", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "x = 1\nx = 1\nx = 1\n");
    const error = await refuses({ path: p, old_string: "x = 1", new_string: "x = 2" }, ctx);
    expect(error).toContain("3 times");
    expect(error).toContain("replace_all");
    expect(readFileSync(p, "utf8")).toBe("x = 1\nx = 1\nx = 1\n");
  });

  test("replace_all replaces every occurrence and counts them", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "a-a-a");
    const r = await edits({ path: p, old_string: "a", new_string: "bb", replace_all: true }, ctx);
    expect(r.data.replacements).toBe(3);
    expect(readFileSync(p, "utf8")).toBe("bb-bb-bb");
  });

  test("a missing old_string fails and says to copy the exact text", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "    indented\n");
    const error = await refuses({ path: p, old_string: "  indented\n\n", new_string: "x" }, ctx);
    expect(error).toContain(`old_string not found in ${p}`);
    expect(error).toContain("whitespace and indentation");
  });

  test("identical old_string and new_string is refused", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "same");
    expect(await refuses({ path: p, old_string: "same", new_string: "same" }, ctx)).toContain("identical");
  });

  test("matches literally, not as a regex", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "a.c abc (x)+\n");
    await edits({ path: p, old_string: "(x)+", new_string: "y" }, ctx);
    expect(readFileSync(p, "utf8")).toBe("a.c abc y\n");
    expect(await refuses({ path: p, old_string: "a.b", new_string: "z" }, ctx)).toContain("not found");
  });

  test("$& and other replacement patterns in new_string are inserted literally", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f.sh");
    writeFileSync(p, "echo NAME\necho NAME2\n");
    await edits({ path: p, old_string: "echo NAME\n", new_string: "echo \"$&\" $1 $$ $` $'\n" }, ctx);
    expect(readFileSync(p, "utf8")).toBe("echo \"$&\" $1 $$ $` $'\necho NAME2\n");
    await edits({ path: p, old_string: "echo", new_string: "$&$&", replace_all: true }, ctx);
    expect(readFileSync(p, "utf8")).toBe("$&$& \"$&\" $1 $$ $` $'\n$&$& NAME2\n");
  });

  test("an LF old_string edits a CRLF file, which stays CRLF", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "win.ini");
    writeFileSync(p, "[a]\r\nkey=1\r\nother=2\r\n");
    const r = await edits({ path: p, old_string: "key=1\nother=2", new_string: "key=9\nother=8\nnew=7" }, ctx);
    expect(r.text).toContain("CRLF");
    expect(readFileSync(p, "utf8")).toBe("[a]\r\nkey=9\r\nother=8\r\nnew=7\r\n");
  });

  test("an exact CRLF old_string still matches without conversion", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "win.txt");
    writeFileSync(p, "a\r\nb\r\n");
    await edits({ path: p, old_string: "a\r\nb", new_string: "c\r\nd" }, ctx);
    expect(readFileSync(p, "utf8")).toBe("c\r\nd\r\n");
  });

  test("emoji, combining marks and a BOM are preserved exactly", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "u.txt");
    const before = "\uFEFFcafe\u0301 👩‍👩‍👧 = 1\nnaïve ñ\n";
    writeFileSync(p, before);
    await edits({ path: p, old_string: "👩‍👩‍👧 = 1", new_string: "👩‍👩‍👧 = 🇫🇷" }, ctx);
    expect(readFileSync(p).equals(Buffer.from("\uFEFFcafe\u0301 👩‍👩‍👧 = 🇫🇷\nnaïve ñ\n", "utf8"))).toBe(true);
    // The precomposed é (U+00E9) is a different string from e + U+0301: no normalization.
    expect(await refuses({ path: p, old_string: "caf\u00e9", new_string: "x" }, ctx)).toContain("not found");
  });

  test("an empty old_string creates a file that does not exist", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "sub", "new.txt");
    const r = await edits({ path: p, old_string: "", new_string: "fresh\n" }, ctx);
    expect(r.data).toMatchObject({ created: true, replacements: 1, bytes_written: 6 });
    expect(readFileSync(p, "utf8")).toBe("fresh\n");
  });

  test("an empty old_string on a non-empty file is refused; on an empty file it fills it", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "content");
    expect(await refuses({ path: p, old_string: "", new_string: "x" }, ctx)).toContain("not empty");
    expect(readFileSync(p, "utf8")).toBe("content");
    writeFileSync(p, "");
    await edits({ path: p, old_string: "", new_string: "filled" }, ctx);
    expect(readFileSync(p, "utf8")).toBe("filled");
  });

  test("keeps the file's mode and owner and leaves no temp file", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "conf");
    writeFileSync(p, "port=1\n");
    chmodSync(p, 0o640);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(p, 65534, 65534);
    else console.warn("owner check skipped: keeping another user's ownership needs root");
    await edits({ path: p, old_string: "port=1", new_string: "port=2" }, ctx);
    const st = statSync(p);
    expect(st.mode & 0o7777).toBe(0o640);
    if (asRoot) expect([st.uid, st.gid]).toEqual([65534, 65534]);
    expect(readdirSync(d)).toEqual(["conf"]);
  });

  test("a missing file fails and suggests write_file", async () => {
    const { dir: d, ctx } = setup();
    const error = await refuses({ path: join(d, "nope"), old_string: "a", new_string: "b" }, ctx);
    expect(error).toContain("does not exist");
    expect(error).toContain("write_file");
    expect(existsSync(join(d, "nope"))).toBe(false);
  });

  test("a directory fails", async () => {
    const { dir: d, ctx } = setup();
    mkdirSync(join(d, "dir"));
    expect(await refuses({ path: join(d, "dir"), old_string: "a", new_string: "b" }, ctx)).toContain("is a directory");
  });

  test("a file that is not UTF-8 is refused rather than corrupted", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "latin1");
    const bytes = Buffer.from("caf\xe9 ok", "latin1");
    writeFileSync(p, bytes);
    expect(await refuses({ path: p, old_string: "ok", new_string: "ko" }, ctx)).toContain("not valid UTF-8");
    expect(readFileSync(p).equals(bytes)).toBe(true);
  });
});

describe("edit_file expected_replacements and expected_sha256", () => {
  test("expected_replacements equal to the count replaces every occurrence without replace_all", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "x = 1\ny = 2\nx = 1\n");
    const r = await edits({ path: p, old_string: "x = 1", new_string: "x = 3", expected_replacements: 2 }, ctx);
    expect(r.data.replacements).toBe(2);
    expect(readFileSync(p, "utf8")).toBe("x = 3\ny = 2\nx = 3\n");
  });

  test("expected_replacements different from the count fails, gives both numbers and changes nothing", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "a a a");
    const tooMany = await refuses({ path: p, old_string: "a", new_string: "b", expected_replacements: 2 }, ctx);
    expect(tooMany).toContain("occurs 3 times");
    expect(tooMany).toContain("not the 2");
    const tooFew = await refuses({ path: p, old_string: "a", new_string: "b", expected_replacements: 4, replace_all: true }, ctx);
    expect(tooFew).toContain("occurs 3 times");
    expect(readFileSync(p, "utf8")).toBe("a a a");
  });

  test("expected_replacements must be a whole number of at least 1", () => {
    expect(() => editFile.input.parse({ path: "p", old_string: "a", new_string: "b", expected_replacements: 0 })).toThrow();
    expect(() => editFile.input.parse({ path: "p", old_string: "a", new_string: "b", expected_replacements: 1.5 })).toThrow();
  });

  test("expected_replacements also counts matches made with CRLF line endings", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "a\r\nb\r\na\r\nb\r\n");
    await edits({ path: p, old_string: "a\nb", new_string: "c\nd", expected_replacements: 2 }, ctx);
    expect(readFileSync(p, "utf8")).toBe("c\r\nd\r\nc\r\nd\r\n");
  });

  test("the returned sha256 chains: it is accepted as expected_sha256 by the next edit", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "one two\n");
    const first = await edits({ path: p, old_string: "one", new_string: "1", expected_sha256: sha256("one two\n") }, ctx);
    expect(first.data.sha256).toBe(sha256("1 two\n"));
    expect(first.text).toContain(first.data.sha256);
    const second = await edits({ path: p, old_string: "two", new_string: "2", expected_sha256: first.data.sha256.toUpperCase() }, ctx);
    expect(second.data.sha256).toBe(sha256(readFileSync(p)));
    expect(readFileSync(p, "utf8")).toBe("1 2\n");
  });

  test("a file changed since it was read is refused with both hashes and left alone", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "v1\n");
    const readHash = sha256("v1\n");
    writeFileSync(p, "v2\n"); // someone else edits it
    const error = await refuses({ path: p, old_string: "v2", new_string: "v3", expected_sha256: readHash }, ctx);
    expect(error).toContain("changed since you read it");
    expect(error).toContain(`sha256 is ${sha256("v2\n")}, expected ${readHash}`);
    expect(error).toContain("read it again");
    expect(readFileSync(p, "utf8")).toBe("v2\n");
  });

  test("expected_sha256 must be 64 hex digits", () => {
    expect(() => editFile.input.parse({ path: "p", old_string: "a", new_string: "b", expected_sha256: "abc" })).toThrow();
  });

  test("creating a file returns its sha256; expected_sha256 on a missing file is refused", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "new.txt");
    const error = await refuses({ path: p, old_string: "", new_string: "x", expected_sha256: sha256("") }, ctx);
    expect(error).toContain("does not exist");
    expect(existsSync(p)).toBe(false);
    const r = await edits({ path: p, old_string: "", new_string: "hello\n" }, ctx);
    expect(r.data.sha256).toBe(sha256("hello\n"));
  });
});

describe("edit_file when old_string is not found", () => {
  test("shows the closest lines and says the indentation differs (tabs in the file, spaces in old_string)", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f.go");
    writeFileSync(p, "package main\n\nfunc f() {\n\treturn\n}\n");
    const error = await refuses({ path: p, old_string: "func f() {\n    return\n}", new_string: "func f() {}" }, ctx);
    expect(error).toContain("lines 3–5");
    expect(error).toContain("the file indents with tabs, old_string with spaces");
    expect(error).toContain("func f() {\n\treturn\n}");
  });

  test("says the file differs only in letter case, or only in trailing whitespace", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "Hello World\nkey = 1   \nnext\n");
    expect(await refuses({ path: p, old_string: "hello world", new_string: "x" }, ctx)).toContain("letter case differs");
    expect(await refuses({ path: p, old_string: "key = 1\nnext", new_string: "x" }, ctx)).toContain("trailing whitespace differs");
  });

  test("says when old_string has CRLF line endings and the file has LF", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "a\nb\n");
    expect(await refuses({ path: p, old_string: "a\r\nb", new_string: "x" }, ctx)).toContain("old_string has CRLF line endings, the file uses LF");
  });

  test("gives the most similar region with a percentage and the first differing line", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f.js");
    writeFileSync(p, "const a = 1;\nfunction add(a, b) {\n  return a + b;\n}\nconst z = 2;\n");
    const error = await refuses({ path: p, old_string: "function add(a, b) {\n  return a - b;\n}", new_string: "x" }, ctx);
    expect(error).toMatch(/closest text found at lines 2–4 \(\d+% similar\)/);
    expect(error).toContain('line 3 differs: the file has "  return a + b;"');
  });

  test("says nothing is close when nothing is", async () => {
    const { dir: d, ctx } = setup();
    const p = join(d, "f");
    writeFileSync(p, "alpha\nbeta\n");
    expect(await refuses({ path: p, old_string: "zzz qqq", new_string: "x" }, ctx)).toContain("Nothing in the file is close");
  });
});

describe("planEdit", () => {
  test("counts non-overlapping occurrences for the ambiguity error", () => {
    expect(planEdit("aaaa", "aa", "b", false)).toEqual({ kind: "ambiguous", count: 2 });
  });
  test("does not retry CRLF when the file has no CRLF", () => {
    expect(planEdit("a\nb", "a\r\nb", "x", false)).toEqual({ kind: "not_found" });
  });
  test("with an expected count, a different count is a mismatch and an equal one replaces all", () => {
    expect(planEdit("a a", "a", "b", false, 3)).toEqual({ kind: "count_mismatch", count: 2, expected: 3 });
    const plan = planEdit("a a", "a", "b", false, 2);
    expect(plan.kind === "edited" && plan.text).toBe("b b");
  });
  test("converts new_string's bare LFs only, keeping its existing CRLFs", () => {
    const plan = planEdit("x\r\ny\r\n", "x\ny", "1\r\n2\n3", false);
    expect(plan.kind === "edited" && plan.text).toBe("1\r\n2\r\n3\r\n");
  });
});
