// Takes a secret out of this process's environment once it has been read, so
// neither the agent's commands (children inherit process.env) nor anyone who
// reads /proc/PID/environ (the agent's own shell can: same user) can see it.
// /proc/PID/environ shows the bytes the kernel placed at exec, which unsetenv
// leaves in place, so the value is overwritten there too (through libc's getenv).
import { logEvent } from "../http/log.ts";

function overwriteOriginal(name: string): boolean {
  // bun:ffi is loaded only when there is something to scrub: it costs start-up time otherwise.
  const { dlopen, FFIType, toBuffer, CString } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = process.platform === "darwin" ? "/usr/lib/libSystem.B.dylib" : "libc.so.6";
  const lib = dlopen(libc, { getenv: { args: [FFIType.cstring], returns: FFIType.ptr } });
  try {
    const at = lib.symbols.getenv(Buffer.from(`${name}\0`));
    if (!at) return true; // not in the C environment: nothing left to show
    const len = Buffer.byteLength(new CString(at).toString());
    toBuffer(at, 0, len).fill(0);
    return true;
  } finally {
    lib.close();
  }
}

/** Removes each named variable from process.env and blanks its value in the process's original environment block. */
export function scrubSecretEnv(names: string[]): void {
  for (const name of names) {
    if (process.env[name] === undefined) continue;
    let blanked = false;
    try {
      blanked = overwriteOriginal(name);
    } catch (err) {
      logEvent(`warning: could not blank ${name} in this process's original environment (${(err as Error).message}); prefer a token file to ${name}`);
    }
    if (!blanked) logEvent(`warning: ${name} may still be readable in /proc/${process.pid}/environ; prefer a token file`);
    delete process.env[name];
  }
}
