// Flag parsing for every subcommand: node's parseArgs, strict, with errors that
// name the flag and point at --help (exit 2).
import { type ParseArgsConfig, parseArgs } from "node:util";
import { ConfigError } from "../config/file.ts";

export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  argv: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals, allowNegative: false });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new ConfigError(`${command}: ${message}; see lmcp ${command} --help`);
  }
}
