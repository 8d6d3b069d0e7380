import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listDir } from "../../src/tools/list_dir.ts";
import type { ToolOutcome } from "../../src/tools/tool.ts";
import { scratch } from "../helpers/context.ts";

const { setup } = scratch();

interface Entry {
  name: string;
  type: string;
  size: number;
  mtime: string;
  mode: string;
  target?: string;
}
interface ListData {
  path: string;
  entries: Entry[];
  total: number;
  truncated: boolean;
}
async function list(args: Record<string, unknown>, ctx: ReturnType<typeof setup>["ctx"]) {
  const r = (await listDir.run(listDir.input.parse(args), ctx)) as ToolOutcome<ListData>;
  if (!r.ok) throw new Error(`expected success, got: ${r.error}`);
  return r;
}

describe("list_dir", () => {
  test("defaults: no dot files, at most 1000 entries", () => {
    expect(listDir.input.parse({ path: "/" })).toEqual({ path: "/", all: false, max_entries: 1000 });
  });

  test("sorts names in byte order, like LC_ALL=C ls", async () => {
    const { dir: d, ctx } = setup();
    for (const n of ["b", "B", "a", "_x", "Z", "ä", "10", "9", "a-b", "a.b"]) writeFileSync(join(d, n), "");
    const r = await list({ path: d }, ctx);
    const ls = Bun.spawnSync(["ls", "-1"], { cwd: d, env: { ...process.env, LC_ALL: "C" } }).stdout.toString().trim().split("\n");
    expect(r.data.entries.map((e) => e.name)).toEqual(ls);
    expect(r.data.entries.map((e) => e.name)).toEqual(["10", "9", "B", "Z", "_x", "a", "a-b", "a.b", "b", "ä"]);
  });

  test("reports type, size, mode, mtime and symlink targets from lstat, and its output matches the schema", async () => {
    const { dir: d, ctx } = setup();
    writeFileSync(join(d, "file.txt"), "12345");
    chmodSync(join(d, "file.txt"), 0o640);
    mkdirSync(join(d, "sub"));
    symlinkSync("sub", join(d, "to-sub"));
    symlinkSync("../nowhere", join(d, "broken"));
    expect(Bun.spawnSync(["mkfifo", join(d, "pipe")]).exitCode).toBe(0);
    const r = await list({ path: d }, ctx);
    expect(() => listDir.output.parse(r.data)).not.toThrow();
    const byName = Object.fromEntries(r.data.entries.map((e) => [e.name, e]));
    expect(byName["file.txt"]).toMatchObject({ type: "file", size: 5, mode: "0640" });
    expect(byName.sub?.type).toBe("dir");
    expect(byName["to-sub"]).toMatchObject({ type: "symlink", target: "sub" });
    expect(byName.broken).toMatchObject({ type: "symlink", target: "../nowhere" });
    expect(byName.pipe?.type).toBe("other");
    expect(byName["file.txt"]?.target).toBeUndefined();
    const mtime = Date.parse(byName["file.txt"]!.mtime);
    expect(Math.abs(mtime - Date.now())).toBeLessThan(60_000);
    expect(r.text).toContain("-rw-r----- ");
    expect(r.text).toContain("to-sub -> sub");
    expect(r.text).toContain("sub/");
  });

  test("hides dot files unless all is true", async () => {
    const { dir: d, ctx } = setup();
    writeFileSync(join(d, ".hidden"), "");
    writeFileSync(join(d, "shown"), "");
    const plain = await list({ path: d }, ctx);
    expect(plain.data.entries.map((e) => e.name)).toEqual(["shown"]);
    expect(plain.text).toContain("1 dot entry hidden");
    const all = await list({ path: d, all: true }, ctx);
    expect(all.data.entries.map((e) => e.name)).toEqual([".hidden", "shown"]);
  });

  test("max_entries keeps the first names and reports the total", async () => {
    const { dir: d, ctx } = setup();
    for (let i = 0; i < 12; i++) writeFileSync(join(d, `f${String(i).padStart(2, "0")}`), "");
    const r = await list({ path: d, max_entries: 5 }, ctx);
    expect(r.data.entries.map((e) => e.name)).toEqual(["f00", "f01", "f02", "f03", "f04"]);
    expect(r.data).toMatchObject({ total: 12, truncated: true });
    expect(r.text).toContain("max_entries");
    const whole = await list({ path: d, max_entries: 12 }, ctx);
    expect(whole.data.truncated).toBe(false);
  });

  test("lists the directory a symlink points to", async () => {
    const { dir: d, ctx } = setup();
    mkdirSync(join(d, "real"));
    writeFileSync(join(d, "real", "inside"), "");
    symlinkSync("real", join(d, "link"));
    const r = await list({ path: join(d, "link") }, ctx);
    expect(r.data.entries.map((e) => e.name)).toEqual(["inside"]);
  });

  test("a file fails and points to read_file", async () => {
    const { dir: d, ctx } = setup();
    writeFileSync(join(d, "f"), "");
    const r = await listDir.run(listDir.input.parse({ path: join(d, "f") }), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain("is a file, not a directory; use read_file");
  });

  test("a missing directory fails with the path", async () => {
    const { dir: d, ctx } = setup();
    const r = await listDir.run(listDir.input.parse({ path: join(d, "none") }), ctx);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(join(d, "none"));
  });
});
