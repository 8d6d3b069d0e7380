// Commands run in their own session and process group, so that a timeout, a
// cancel or shell_bg_kill reaches everything they started, not just the shell.
import { existsSync } from "node:fs";

/** Time between SIGTERM and SIGKILL when ending a group. */
export const KILL_GRACE_MS = 2000;

let shellCache: { path: string; isBash: boolean } | undefined;

/** bash from PATH, /bin/bash or /usr/bin/bash; /bin/sh where there is no bash. Resolved once. */
export function commandShell(): { path: string; isBash: boolean } {
  if (shellCache) return shellCache;
  const found = Bun.which("bash") ?? ["/bin/bash", "/usr/bin/bash"].find((p) => existsSync(p));
  shellCache = found ? { path: found, isBash: true } : { path: "/bin/sh", isBash: false };
  return shellCache;
}

/** Sends `signal` to every process in group `pgid`. False when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  // kill(-1) and kill(0) would hit every process we may signal, or our own group.
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

/** True while any process of group `pgid` exists (a process we may not signal counts too). */
export function groupAlive(pgid: number): boolean {
  try {
    return signalGroup(pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True while process `pid` exists. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * SIGTERM to the group now, SIGKILL if any of it is left after `graceMs`.
 * Polls meanwhile so it stops as soon as the group is gone (which also keeps
 * the window for a recycled group id small). Resolves to true if SIGKILL was needed.
 */
export async function terminateGroup(pgid: number, graceMs = KILL_GRACE_MS): Promise<boolean> {
  try {
    if (!signalGroup(pgid, "SIGTERM")) return false;
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await Bun.sleep(Math.min(100, Math.max(1, deadline - Date.now())));
    if (!groupAlive(pgid)) return false;
  }
  try {
    return signalGroup(pgid, "SIGKILL");
  } catch {
    return false;
  }
}

/**
 * Reads a pipe, handing each chunk to `onChunk`, until EOF or `stop()`; `stop`
 * also releases the pipe. `done` settles when reading ends.
 */
export function readStream(stream: ReadableStream<Uint8Array>, onChunk: (c: Uint8Array) => void): { done: Promise<void>; stop: () => Promise<void> } {
  const reader = stream.getReader();
  const done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        onChunk(value);
      }
    } catch {
      // A cancelled or broken pipe ends the stream; what arrived is kept.
    }
  })();
  const stop = async () => {
    await reader.cancel().catch(() => undefined);
    await done;
  };
  return { done, stop };
}
