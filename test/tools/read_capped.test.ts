import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readFileCapped } from "../../src/tools/read_capped.ts";
import { scratch } from "../helpers/context.ts";

const { freshDir } = scratch();

describe("readFileCapped", () => {
  test("returns a file's bytes up to the cap, and nothing past it", () => {
    const d = freshDir();
    const p = join(d, "f");
    writeFileSync(p, "0123456789");
    expect(readFileCapped(p, 10)?.toString()).toBe("0123456789");
    expect(readFileCapped(p, 9)).toBeUndefined();
    writeFileSync(p, "");
    expect(readFileCapped(p, 10)?.length).toBe(0);
  });

  test("reads a pseudo-file that reports size 0 (/proc/self/status) and stops one that never ends (/proc/self/pagemap)", () => {
    if (process.platform !== "linux") return;
    expect(readFileCapped("/proc/self/status", 1024 * 1024)?.toString()).toContain("VmRSS");
    const started = performance.now();
    expect(readFileCapped("/proc/self/pagemap", 4 * 1024 * 1024)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("throws what open throws", () => {
    expect(() => readFileCapped(join(freshDir(), "missing"), 10)).toThrow("ENOENT");
  });
});
