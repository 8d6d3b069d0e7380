// Runs one script on a backend over ssh (`bash -s`, script on stdin), with a
// hard wall-clock cap that ends ssh and everything it started however the
// remote side stalls, caps on how many ssh processes run at once (in all and
// per host, queues served round-robin), and a minimal environment for ssh.
import { randomBytes } from "../../crypto.ts";
import { groupAlive, readStream, terminateGroup } from "../../tools/process_group.ts";
import { describeError } from "../../tools/tool.ts";
import { FairSlots } from "./fair_slots.ts";
import { CappedBytes, FramedStream, frameScript, scriptMarkers, type ByteSink } from "./frame.ts";
import type { RemotePolicy } from "./perl.ts";

/** A backend's ssh settings, from the registry (already validated: `ssh` is `[user@]host` and never starts with `-`). */
export interface SshTarget {
  name: string;
  ssh: string;
  ssh_port?: number;
  ssh_options?: string[];
  /** The backend's file policy, enforced by the remote program; none when absent. */
  policy?: RemotePolicy;
}

export interface SshRunOptions {
  signal?: AbortSignal;
  /** Overrides the runner's hard cap for this call. */
  hardTimeoutMs?: number;
  /** Where the script's stdout goes; default: the first 80 MiB are kept. */
  stdout?: ByteSink;
  /** Where the script's stderr goes; default: the first 1 MiB is kept. */
  stderr?: ByteSink;
}

export interface SshResult {
  /** The remote script's exit status, from its end marker; null when it did not finish. */
  exitCode: number | null;
  /** What the script left in `$LMCP_STATUS` ("" when unset or when it did not finish). */
  status: string;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The hard cap ended ssh before the script finished. */
  timedOut: boolean;
  /** The remote script started (its begin marker arrived): false means connect, banner or login never got through. */
  started: boolean;
  /** The signal aborted the call (waiting for a slot, or while ssh ran). */
  cancelled: boolean;
  /** ssh itself failed: it could not connect or log in, or the session ended without the end marker. */
  sshFailed: boolean;
  /** What went wrong, for a message; undefined when the script finished. */
  error: string | undefined;
  /** ssh's own exit code (255: ssh failed); null when it was killed. */
  sshExitCode: number | null;
  durationMs: number;
}

export const DEFAULT_MAX_CONCURRENT = 32;
export const DEFAULT_HARD_TIMEOUT_MS = 30_000;
const DEFAULT_STDOUT_KEEP = 80 * 1024 * 1024;
const DEFAULT_STDERR_KEEP = 1024 * 1024;
/** After the end marker, how long both streams may stay quiet before ssh is ended (a remote background child can hold the session open). */
const AFTER_END_IDLE_MS = 300;
/** After ssh exits, how long to keep reading pipes a leftover process may hold. */
const PIPE_GRACE_MS = 500;

/**
 * What ssh may inherit from the hub's environment: what it needs to find its
 * config, keys and agent, and the locale. Nothing else, so no backend token
 * (`token_env`) or LMCP_TOKEN ever reaches ssh or what it starts (ProxyCommand).
 */
const SSH_ENV_NAMES = new Set(["PATH", "HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK", "LANG", "LANGUAGE", "KRB5CCNAME", "TMPDIR", "XDG_RUNTIME_DIR"]);

export function sshEnvironment(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (SSH_ENV_NAMES.has(k) || k.startsWith("LC_"))) out[k] = v;
  return out;
}

/** The ssh command line: fixed options, then the registry's, then `--` and the target. No tool argument ever goes here. */
export function sshArgv(target: SshTarget): string[] {
  const argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"];
  if (target.ssh_port !== undefined) argv.push("-p", String(target.ssh_port));
  argv.push(...(target.ssh_options ?? []), "--", target.ssh, "bash -s");
  return argv;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The last lines of what ssh or the remote side said, short enough for a message. */
function lastWords(...parts: Uint8Array[]): string {
  const all = parts.map(text).join("").trim();
  const lines = all.split("\n").map((l) => l.trim()).filter(Boolean);
  const tail = lines.slice(-4).join("; ");
  return tail.length > 600 ? `…${tail.slice(-600)}` : tail;
}

/** The result of a call that never got an ssh process to run to its end. */
function notRun(started: number, error: string, why: { cancelled?: boolean; sshFailed?: boolean }): SshResult {
  return {
    exitCode: null,
    status: "",
    stdout: new Uint8Array(0),
    stderr: new Uint8Array(0),
    timedOut: false,
    started: false,
    cancelled: why.cancelled === true,
    sshFailed: why.sshFailed === true,
    error,
    sshExitCode: null,
    durationMs: Math.round(performance.now() - started),
  };
}

export class SshRunner {
  readonly maxConcurrent: number;
  readonly maxPerHost: number;
  readonly hardTimeoutMs: number;
  private readonly slots: FairSlots;
  private running = 0;
  private peak = 0;

  constructor(opts: { maxConcurrent?: number; maxPerHost?: number; hardTimeoutMs?: number } = {}) {
    this.maxConcurrent = Math.max(1, Math.floor(opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT));
    this.maxPerHost = Math.min(this.maxConcurrent, Math.max(1, Math.floor(opts.maxPerHost ?? this.maxConcurrent)));
    this.hardTimeoutMs = Math.max(1, opts.hardTimeoutMs ?? DEFAULT_HARD_TIMEOUT_MS);
    this.slots = new FairSlots(this.maxConcurrent, this.maxPerHost);
  }

  /** ssh processes running now. */
  get active(): number {
    return this.running;
  }

  /** The most ssh processes that ever ran at once. */
  get peakActive(): number {
    return this.peak;
  }

  /** Calls waiting for a free slot, over all hosts. */
  get queued(): number {
    return this.slots.queued;
  }

  async run(target: SshTarget, script: string, opts: SshRunOptions = {}): Promise<SshResult> {
    const started = performance.now();
    if (!(await this.slots.acquire(target.name, opts.signal))) {
      return notRun(started, "cancelled before ssh started", { cancelled: true });
    }
    try {
      return await this.runNow(target, script, opts, started);
    } catch (e) {
      // A bug or a failure of the process machinery: an answer for this call, never a crash of the hub.
      return notRun(started, `the ssh process failed: ${describeError(e)}`, { sshFailed: true });
    } finally {
      this.slots.release(target.name);
    }
  }

  private async runNow(target: SshTarget, script: string, opts: SshRunOptions, started: number): Promise<SshResult> {
    const hardMs = opts.hardTimeoutMs ?? this.hardTimeoutMs;
    const markers = scriptMarkers(randomBytes(12).toString("hex"));
    const outSink = opts.stdout ?? new CappedBytes(DEFAULT_STDOUT_KEEP);
    const errSink = opts.stderr ?? new CappedBytes(DEFAULT_STDERR_KEEP);
    const out = new FramedStream(markers, outSink, false);
    const err = new FramedStream(markers, errSink, true);
    const base = { stdout: new Uint8Array(0), stderr: new Uint8Array(0), status: "", exitCode: null, sshExitCode: null };

    let proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
    try {
      proc = Bun.spawn(sshArgv(target), {
        // setsid(): ssh leads its own process group, so the cap reaches ProxyCommands and anything else it starts.
        detached: true,
        env: sshEnvironment(),
        // A pipe kept open until ssh exits: the remote script's lifeline (see frameScript).
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
    } catch (e) {
      return { ...base, timedOut: false, started: false, cancelled: false, sshFailed: true, error: `could not start ssh: ${describeError(e)}`, durationMs: Math.round(performance.now() - started) };
    }
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    const pgid = proc.pid;
    const stdin = proc.stdin;
    // ssh may exit before reading it all (it could not connect, the server dropped the connection):
    // a broken pipe (EPIPE) is not an error here, and every promise of the write is awaited, so none is left unhandled.
    const fed = (async () => {
      await stdin.write(frameScript(script, markers));
      await stdin.flush();
    })().catch(() => undefined);

    let lastData = performance.now();
    const outPump = readStream(proc.stdout, (c) => {
      lastData = performance.now();
      out.push(c);
    });
    const errPump = readStream(proc.stderr, (c) => {
      lastData = performance.now();
      err.push(c);
    });

    let timedOut = false;
    let cancelled = false;
    let killing: Promise<boolean> | undefined;
    const killGroup = () => {
      killing ??= terminateGroup(pgid);
    };
    const hardTimer = setTimeout(() => {
      if (err.ended) return killGroup();
      timedOut = true;
      killGroup();
    }, Math.min(hardMs, 2 ** 31 - 1));
    const onAbort = () => {
      cancelled = true;
      killGroup();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    // Once the script has reported its end, a quiet session is only held open by leftovers: end it.
    const idleCheck = setInterval(() => {
      if (err.ended && performance.now() - lastData >= AFTER_END_IDLE_MS) killGroup();
    }, 50);

    let sshExitCode: number | null;
    try {
      await proc.exited;
      sshExitCode = proc.signalCode !== null ? null : proc.exitCode;
      // Nothing of ssh's group may outlive the call, also after a normal exit.
      if (killing) await killing;
      else if (groupAlive(pgid)) await terminateGroup(pgid);
      for (const deadline = performance.now() + 2000; groupAlive(pgid) && performance.now() < deadline; ) await Bun.sleep(10);
    } finally {
      clearTimeout(hardTimer);
      clearInterval(idleCheck);
      opts.signal?.removeEventListener("abort", onAbort);
      this.running--;
      // ssh is gone, so the pipe is broken or drained: the write ends at once either way.
      await Promise.race([fed, Bun.sleep(1000)]);
      try {
        await stdin.end();
      } catch {
        // Already closed.
      }
    }
    await Promise.race([Promise.all([outPump.done, errPump.done]), Bun.sleep(PIPE_GRACE_MS)]);
    await Promise.all([outPump.stop(), errPump.stop()]);
    out.finish();
    err.finish();

    const ended = err.ended;
    const durationMs = Math.round(performance.now() - started);
    const result: SshResult = {
      exitCode: ended ? ended.exitCode : null,
      status: ended ? ended.status : "",
      stdout: outSink.bytes(),
      stderr: errSink.bytes(),
      timedOut: !ended && timedOut,
      started: err.hasBegun,
      cancelled: !ended && cancelled && !timedOut,
      sshFailed: false,
      error: undefined,
      sshExitCode,
      durationMs,
    };
    if (ended) return result;
    if (result.timedOut) {
      result.error = `the ssh hard cap of ${hardMs / 1000} s ran out${err.hasBegun ? " while the remote script ran" : " before the remote side answered (connect, banner or login stalled)"}; ssh was ended`;
    } else if (result.cancelled) {
      result.error = "cancelled; ssh was ended";
    } else {
      result.sshFailed = true;
      const said = lastWords(err.preamble(), err.hasBegun ? result.stderr : new Uint8Array(0));
      const how = sshExitCode === null ? `ssh was killed by ${proc.signalCode}` : `ssh exited with code ${sshExitCode}`;
      result.error = err.hasBegun
        ? `the remote script stopped before it finished (${how})${said ? `: ${said}` : ""}`
        : said || how;
    }
    return result;
  }
}
