// Running a shell command through sudo, and reading sudo's own answers: whether
// it wants a password (then it ran nothing), or refused the one it was given.
// The password flow itself (a page of lmcp's own) is in shell.ts and sudo_prompts.ts.
import { userInfo } from "node:os";

/** A word that means the same to bash and to an argv: no quotes, no expansion, no operators. */
const PLAIN_WORD = /^[A-Za-z0-9_./:=@%+,-]+$/;

/**
 * What sudo runs: a command that is a plain program and arguments (no shell syntax at all) runs as itself, so a
 * sudoers rule for that program matches it (`lmcp ALL=(root) NOPASSWD: /usr/bin/systemctl restart *`); anything
 * else runs as `SHELL -c COMMAND`, which only a rule allowing the shell matches.
 */
export function sudoCommand(shell: string, command: string): string[] {
  const words = command.trim().split(/[ \t]+/);
  return words.length > 0 && words.every((w) => PLAIN_WORD.test(w)) ? words : [shell, "-c", command];
}

/** sudo's argv: `-n` never prompts (fails at once when a password is needed); `-S -p ""` reads one from stdin, silently. */
export function sudoArgv(shell: string, command: string, mode: "nopasswd" | "password"): string[] {
  const run = sudoCommand(shell, command);
  return mode === "nopasswd" ? ["sudo", "-n", "--", ...run] : ["sudo", "-S", "-p", "", "--", ...run];
}

/** `sudo -n` exits 1 saying a password (or a terminal to ask one on) is required; the command did not run. */
export function sudoWantsPassword(exitCode: number | null, stderr: string): boolean {
  return exitCode === 1 && /^sudo: (a password is required|a terminal is required)/m.test(stderr);
}

/** `sudo -S` with a wrong password: it asks again, finds stdin at its end, and gives up; the command did not run. */
export function sudoRejectedPassword(exitCode: number | null, stderr: string): boolean {
  return exitCode === 1 && /^sudo: (\d+ incorrect password attempts?|no password was provided)/m.test(stderr);
}

/** How an operator lets a command run without a password, for refusals. */
export function nopasswdHint(): string {
  const user = userInfo().username;
  return (
    `To run it without a password, allow it for ${user} with a NOPASSWD rule in /etc/sudoers.d/lmcp ` +
    "(the packages ship a commented example: /usr/share/doc/lmcp/examples/sudoers; check it with visudo -c), or use a client that supports MCP URL elicitation."
  );
}
