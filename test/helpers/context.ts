// A ToolContext for calling a tool's handler directly in unit tests, with its
// own temp state dir; `cleanup` removes it. `scratch` gives a test file fresh
// temp dirs and contexts that are removed after each test.
import { afterEach } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ToolContext, ToolLimits } from "../../src/tools/tool.ts";

export const defaultLimits: ToolLimits = { maxOutputBytes: 32 * 1024, maxTimeoutS: 3600, maxReadBytes: 96 * 1024 };

export function testContext(over: Omit<Partial<ToolContext>, "limits"> & { limits?: Partial<ToolLimits> } = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), "lmcp-state-"));
  const progressCalls: { message: string; progress: number }[] = [];
  const ctx: ToolContext = {
    signal: over.signal ?? new AbortController().signal,
    progress: over.progress ?? (async (message, progress) => void progressCalls.push({ message, progress })),
    limits: { ...defaultLimits, ...over.limits },
    stateDir: over.stateDir ?? stateDir,
  };
  return { ctx, progressCalls, cleanup: () => rmSync(stateDir, { recursive: true, force: true }) };
}

/** A fresh temp dir for a test's files. */
export function tempDir(prefix = "lmcp-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Gives back permissions a test took away (directories made unreadable), so the tree can be removed. */
function restorePermissions(dir: string): void {
  try {
    chmodSync(dir, 0o755);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) restorePermissions(join(dir, e.name));
  } catch {
    // already gone
  }
}

/**
 * Per-test scratch space for a test file: call once at its top level. After
 * each test, everything registered during it is undone, the latest first:
 * processes to kill, then contexts and temp dirs.
 * - `setup(over?)`: a fresh temp dir and a testContext (`over` as testContext takes it).
 * - `freshDir(prefix?)`: just a fresh temp dir.
 * - `onCleanup(fn)`: runs `fn` after this test.
 * - `killAfter(pid)`: SIGKILLs `pid` after this test, if it is still there; a negative number, the process group -pid.
 */
export function scratch() {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0).reverse()) c();
  });
  const onCleanup = (fn: () => void): void => {
    cleanups.push(fn);
  };
  const freshDir = (prefix?: string): string => {
    const dir = tempDir(prefix);
    onCleanup(() => {
      restorePermissions(dir);
      rmSync(dir, { recursive: true, force: true });
    });
    return dir;
  };
  const setup = (over: Parameters<typeof testContext>[0] = {}) => {
    const dir = freshDir();
    const t = testContext(over);
    onCleanup(t.cleanup);
    return { dir, ctx: t.ctx, progressCalls: t.progressCalls };
  };
  const killAfter = (pid: number): void =>
    onCleanup(() => {
      // 0, 1 and -1 would reach our own group or every process we may signal.
      if (!Number.isInteger(pid) || Math.abs(pid) <= 1) return;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    });
  return { setup, freshDir, onCleanup, killAfter };
}
