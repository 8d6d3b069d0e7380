// The foreground shell commands running now (each shell call between spawn and
// exit), so shell_list can show them and shell_kill (and the console's kill
// button) can signal one: that shell call then returns with the signal.
import { randomBytes } from "../crypto.ts";
import { z } from "zod";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
export const CALL_ID_PATTERN = /^c-[a-z2-7]{10}$/;

export interface RunningShell {
  /** `c-` and 10 random base32 characters, like job and session ids. */
  id: string;
  /** The process group the command leads (shell runs every command in its own). */
  pgid: number;
  command: string;
  cwd: string;
  startedAt: Date;
  /** Run as root through sudo: lmcp's user may not be able to signal it. */
  sudo: boolean;
  /** The last signal shell_kill sent, so the call's answer can say who ended it. */
  signalled?: string;
}

/** One entry per shell call in flight: bounded by the calls the server takes at once, removed when each ends. */
const table = new Map<string, RunningShell>();

function newCallId(): string {
  let id = "c-";
  for (const b of randomBytes(10)) id += BASE32[b & 31];
  return id;
}

/** Registers a running command; the returned entry is removed by `done` (call it once the process has exited). */
export function trackShell(spec: Omit<RunningShell, "id" | "startedAt">): { entry: RunningShell; done: () => void } {
  const entry: RunningShell = { ...spec, id: newCallId(), startedAt: new Date() };
  table.set(entry.id, entry);
  return { entry, done: () => table.delete(entry.id) };
}

/** Oldest first. */
export function runningShells(): RunningShell[] {
  return [...table.values()];
}

export function findRunningShell(id: string): { shell: RunningShell } | { error: string } {
  if (!CALL_ID_PATTERN.test(id)) return { error: `"${id.slice(0, 40)}" is not a shell call id (like c-abcdefgh23); shell_list lists the running ones` };
  const shell = table.get(id);
  return shell ? { shell } : { error: `no shell command ${id} is running here (it has ended, or ran on another server); shell_list lists the running ones` };
}

export const callIdField = z.string().describe("The call_id shell_list gave for a running shell command (like c-abcdefgh23).");
