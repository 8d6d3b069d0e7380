import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { atomicWrite, cleanStaleTemps, pendingWritesDir, WriteRefused } from "../../src/tools/atomic_write.ts";
import { scratch } from "../helpers/context.ts";

const { freshDir: fresh, killAfter } = scratch();

const bytes = (s: string) => Buffer.from(s, "utf8");
const tempsIn = (dir: string) => readdirSync(dir).filter((n) => n.includes(".lmcp-tmp-"));

describe("atomicWrite", () => {
  test("creates a new file with mode 0644 and reports it as created", async () => {
    const d = fresh();
    const p = join(d, "new.txt");
    const r = await atomicWrite(p, bytes("hello\n"), { createDirs: false });
    expect(r).toEqual({ path: p, bytes: 6, created: true });
    expect(readFileSync(p, "utf8")).toBe("hello\n");
    expect(statSync(p).mode & 0o7777).toBe(0o644);
    expect(tempsIn(d)).toEqual([]);
  });

  test("replaces an existing file and keeps its mode", async () => {
    const d = fresh();
    const p = join(d, "f");
    writeFileSync(p, "old");
    chmodSync(p, 0o600);
    const r = await atomicWrite(p, bytes("new content"), { createDirs: false });
    expect(r.created).toBe(false);
    expect(readFileSync(p, "utf8")).toBe("new content");
    expect(statSync(p).mode & 0o7777).toBe(0o600);
  });

  test("applies an explicit mode", async () => {
    const d = fresh();
    const p = join(d, "script.sh");
    writeFileSync(p, "old");
    await atomicWrite(p, bytes("#!/bin/sh\n"), { createDirs: false, mode: 0o755 });
    expect(statSync(p).mode & 0o7777).toBe(0o755);
  });

  test("keeps the owner and group of an existing file (when running as root)", async () => {
    const d = fresh();
    const p = join(d, "owned");
    writeFileSync(p, "old");
    if (process.getuid?.() !== 0) {
      console.warn("skipped: keeping another user's ownership needs root; this run is not root");
      return;
    }
    chownSync(p, 65534, 65534);
    await atomicWrite(p, bytes("new"), { createDirs: false });
    const st = statSync(p);
    expect([st.uid, st.gid]).toEqual([65534, 65534]);
  });

  test("writes through a symlink to its target and leaves the link a link", async () => {
    const d = fresh();
    const target = join(d, "real.txt");
    const link = join(d, "link.txt");
    writeFileSync(target, "old");
    symlinkSync("real.txt", link);
    const r = await atomicWrite(link, bytes("via link"), { createDirs: false });
    expect(r.path).toBe(target);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("via link");
  });

  test("a dangling symlink creates its target", async () => {
    const d = fresh();
    const link = join(d, "dangling");
    symlinkSync("made.txt", link);
    const r = await atomicWrite(link, bytes("x"), { createDirs: false });
    expect(r).toEqual({ path: join(d, "made.txt"), bytes: 1, created: true });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(d, "made.txt"), "utf8")).toBe("x");
  });

  test("a failure before the rename leaves the old content and no temp file", async () => {
    const d = fresh();
    const p = join(d, "keep.txt");
    writeFileSync(p, "old content");
    let sawTemp = "";
    const attempt = atomicWrite(p, bytes("new content"), {
      createDirs: false,
      beforeRename: (tmp) => {
        sawTemp = tmp;
        expect(readFileSync(tmp, "utf8")).toBe("new content");
        throw new Error("simulated crash");
      },
    });
    await expect(attempt).rejects.toThrow("simulated crash");
    await attempt.catch(() => undefined);
    expect(sawTemp).toContain(".keep.txt.lmcp-tmp-");
    expect(existsSync(sawTemp)).toBe(false);
    expect(readFileSync(p, "utf8")).toBe("old content");
    expect(tempsIn(d)).toEqual([]);
  });

  test("refuses a directory as the target", async () => {
    const d = fresh();
    mkdirSync(join(d, "sub"));
    await expect(atomicWrite(join(d, "sub"), bytes("x"), { createDirs: true })).rejects.toBeInstanceOf(WriteRefused);
    expect(tempsIn(d)).toEqual([]);
  });

  test("a missing parent is an error unless createDirs, which creates it", async () => {
    const d = fresh();
    const p = join(d, "a", "b", "c.txt");
    await expect(atomicWrite(p, bytes("x"), { createDirs: false })).rejects.toThrow("create_dirs");
    expect(existsSync(join(d, "a"))).toBe(false);
    await atomicWrite(p, bytes("x"), { createDirs: true });
    expect(readFileSync(p, "utf8")).toBe("x");
  });

  test("kill -9 during repeated writes leaves either the old or the new content, never a mix", async () => {
    const d = fresh();
    const target = join(d, "victim");
    const size = 4 * 1024 * 1024;
    writeFileSync(target, Buffer.alloc(size, "a"));
    const script = join(d, "writer.ts");
    writeFileSync(
      script,
      `import { atomicWrite } from ${JSON.stringify(join(import.meta.dir, "../../src/tools/atomic_write.ts"))};
const a = Buffer.alloc(${size}, "a"), b = Buffer.alloc(${size}, "b");
for (let i = 0; ; i++) { await atomicWrite(${JSON.stringify(target)}, i % 2 ? a : b, { createDirs: false }); process.stdout.write("."); }
`,
    );
    for (let round = 0; round < 3; round++) {
      const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
      // Wait (by reading its output, no sleeping) until it has written a few times, then kill it mid-stream.
      const reader = child.stdout.getReader();
      let dots = 0;
      while (dots < 3 + round) {
        const { value, done } = await reader.read();
        if (done) throw new Error("writer exited early");
        dots += value.length;
      }
      child.kill("SIGKILL");
      await child.exited;
      const content = readFileSync(target);
      expect(content.length).toBe(size);
      const first = content[0]!;
      expect([0x61, 0x62]).toContain(first);
      expect(content.every((byte) => byte === first)).toBe(true);
    }
  });
});

describe("the journal of pending writes", () => {
  /** The pid of a process that has exited, for records a killed writer left. */
  async function deadPid(): Promise<number> {
    const p = Bun.spawn(["true"]);
    await p.exited;
    return p.pid;
  }

  test("records the temp file while it exists and drops the record after the rename", async () => {
    const d = fresh();
    const journal = pendingWritesDir(fresh());
    const p = join(d, "f.txt");
    let seen: string[] = [];
    let recorded = "";
    await atomicWrite(p, bytes("new"), {
      createDirs: false,
      journalDir: journal,
      beforeRename: (tmp) => {
        seen = readdirSync(journal);
        recorded = readFileSync(join(journal, seen[0]!), "utf8");
        expect(recorded).toBe(tmp);
      },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(new RegExp(`^${process.pid}\\.[0-9a-f]{12}$`));
    expect(recorded).toContain(".f.txt.lmcp-tmp-");
    expect(readdirSync(journal)).toEqual([]);
    expect(readFileSync(p, "utf8")).toBe("new");
  });

  test("a failed write drops its record with its temp file", async () => {
    const d = fresh();
    const journal = pendingWritesDir(fresh());
    const p = join(d, "f.txt");
    writeFileSync(p, "old");
    const attempt = atomicWrite(p, bytes("new"), {
      createDirs: false,
      journalDir: journal,
      beforeRename: () => {
        throw new Error("simulated failure");
      },
    });
    await expect(attempt).rejects.toThrow("simulated failure");
    expect(readdirSync(journal)).toEqual([]);
    expect(tempsIn(d)).toEqual([]);
    expect(readFileSync(p, "utf8")).toBe("old");
  });

  test("a journal that cannot be written does not stop the write", async () => {
    const d = fresh();
    const blocker = join(fresh(), "not-a-dir");
    writeFileSync(blocker, "x");
    const p = join(d, "f.txt");
    await atomicWrite(p, bytes("still written"), { createDirs: false, journalDir: join(blocker, "journal") });
    expect(readFileSync(p, "utf8")).toBe("still written");
    expect(tempsIn(d)).toEqual([]);
  });

  test("cleanStaleTemps removes the temp file a writer killed mid-write left, and its record", async () => {
    const d = fresh();
    const journal = pendingWritesDir(fresh());
    const target = join(d, "victim");
    writeFileSync(target, "old content");
    const script = join(d, "writer.ts");
    writeFileSync(
      script,
      `import { atomicWrite } from ${JSON.stringify(join(import.meta.dir, "../../src/tools/atomic_write.ts"))};
await atomicWrite(${JSON.stringify(target)}, Buffer.from("new content"), {
  createDirs: false,
  journalDir: ${JSON.stringify(journal)},
  beforeRename: () => { process.stdout.write("ready"); return new Promise(() => {}); },
});
`,
    );
    const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    killAfter(child.pid);
    const { value } = await child.stdout.getReader().read();
    expect(new TextDecoder().decode(value)).toBe("ready");
    child.kill("SIGKILL");
    await child.exited;
    expect(tempsIn(d)).toHaveLength(1);
    expect(readdirSync(journal)).toHaveLength(1);

    expect(cleanStaleTemps(journal)).toBe(1);
    expect(tempsIn(d)).toEqual([]);
    expect(readdirSync(journal)).toEqual([]);
    expect(readFileSync(target, "utf8")).toBe("old content");
    expect(cleanStaleTemps(journal)).toBe(0);
  });

  test("cleanStaleTemps deletes nothing but lmcp temp files, whatever a record says", async () => {
    const d = fresh();
    const journal = pendingWritesDir(fresh());
    mkdirSync(journal, { recursive: true });
    const pid = await deadPid();
    const id = "0123456789ab";
    const precious = join(d, "precious.txt");
    writeFileSync(precious, "keep me");
    const tempDir = join(d, `.dir.lmcp-tmp-${id}`);
    mkdirSync(tempDir);
    const otherId = join(d, `.x.lmcp-tmp-ba9876543210`);
    writeFileSync(otherId, "a temp of another record");
    writeFileSync(join(journal, `${pid}.${id}`), precious);
    writeFileSync(join(journal, `${pid}.aaaaaaaaaaa1`), tempDir);
    writeFileSync(join(journal, `${pid}.aaaaaaaaaaa2`), otherId);
    const unnormalized = join(d, ".x.lmcp-tmp-aaaaaaaaaaa3");
    writeFileSync(unnormalized, "named through ..");
    writeFileSync(join(journal, `${pid}.aaaaaaaaaaa3`), `${d}/../${basename(d)}/.x.lmcp-tmp-aaaaaaaaaaa3`);
    writeFileSync(join(journal, "notes.txt"), precious);

    expect(cleanStaleTemps(journal)).toBe(0);
    expect(readFileSync(precious, "utf8")).toBe("keep me");
    expect(statSync(tempDir).isDirectory()).toBe(true);
    expect(existsSync(otherId)).toBe(true);
    expect(existsSync(unnormalized)).toBe(true);
    expect(readdirSync(journal)).toEqual(["notes.txt"]);
  });

  test("cleanStaleTemps leaves the records of a live writer alone", async () => {
    const d = fresh();
    const journal = pendingWritesDir(fresh());
    mkdirSync(journal, { recursive: true });
    const live = Bun.spawn(["sleep", "30"]);
    killAfter(live.pid);
    const tmp = join(d, ".f.lmcp-tmp-00000000000f");
    writeFileSync(tmp, "in progress");
    writeFileSync(join(journal, `${live.pid}.00000000000f`), tmp);
    expect(cleanStaleTemps(journal)).toBe(0);
    expect(existsSync(tmp)).toBe(true);
    live.kill("SIGKILL");
    await live.exited;
    expect(cleanStaleTemps(journal)).toBe(1);
    expect(existsSync(tmp)).toBe(false);
    expect(readdirSync(journal)).toEqual([]);
  });

  test("cleanStaleTemps of a missing journal does nothing", () => {
    expect(cleanStaleTemps(join(fresh(), "nowhere"))).toBe(0);
  });
});
