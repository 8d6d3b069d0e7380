// The SSH fallback for each serve tool that has one, keyed by the serve tool's
// name. Each takes arguments already validated by that tool's input schema
// and returns `data` that parses with the same tool's output schema.
// edit_file and the shell_bg tools have none: they are lmcp-only.
import type { ToolContext, ToolOutcome } from "../../tools/tool.ts";
import { sshListDir, sshReadFile, sshTransferRead, sshTransferWrite, sshWriteFile } from "./fallback_files.ts";
import { sshSearchFiles } from "./fallback_search.ts";
import { sshShell } from "./fallback_shell.ts";
import type { SshRunner, SshTarget } from "./runner.ts";

export type SshFallback = (runner: SshRunner, target: SshTarget, args: Record<string, unknown>, ctx: ToolContext) => Promise<ToolOutcome<unknown>>;

export const sshFallbacks: Partial<Record<string, SshFallback>> = {
  shell: sshShell,
  read_file: sshReadFile,
  write_file: sshWriteFile,
  list_dir: sshListDir,
  search_files: sshSearchFiles,
  transfer_read: sshTransferRead,
  transfer_write: sshTransferWrite,
};
