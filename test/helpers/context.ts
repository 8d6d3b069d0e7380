// A ToolContext for calling a tool's handler directly in unit tests, with its
// own temp state dir; `cleanup` removes it.
import { mkdtempSync, rmSync } from "node:fs";
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
