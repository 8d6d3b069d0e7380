// The tools `lmcp serve` offers, in the order tools/list shows them. The hub
// derives its remote_* tools from this same list.
import { editFile } from "./edit_file.ts";
import { listDir } from "./list_dir.ts";
import { readFile } from "./read_file.ts";
import { searchFiles } from "./search_files.ts";
import { shell } from "./shell.ts";
import { shellBg } from "./shell_bg.ts";
import { shellBgKill } from "./shell_bg_kill.ts";
import { shellBgList } from "./shell_bg_list.ts";
import { shellBgOutput } from "./shell_bg_output.ts";
import { shellBgStatus } from "./shell_bg_status.ts";
import { shellBgWait } from "./shell_bg_wait.ts";
import type { ToolDef } from "./tool.ts";
import { writeFile } from "./write_file.ts";

export const serveTools: ToolDef[] = [
  shell,
  shellBg,
  shellBgStatus,
  shellBgWait,
  shellBgOutput,
  shellBgList,
  shellBgKill,
  readFile,
  writeFile,
  editFile,
  listDir,
  searchFiles,
];
