// The tools `lmcp serve` offers, in the order tools/list shows them. The hub
// derives its remote_* tools from this same list.
import { editFile } from "./edit_file.ts";
import { listDir } from "./list_dir.ts";
import { readFile } from "./read_file.ts";
import { searchFiles } from "./search_files.ts";
import { sessionClose } from "./session_close.ts";
import { sessionList } from "./session_list.ts";
import { sessionRead } from "./session_read.ts";
import { sessionSend } from "./session_send.ts";
import { sessionStart } from "./session_start.ts";
import { shell } from "./shell.ts";
import { shellBg } from "./shell_bg.ts";
import { shellBgKill } from "./shell_bg_kill.ts";
import { shellBgList } from "./shell_bg_list.ts";
import { shellBgOutput } from "./shell_bg_output.ts";
import { shellBgStatus } from "./shell_bg_status.ts";
import { shellBgWait } from "./shell_bg_wait.ts";
import { shellKill } from "./shell_kill.ts";
import { shellList } from "./shell_list.ts";
import type { ToolDef } from "./tool.ts";
import { transferRead } from "./transfer_read.ts";
import { transferWrite } from "./transfer_write.ts";
import { writeFile } from "./write_file.ts";

export const serveTools: ToolDef[] = [
  shell,
  shellList,
  shellKill,
  shellBg,
  shellBgStatus,
  shellBgWait,
  shellBgOutput,
  shellBgList,
  shellBgKill,
  sessionStart,
  sessionSend,
  sessionRead,
  sessionList,
  sessionClose,
  readFile,
  writeFile,
  editFile,
  transferRead,
  transferWrite,
  listDir,
  searchFiles,
];
