// What every SSH fallback shares: run a script, turn ssh's own failures and
// the remote program's errors into results that say what to do next.
import { describePathError } from "../../tools/paths.ts";
import { decodeUtf8 } from "../../tools/output_cut.ts";
import { deny, fail, type ToolOutcome } from "../../tools/tool.ts";
import { FieldReader, parseFields } from "./reply.ts";
import type { SshResult, SshRunner, SshRunOptions, SshTarget } from "./runner.ts";

const CONFIG_HINT = "check ssh/ssh_options for this backend in backends.toml";

/** The ssh login name for messages: the user part of `user@host`, else "the ssh user". */
export function sshUser(target: SshTarget): string {
  const at = target.ssh.lastIndexOf("@");
  return at > 0 ? `ssh user ${target.ssh.slice(0, at)}` : "the ssh user";
}

function lastLines(bytes: Uint8Array, n = 4): string {
  const lines = decodeUtf8(bytes).split("\n").map((l) => l.trim()).filter(Boolean);
  const t = lines.slice(-n).join("; ");
  return t.length > 600 ? `…${t.slice(-600)}` : t;
}

/** The failure for a call whose ssh did not let the script finish; undefined when it did. */
export function sshProblem(target: SshTarget, r: SshResult): ToolOutcome<never> | undefined {
  if (r.cancelled) return fail("cancelled");
  if (r.timedOut) {
    return fail(
      `ssh to ${target.name} did not finish: ${r.error}. The host may be overloaded, or unreachable by ssh; retry later, or check it with remote_list_hosts`,
    );
  }
  if (r.sshFailed) {
    const why = (r.error ?? "").replace(/\.$/, "");
    if (/bash: (command )?not found|bash: No such file/.test(why)) {
      return fail(`ssh to ${target.name} worked, but the SSH fallback needs bash there (${why}); install bash on it, or bring its lmcp back up`);
    }
    return fail(`ssh to ${target.name} failed: ${why}; ${CONFIG_HINT}`);
  }
  return undefined;
}

/** For a reply the hub cannot read: most often bash or perl is missing on the backend. */
export function unexpectedReply(target: SshTarget, r: SshResult, detail?: string): ToolOutcome<never> {
  const said = lastLines(r.stderr);
  if (/perl: (command )?not found|No such file or directory.*perl|Can't locate .* in @INC/.test(said)) {
    return fail(`the SSH fallback needs perl (with its core modules) on ${target.name}, which it lacks (${said}); install perl there, or bring its lmcp back up`);
  }
  return fail(
    `unexpected reply from ${target.name} over ssh (exit ${r.exitCode ?? "?"}${detail ? `; ${detail}` : ""})${said ? `: ${said}` : ""}; ` +
      "the SSH fallback needs bash and perl on the backend",
  );
}

/** Runs a script that answers with netstrings; the reader, or the failure to return. */
export async function runProgram(
  runner: SshRunner,
  target: SshTarget,
  script: string,
  opts: SshRunOptions,
): Promise<{ reader: FieldReader; result: SshResult } | { failure: ToolOutcome<never> }> {
  const r = await runner.run(target, script, opts);
  const problem = sshProblem(target, r);
  if (problem) return { failure: problem };
  const fields = r.exitCode === 0 ? parseFields(r.stdout) : undefined;
  if (!fields || fields.length === 0) return { failure: unexpectedReply(target, r) };
  return { reader: new FieldReader(fields), result: r };
}

/**
 * The message for an errno from the remote program, worded as lmcp words its
 * own (describePathError), except that permission is the ssh user's.
 */
export function remoteErrnoMessage(target: SshTarget, code: string, path: string, message: string): string {
  if (code === "EACCES" || code === "EPERM") return `${path}: permission denied (for the ${sshUser(target)} on ${target.name})`;
  return describePathError(Object.assign(new Error(message || code), { code, path }));
}

/**
 * The answer for a refusal by the remote program's file policy (decided on
 * the real path on the backend), or undefined when `code` is not one. Policy
 * refusals are marked denied, as lmcp's own are, so the audit log says so.
 */
export function policyRefusal(target: SshTarget, code: string, path: string): ToolOutcome<never> | undefined {
  const on = `on ${target.name}`;
  switch (code) {
    case "OUTSIDE": {
      const roots = target.policy?.allowedPaths ?? [];
      return deny(
        `${path} (real path ${on}) is outside ${target.name}'s allowed_paths in the hub's backends.toml (${roots.join(", ") || "none"}); ` +
          "over SSH, as through its lmcp, file tools only work there",
      );
    }
    case "SECRET":
      return deny(`${path} ${on} is one of lmcp's own secrets (tokens, config, host registry, audit log, a process's memory or environment); the file tools never read or write it, whatever the token, also over SSH. Change it by hand on the host`);
    case "PROTECTED":
      return deny(`${path} ${on} is protected: lmcp's file tools never write authorized_keys files (they grant SSH logins), also over SSH; change it by hand`);
    case "STATE":
      return deny(`${path} ${on} is inside lmcp's state directory (job records, spool files, audit log), which the file tools never write; write elsewhere`);
    case "RACE":
      return deny(`${path} ${on} changed while it was being opened (a file or link was swapped mid-call), so nothing was done; try again`);
    default:
      return undefined;
  }
}
