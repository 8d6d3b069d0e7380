// `lmcp join TOKEN`: joins this host to a NATS fleet with the token `lmcp hub
// enroll` printed: gets the host's own credentials, writes them (0600) beside
// lmcp.toml with the fleet's CA, and sets name, tags, nats, nats_creds and
// nats_ca in lmcp.toml, keeping the rest of the file as it was.
import { chmodSync, chownSync, statSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError, loadConfigFile } from "../config/file.ts";
import { defaultConfigFile, isSystemService, systemDir, userConfigDir } from "../config/paths.ts";
import { readForRewrite, rewriteFile } from "../config/rewrite.ts";
import { serveFileSchema } from "../config/server.ts";
import { writeSecret } from "../nats/authority.ts";
import { decodeJoinToken, join as joinFleet } from "../nats/enrollment.ts";
import { lmcpCommandName } from "../version.ts";
import { parseFlags } from "./args.ts";

export const joinHelp = `Usage: lmcp join TOKEN [--config FILE]
       lmcp join - [--config FILE]            (reads the token from stdin)

Joins this host to a NATS fleet, with the token \`lmcp hub enroll NAME\` printed on
the hub (it works once and expires). This host makes its own key pair, and gets
credentials that let it receive only calls addressed to NAME.

Writes nats.creds (0600) and nats-ca.pem next to lmcp.toml, and sets name, tags,
nats, nats_creds and nats_ca in lmcp.toml (other settings are kept). Then restart
lmcp serve (systemctl restart lmcp) and the hub lists the host.

  --config FILE      the lmcp.toml to update [LMCP_CONFIG]; default /etc/lmcp/lmcp.toml
                     for a system service or when it exists, else ~/.config/lmcp/lmcp.toml
  -h, --help         this help

Run it as the user lmcp serve runs as (root for the packaged service).
`;

/** What to do when lmcp.toml cannot be read or written. */
const OWNER_FIX = `run as the user lmcp serve runs as (sudo for ${systemDir}), or pass --config FILE`;

/** The keys join sets; any earlier top-level line for one of them is replaced. */
const KEYS = ["name", "tags", "nats", "nats_creds", "nats_ca"] as const;

export async function joinCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags("join", argv, { config: { type: "string" }, help: { type: "boolean", short: "h" } }, true);
  if (values.help) {
    process.stdout.write(joinHelp);
    return 0;
  }
  const arg = positionals[0] ?? process.env.LMCP_JOIN_TOKEN;
  if (arg === undefined) throw new ConfigError("join: give the token `lmcp hub enroll NAME` printed: lmcp join TOKEN (or - to read it from stdin)");
  if (positionals.length > 1) throw new ConfigError("join: one token only (was the line split when pasted?)");
  const token = decodeJoinToken(arg === "-" ? await Bun.stdin.text() : arg);
  const configFile = values.config ?? process.env.LMCP_CONFIG ?? defaultConfigFile("serve") ?? join(isSystemService() ? systemDir : userConfigDir(), "lmcp.toml");
  const dir = dirname(configFile);
  const credsFile = join(dir, "nats.creds");
  const caFile = join(dir, "nats-ca.pem");
  const before = readForRewrite(configFile, "join", OWNER_FIX);
  // Check the edit is possible before using the token up: a bad file would otherwise cost the operator a new token.
  const next = (joined: { name: string; tags: string[]; servers: string[] }) => withKeys(before.text, configFile, joined, credsFile, caFile);
  next({ name: token.name, tags: token.tags, servers: token.servers });
  const joined = await joinFleet(token);
  const { mkdirSync } = await import("node:fs");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeSecret(credsFile, joined.creds);
  writeSecret(caFile, joined.ca);
  // Run as root for a service that runs as its own user (the packages' lmcp): the files go to whoever owns the
  // token file beside lmcp.toml (which serve reads already: lmcp:lmcp in the packages), else to the config's owner.
  const tokenFile = statOr(join(dir, "token"));
  if (tokenFile) shareOwner([credsFile, caFile], tokenFile);
  else if (before.stat) shareOwner([credsFile, caFile], before.stat);
  rewriteFile(configFile, next(joined), before.stat, before.text, "join", OWNER_FIX);
  process.stdout.write(`Joined the fleet as ${joined.name}${joined.tags.length ? ` (tags ${joined.tags.join(", ")})` : ""}.
Wrote ${credsFile} and ${caFile}, and updated ${configFile}.
Now restart lmcp serve (systemctl restart lmcp, or ${lmcpCommandName} serve --config ${configFile}); the hub lists ${joined.name} once it connects.
`);
  return 0;
}

/**
 * Gives `files` the owner and group of `like`, readable by that group when `like` is (root:lmcp 0640), so the user
 * serve runs as can read what root's join wrote. Only root can; others own what they write already.
 */
function shareOwner(files: string[], like: Stats): void {
  if (process.getuid?.() !== 0 || (like.uid === 0 && like.gid === 0)) return;
  for (const f of files) {
    chownSync(f, like.uid, like.gid);
    chmodSync(f, like.mode & 0o040 ? 0o640 : 0o600);
  }
}

function statOr(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** The config text with join's keys set at the top and their old top-level lines gone; checked as serve would load it. */
function withKeys(text: string, file: string, j: { name: string; tags: string[]; servers: string[] }, credsFile: string, caFile: string): string {
  const lines = text.split("\n");
  const firstTable = lines.findIndex((l) => /^\s*\[/.test(l));
  const keyLine = new RegExp(`^\\s*(${KEYS.join("|")})\\s*=`);
  const kept = lines.filter((l, i) => (firstTable !== -1 && i >= firstTable) || !keyLine.test(l));
  const q = (s: string) => JSON.stringify(s);
  const block = [
    `# Set by \`lmcp join\` on ${new Date().toISOString()}: this host's place in its NATS fleet.`,
    `name = ${q(j.name)}`,
    `tags = [${j.tags.map(q).join(", ")}]`,
    `nats = [${j.servers.map(q).join(", ")}]`,
    `nats_creds = ${q(credsFile)}`,
    `nats_ca = ${q(caFile)}`,
    "",
  ];
  const out = [...block, ...kept].join("\n");
  let parsed: Record<string, unknown>;
  try {
    parsed = Bun.TOML.parse(out) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`join: ${file} would not parse after setting ${KEYS.join(", ")} (a value of one of them spans several lines?): ${(err as Error).message}; remove those keys from it and run join again`);
  }
  if (parsed.name !== j.name) throw new ConfigError(`join: ${file} sets name in a way join cannot replace; remove its name line and run join again`);
  const checked = serveFileSchema.safeParse(parsed);
  if (!checked.success) {
    // The file was already invalid, or join broke it: either way serve would refuse it, so say so now.
    loadConfigFile(file, serveFileSchema);
    throw new ConfigError(`join: ${file} is not a valid lmcp.toml after the edit; fix it and run join again`);
  }
  return out;
}
