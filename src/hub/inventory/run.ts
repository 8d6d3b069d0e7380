// Runs one inventory command (`ssh -G`, `ansible-inventory --list`) bounded in time
// and output, in its own process group so a timeout also ends what it started.
import { ConfigError } from "../../config/file.ts";
import { groupAlive, readStream, terminateGroup } from "../../tools/process_group.ts";

/** An inventory source that cannot be read at all: stops a start (exit 2), keeps the old registry on SIGHUP. */
export class InventoryError extends ConfigError {
  override name = "InventoryError";
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** stdout went past maxBytes; the command was ended and stdout is incomplete. */
  tooBig: boolean;
}

export interface RunOptions {
  timeoutMs: number;
  maxBytes: number;
  env: Record<string, string>;
}

/** stderr kept for messages: the start of what a failing command said is enough. */
const STDERR_KEEP = 16 * 1024;

/** True when argv[0] can be started with this PATH (a path, or a name found on it). */
export function installed(program: string, env: Record<string, string>): boolean {
  return Bun.which(program, { PATH: env.PATH ?? "" }) !== null;
}

export async function runBounded(argv: string[], opts: RunOptions): Promise<RunResult> {
  const proc = Bun.spawn(argv, { env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  const pgid = proc.pid;
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  let outBytes = 0;
  let errBytes = 0;
  let tooBig = false;
  let timedOut = false;
  let killing: Promise<boolean> | undefined;
  const kill = () => {
    killing ??= terminateGroup(pgid, 500);
  };
  const outPump = readStream(proc.stdout, (c) => {
    if (tooBig) return;
    outBytes += c.byteLength;
    if (outBytes > opts.maxBytes) {
      tooBig = true;
      kill();
      return;
    }
    out.push(c);
  });
  const errPump = readStream(proc.stderr, (c) => {
    if (errBytes < STDERR_KEEP) err.push(c);
    errBytes += c.byteLength;
  });
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  try {
    await proc.exited;
    // Whatever it left behind (a dynamic inventory's helpers) must not outlive the read.
    if (killing) await killing;
    else if (groupAlive(pgid)) await terminateGroup(pgid, 500);
  } finally {
    clearTimeout(timer);
  }
  // A leftover holding a pipe open must not hold the hub's start: bounded like the command.
  await Promise.race([Promise.all([outPump.done, errPump.done]), Bun.sleep(500)]);
  await Promise.all([outPump.stop(), errPump.stop()]);
  const text = (parts: Uint8Array[]) => Buffer.concat(parts).toString("utf8");
  return { code: proc.exitCode, stdout: text(out), stderr: text(err), timedOut, tooBig };
}

/** The last non-empty lines of a command's stderr, short enough for one log line. */
export function lastWords(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const tail = lines.slice(-3).join("; ");
  return tail.length > 400 ? `…${tail.slice(-400)}` : tail;
}

/** f over items, at most `limit` at a time, results in input order. */
export async function mapLimited<T, R>(items: T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
