// `bun packaging/manpage.ts`: writes lmcp.1, the manual page, from the
// `--help` texts of lmcp and each command, so the page never drifts from the CLI.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cliDirs, releaseEpoch, repository, root, runMain, summary, version } from "./config.ts";

function helpText(args: string[]): string {
  const r = Bun.spawnSync([process.execPath, join(root, "src/cli/main.ts"), ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
  if (!r.success && r.exitCode !== 2) throw new Error(`lmcp ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** Escapes text for roff: backslashes, ASCII minus signs, and a control character at a line's start. */
export const roff = (s: string): string => s.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/gm, "\\&$1");

/**
 * One help text as man markup: the usage line in bold, plain lines as filled
 * paragraphs, `  TERM   description` lines (flags, commands) as tagged paragraphs.
 */
export function helpToMan(help: string): string {
  const out: string[] = [];
  let para: string[] = [];
  let term: string | undefined;
  let desc: string[] = [];
  const flushPara = () => {
    if (para.length) out.push(".PP", roff(para.join(" ")));
    para = [];
  };
  const flushItem = () => {
    if (term !== undefined) out.push(".TP", `.B ${roff(term)}`, roff(desc.join(" ")));
    term = undefined;
    desc = [];
  };
  let pendingTerm = "";
  for (const line of help.split("\n")) {
    // A flag followed by one space and its description ("--allow-origin ORIGIN browser Origin…") counts too.
    const item = /^ {2}(\S.*?) {2,}(\S.*)$/.exec(line) ?? /^ {2}(-{1,2}[\w-]+(?: [A-Z][A-Z0-9:_.|-]*)?) (\S.*)$/.exec(line);
    if (line.trim() === "") {
      flushItem();
      flushPara();
    } else if (line.startsWith("Usage: ")) {
      flushPara();
      out.push(".PP", `.B ${roff(line.slice("Usage: ".length))}`);
    } else if (/^ {2}-\S.*,$/.test(line)) {
      // A list of flags that wraps onto the next line joins that line's term.
      flushItem();
      pendingTerm += `${line.trim()} `;
    } else if (item) {
      flushItem();
      flushPara();
      term = pendingTerm + item[1]!;
      pendingTerm = "";
      desc = [item[2]!];
    } else if (/^ {3,}\S/.test(line) && term !== undefined) {
      desc.push(line.trim());
    } else {
      flushItem();
      para.push(line.trim());
    }
  }
  flushItem();
  flushPara();
  return out.join("\n");
}

/** The command names listed under "Commands:" in `lmcp --help`, subcommands ("hub add") included, each once. */
export function commandNames(usage: string): string[] {
  const block = usage.split("Commands:\n")[1]?.split("\n\n")[0] ?? "";
  const names = block
    .split("\n")
    .map((l) => /^ {2}([a-z-]+(?: [a-z][a-z-]*)?)(?: |$)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
  return [...new Set(names)];
}

export function manPage(): string {
  const usage = helpText(["--help"]);
  const date = new Date(releaseEpoch() * 1000).toISOString().slice(0, 10);
  const sections = [
    `.TH LMCP 1 "${date}" "lmcp ${version}" "User Commands"`,
    ".SH NAME",
    `lmcp \\- ${roff(summary.charAt(0).toLowerCase() + summary.slice(1))}`,
    ".SH SYNOPSIS",
    ".B lmcp",
    ".I command",
    ".RI [ flags ]",
    ".br",
    ".B lmcp \\-\\-version",
    ".SH DESCRIPTION",
    helpToMan(usage.split("\n").slice(1).join("\n")),
    ".SH COMMANDS",
  ];
  for (const name of commandNames(usage)) sections.push(`.SS ${roff(`lmcp ${name}`)}`, helpToMan(helpText([...name.split(" "), "--help"])));
  sections.push(
    ".SH FILES",
    ".TP",
    ".I /etc/lmcp/lmcp.toml, /etc/lmcp/hub.toml",
    "Settings of the server and the hub; ~/.config/lmcp/ is used when these do not exist.",
    ".TP",
    ".I /etc/lmcp/backends.toml, ~/.config/lmcp/backends.toml",
    "The hub's registry of hosts: the first for a system service or when it exists, else the second; lmcp hub add appends to it.",
    ".TP",
    ".I /etc/lmcp/token, /etc/lmcp/hub\\-token",
    "Tokens of the system services (mode 0600); ~/.config/lmcp/token and hub\\-token for a user.",
    ".SH EXIT STATUS",
    "0 success, 1 runtime failure, 2 usage or configuration error.",
    ".SH SEE ALSO",
    roff(`${repository}#readme`),
    "",
  );
  return sections.join("\n");
}

if (import.meta.main) {
  await runMain(() => {
    const { out } = cliDirs(process.argv.slice(2), "Usage: bun packaging/manpage.ts [--out DIR]\nWrites lmcp.1 (the manual page) from lmcp's --help texts.");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "lmcp.1"), manPage());
    console.log(`wrote ${join(out, "lmcp.1")}`);
  });
}
