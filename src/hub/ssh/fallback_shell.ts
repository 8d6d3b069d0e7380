// shell over ssh: the command runs under a small perl supervisor on the
// backend (own process group, timeout_s, SIGTERM then SIGKILL), whose status
// comes back through $LMCP_STATUS; output is cut to head and tail like lmcp's.
// The command, its env values and its stdin travel in the request on ssh's
// stdin, never on a remote command line.
import { cutMarker, HeadTail } from "../../tools/output_cut.ts";
import { shell } from "../../tools/shell.ts";
import { fail, ok, type ToolContext, type ToolOutcome } from "../../tools/tool.ts";
import { noRemotePolicy, remoteProgram } from "./perl.ts";
import { hasNul } from "./quote.ts";
import { remoteErrnoMessage, sshProblem, unexpectedReply } from "./remote.ts";
import { FieldReader, parseFields } from "./reply.ts";
import type { SshRunner, SshTarget } from "./runner.ts";

/** As the shell tool's default. */
const DEFAULT_TIMEOUT_S = 120;
/** Beyond timeout_s, time for connect, login and the remote SIGTERM-to-SIGKILL grace before the hard cap ends ssh. */
export const SSH_SHELL_MARGIN_MS = 5000;

interface ShellData {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
  cancelled: boolean;
  truncated: boolean;
  duration_ms: number;
}

function renderText(d: ShellData, timeoutS: number, hardCapNote: string | undefined): string {
  const withNewline = (s: string) => (s === "" || s.endsWith("\n") ? s : `${s}\n`);
  let text = withNewline(d.stdout);
  if (d.stderr) text += `[stderr]\n${withNewline(d.stderr)}`;
  if (hardCapNote) text += hardCapNote;
  else if (d.timed_out) text += `[timed out after ${timeoutS} s; process group killed · ${d.duration_ms} ms]`;
  else if (d.cancelled) text += `[cancelled by the client; process group killed · ${d.duration_ms} ms]`;
  else if (d.signal) text += `[killed by ${d.signal} · ${d.duration_ms} ms]`;
  else text += `[exit ${d.exit_code} · ${d.duration_ms} ms]`;
  return text;
}

export async function sshShell(runner: SshRunner, target: SshTarget, raw: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<unknown>> {
  const args = shell.input.parse(raw);
  if (args.sudo) {
    // sudo would put the command on a remote command line (or need the env kept across sudo): not over ssh.
    return fail(
      "sudo: true needs lmcp on the host (it runs sudo itself, and asks for a password on its own page); over the SSH fallback it is refused. " +
        "Start lmcp on the host, or give the registry's ssh target a user who may run the command",
    );
  }
  const timeoutS = args.timeout_s ?? DEFAULT_TIMEOUT_S;
  if (!(timeoutS > 0)) return fail("timeout_s must be more than 0 seconds");
  if (timeoutS > ctx.limits.maxTimeoutS) {
    return fail(
      `timeout_s ${timeoutS} is above this server's maximum of ${ctx.limits.maxTimeoutS} s; use shell_bg for longer jobs and follow them with shell_bg_status`,
    );
  }
  const env = Object.entries(args.env ?? {});
  if (hasNul(args.command) || hasNul(args.cwd ?? "") || env.some(([k, v]) => hasNul(k) || hasNul(v))) {
    return fail("command, cwd and env cannot hold a NUL byte; remove it (send binary data through stdin)");
  }
  const badName = env.find(([k]) => k === "" || k.includes("="));
  if (badName) return fail(`env name "${badName[0]}" is not a valid variable name (it is empty or has "="); rename it`);
  if (ctx.signal.aborted) return fail("the call was cancelled before the command started");

  const supervisor = remoteProgram("shell", target.policy ?? noRemotePolicy, [
    args.cwd ?? "",
    timeoutS,
    args.command,
    args.stdin === undefined ? 0 : 1,
    args.stdin ?? "",
    env.length,
    ...env.flat(),
  ]);
  // A function holds the here-document; fd 3 carries the supervisor's status, fd 4 the command's stdout.
  const script = `lmcp_supervise() {\n${supervisor}\n}\n{ LMCP_STATUS=$(lmcp_supervise 3>&1 1>&4 4>&-); } 4>&1`;

  const hardMs = Math.min(timeoutS * 1000 + SSH_SHELL_MARGIN_MS, runner.hardTimeoutMs);
  const max = ctx.limits.maxOutputBytes;
  const out = new HeadTail(max);
  const err = new HeadTail(max);
  const sink = (h: HeadTail) => ({ push: (c: Uint8Array) => h.push(c), bytes: () => h.allBytes() });
  const r = await runner.run(target, script, { signal: ctx.signal, hardTimeoutMs: hardMs, stdout: sink(out), stderr: sink(err) });

  const marker = (cutBytes: number) => cutMarker({ cutBytes, spoolError: "the SSH fallback keeps no spool file" });
  const stdout = out.render(marker);
  const stderr = err.render(marker);
  const streams = { stdout: stdout.text, stderr: stderr.text };
  const truncated = stdout.cut || stderr.cut;

  // The cap ran out before the remote side answered: the command never ran, so this is a failure, not a result.
  if (r.timedOut && !r.started) return sshProblem(target, r) ?? fail(`ssh to ${target.name} timed out`);
  if (r.timedOut || r.cancelled) {
    const data: ShellData = { exit_code: null, signal: null, ...streams, timed_out: r.timedOut, cancelled: r.cancelled, truncated, duration_ms: r.durationMs };
    const note = r.timedOut
      ? `[the hub's ssh hard cap of ${hardMs / 1000} s ended this call after ${r.durationMs} ms (ssh was killed; the remote process group gets SIGTERM when the session drops). ` +
        `Use a smaller timeout_s, or shell_bg once the host's lmcp is back]`
      : undefined;
    return ok(data, renderText(data, timeoutS, note));
  }
  const problem = sshProblem(target, r);
  if (problem) return problem;

  const [kind = "", a = "", b = "", c = ""] = r.status.split(":");
  if (kind === "cwd") {
    const fields = parseFields(out.allBytes());
    if (!fields || fields.length < 3) return unexpectedReply(target, r, "no directory in the cwd error");
    const f = new FieldReader(fields);
    const dir = f.text();
    const home = f.text();
    const message = f.text();
    if (a === "ENOENT") return fail(`cwd ${dir} does not exist; pass an existing directory, or leave cwd out to run in ${home}`);
    if (a === "ENOTDIR") return fail(`cwd ${dir} is not a directory; pass a directory, or leave cwd out to run in ${home}`);
    return fail(`cannot use cwd: ${remoteErrnoMessage(target, a, dir, message)}`);
  }
  if (kind !== "exit" && kind !== "signal") return unexpectedReply(target, r, r.status ? `status ${r.status}` : "no status from the command's supervisor");
  const remoteMs = Number.parseInt(c, 10);
  const data: ShellData = {
    exit_code: kind === "exit" ? Number.parseInt(a, 10) : null,
    signal: kind === "signal" ? a : null,
    ...streams,
    timed_out: b === "1",
    cancelled: false,
    truncated,
    duration_ms: Number.isFinite(remoteMs) ? remoteMs : r.durationMs,
  };
  return ok(data, renderText(data, timeoutS, undefined));
}
