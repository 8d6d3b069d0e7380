// `lmcp token`: mints a token; prints it, or writes it to a 0600 file.
import { appendFileSync, chmodSync, existsSync, renameSync, writeFileSync } from "node:fs";
import { ConfigError } from "../config/file.ts";
import { mintToken, writeTokenFile } from "../config/tokens.ts";
import { parseFlags } from "./args.ts";

export const tokenHelp = `Usage: lmcp token [--out FILE [--append | --force]]

Mints a token: 32 random bytes, base64url. Without --out it is printed.
  --out FILE   write it to FILE with mode 0600 (refuses to replace an existing file)
  --append     add it as another line of FILE: servers accept every line, so a
               token can be rotated without downtime (then SIGHUP the server)
  --force      replace FILE
  -h, --help   this help
`;

export function tokenCommand(argv: string[]): number {
  const { values } = parseFlags("token", argv, {
    out: { type: "string" },
    append: { type: "boolean" },
    force: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(tokenHelp);
    return 0;
  }
  const token = mintToken();
  const out = values.out;
  if (!out) {
    if (values.append || values.force) throw new ConfigError("token: --append and --force need --out FILE");
    process.stdout.write(`${token}\n`);
    return 0;
  }
  if (!existsSync(out)) writeTokenFile(out, token);
  else if (values.append) {
    appendFileSync(out, `${token}\n`);
    chmodSync(out, 0o600);
  } else if (values.force) {
    writeFileSync(`${out}.tmp`, `${token}\n`, { mode: 0o600 });
    renameSync(`${out}.tmp`, out);
  } else {
    throw new ConfigError(`token: ${out} already exists; pass --append to add a token (rotation) or --force to replace it`);
  }
  process.stderr.write(`wrote a new token to ${out} (mode 0600)\n`);
  return 0;
}
