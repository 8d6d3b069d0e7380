// `lmcp hub nats-init`, `lmcp hub enroll`, `lmcp hub revoke`, `lmcp hub fleet`:
// the operator's commands for a NATS fleet's authority (src/nats/authority.ts).
import { hostname } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../config/file.ts";
import { resolveHubSettings } from "../config/hub.ts";
import { parseNatsUrls } from "../config/server.ts";
import { backendSchema } from "../hub/registry.ts";
import { Authority } from "../nats/authority.ts";
import { encodeJoinToken, pushAccount } from "../nats/enrollment.ts";
import { lmcpCommandName } from "../version.ts";
import { parseFlags } from "./args.ts";

const dirHelp = `  --dir DIR          the fleet authority [LMCP_NATS_AUTHORITY, nats_authority in hub.toml];
                     default STATE_DIR/fleet (/var/lib/lmcp/fleet for a system hub)
  --config FILE      a hub.toml whose nats_authority names it [LMCP_CONFIG]`;

export const natsInitHelp = `Usage: lmcp hub nats-init [--url tls://HOST:4222 ...] [--listen HOST:PORT] [--dir DIR]

Sets up the NATS side of a new fleet in one directory (mode 0700): an operator and
its accounts, the hub's credentials (hub.creds), a TLS CA (ca.pem) and a server
certificate, and nats-server.conf. Start NATS with the command it prints, then
the hub with --nats-authority DIR, then enroll hosts (lmcp hub enroll NAME).

  --url URL          how hosts and hubs reach NATS, tls://HOST:PORT (repeatable, or
                     comma-separated for a cluster); default tls://THIS-HOSTNAME:4222.
                     The server certificate covers every HOST given.
  --listen HOST:PORT nats-server's listen address (default 0.0.0.0:4222)
  --name NAME        the server certificate also covers this DNS name or IP (repeatable)
  --server-name NAME nats-server's server_name (default this host's name)
  --force            replace an existing authority (cuts off every enrolled host)
${dirHelp}
  -h, --help         this help

Needs the openssl command for the certificates.
`;

export const enrollHelp = `Usage: lmcp hub enroll NAME [--tag TAG ...] [--expires 1h] [--replace] [--dir DIR]

Prints the one command a new host runs to join the fleet: \`lmcp join TOKEN\`. The
token works once, expires (default 1 hour), and admits only NAME; the host then
holds credentials that let it receive only its own calls and publish only their
replies. A hub running with --nats-authority must be up to answer the join.

  NAME               the host's name, as remote_* tools' \`host\` names it
  --tag TAG          a tag the host announces (repeatable)
  --expires DURATION how long the token is good for: 30m, 1h, 2d, or seconds (default 1h)
  --replace          NAME is enrolled already: the machine that joins with this token
                     takes the name over and the old one's credentials are revoked
${dirHelp}
  -h, --help         this help
`;

export const revokeHelp = `Usage: lmcp hub revoke NAME [--dir DIR]

Cuts a host off at once: its credentials go on the fleet account's revocation list,
which is pushed to NATS, so the servers close its connection and refuse it from
then on, and every hub shows it down. A pending join token for NAME is revoked too.
To bring the host back, enroll it again.

${dirHelp}
  -h, --help         this help
`;

export const fleetHelp = `Usage: lmcp hub fleet [--json] [--dir DIR]

Lists the hosts enrolled in the fleet authority, pending join tokens and revocations.

  --json             machine-readable
${dirHelp}
  -h, --help         this help
`;

const dirFlags = { dir: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } } as const;

function authorityDir(values: { dir?: string | undefined; config?: string | undefined }): string {
  const s = resolveHubSettings({ ...(values.config ? { config: values.config } : {}), ...(values.dir ? { "nats-authority": values.dir } : {}) });
  return s.natsAuthority ?? join(s.stateDir, "fleet");
}

function checkName(name: string | undefined, command: string): string {
  if (name === undefined) throw new ConfigError(`hub ${command}: name the host: lmcp hub ${command} NAME (see --help)`);
  const ok = backendSchema.shape.name.safeParse(name);
  if (!ok.success) throw new ConfigError(`hub ${command}: "${name}" is not a host name: it ${ok.error.issues[0]?.message ?? "is not valid"}`);
  return name;
}

/** 90, 90s, 30m, 1h, 2d → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(text.trim());
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m?.[2] ?? ""] ?? 1;
  const ms = m ? Number(m[1]) * unit * 1000 : NaN;
  if (!Number.isFinite(ms) || ms < 60_000 || ms > 30 * 86_400_000) {
    throw new ConfigError(`--expires: "${text}" is not a duration between 1 minute and 30 days; use e.g. 30m, 1h or 2d`);
  }
  return ms;
}

export async function natsInitCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("hub nats-init", argv, {
    ...dirFlags,
    url: { type: "string", multiple: true },
    listen: { type: "string" },
    name: { type: "string", multiple: true },
    "server-name": { type: "string" },
    force: { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(natsInitHelp);
    return 0;
  }
  const dir = authorityDir(values);
  const servers = parseNatsUrls(values.url?.length ? values.url : [`tls://${hostname()}:4222`], "--url").map((u) => u.replace(/^nats:/, "tls:"));
  const listen = values.listen ?? "0.0.0.0:4222";
  if (!/^[^\s:]*:\d{1,5}$|^\[[0-9a-f:.]+\]:\d{1,5}$/i.test(listen)) throw new ConfigError(`--listen: "${listen}" is not HOST:PORT (e.g. 0.0.0.0:4222)`);
  const a = await Authority.init({ dir, servers, listen, serverName: values["server-name"] ?? hostname(), names: values.name ?? [], force: values.force ?? false });
  const lmcp = lmcpCommandName;
  process.stdout.write(`Wrote a fleet authority to ${dir}. Keep it private: its keys admit hosts.
Hosts and hubs will connect to ${servers.join(", ")} (TLS, certificate from ${a.files.ca}).

1. Start NATS:       nats-server -c ${a.files.serverConf}
2. Start the hub:    ${lmcp} hub --nats-authority ${dir}
3. Enroll a host:    ${lmcp} hub enroll NAME [--tag TAG]   (prints the \`lmcp join\` to run there)
`);
  return 0;
}

export async function enrollCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "hub enroll",
    argv,
    { ...dirFlags, tag: { type: "string", multiple: true }, expires: { type: "string" }, replace: { type: "boolean" } },
    true,
  );
  if (values.help) {
    process.stdout.write(enrollHelp);
    return 0;
  }
  if (positionals.length > 1) throw new ConfigError(`hub enroll: one host at a time (got ${positionals.join(", ")})`);
  const name = checkName(positionals[0], "enroll");
  const tags = values.tag ?? [];
  for (const t of tags) if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(t)) throw new ConfigError(`--tag: "${t}" is not a tag (letters, digits, _ . : -, up to 100)`);
  const ttl = parseDuration(values.expires ?? "1h");
  const a = Authority.open(authorityDir(values));
  const parts = await a.enroll(name, tags, ttl, values.replace ?? false);
  const token = encodeJoinToken({ name, tags, servers: parts.servers, ca: parts.ca, creds: parts.creds, exp: Math.floor(parts.expiresAt / 1000) });
  process.stderr.write(`Run this on ${name} (as the user lmcp serve runs as; works once, until ${new Date(parts.expiresAt).toISOString()}):\n\n`);
  process.stdout.write(`lmcp join ${token}\n`);
  return 0;
}

export async function revokeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags("hub revoke", argv, dirFlags, true);
  if (values.help) {
    process.stdout.write(revokeHelp);
    return 0;
  }
  if (positionals.length > 1) throw new ConfigError(`hub revoke: one host at a time (got ${positionals.join(", ")})`);
  const name = checkName(positionals[0], "revoke");
  const a = Authority.open(authorityDir(values));
  const r = await a.revoke(name);
  a.refreshPreload(r.accountJwt);
  const servers = a.servers;
  try {
    await pushAccount(servers, a.systemCreds(), a.ca(), r.accountJwt);
  } catch (err) {
    process.stderr.write(
      `lmcp hub revoke: ${name} is revoked in ${a.dir}, but NATS (${servers.join(", ")}) could not be told: ${(err as Error).message}.\n` +
        `Until it is, ${name} stays connected. Run this command again when NATS is up (it pushes the list again), or restart nats-server (it reads the list from auth.conf).\n`,
    );
    return 1;
  }
  await tellHubs(a, name);
  process.stdout.write(`${name} is revoked: NATS closed its connection and will refuse its credentials${r.pendingDropped ? " (its pending join token is void too)" : ""}.\n`);
  return 0;
}

/** Every hub marks the host down now rather than after its missed heartbeats. */
async function tellHubs(a: Authority, name: string): Promise<void> {
  const { connectOnce } = await import("../nats/connection.ts");
  const { revokedSubject } = await import("../nats/subjects.ts");
  try {
    const nc = await connectOnce(a.servers, "lmcp hub revoke", a.hubCreds(), a.ca(), 5000);
    nc.publish(revokedSubject, JSON.stringify({ name }));
    await nc.flush();
    await nc.close();
  } catch {
    // The revocation holds regardless; hubs then see the host down after its missed heartbeats.
  }
}

export async function fleetCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("hub fleet", argv, { ...dirFlags, json: { type: "boolean" } });
  if (values.help) {
    process.stdout.write(fleetHelp);
    return 0;
  }
  const s = Authority.open(authorityDir(values)).read();
  const view = {
    servers: s.servers,
    hosts: Object.entries(s.hosts).map(([name, h]) => ({ name, tags: h.tags, enrolled_at: h.enrolled_at })),
    pending: Object.entries(s.pending).map(([name, p]) => ({ name, tags: p.tags, expires_at: new Date(p.expires_at * 1000).toISOString(), expired: p.expires_at * 1000 < Date.now() })),
    revoked: Object.values(s.revoked).map((r) => ({ name: r.name, at: new Date(r.at * 1000).toISOString() })),
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
    return 0;
  }
  const lines = [`NATS: ${s.servers.join(", ")}`, `Enrolled (${view.hosts.length}):`];
  for (const h of view.hosts) lines.push(`  ${h.name}${h.tags.length ? `  [${h.tags.join(", ")}]` : ""}  since ${h.enrolled_at}`);
  if (view.pending.length) lines.push(`Waiting to join (${view.pending.length}):`, ...view.pending.map((p) => `  ${p.name}  ${p.expired ? "expired" : "until"} ${p.expires_at}`));
  if (view.revoked.length) lines.push(`Revoked (${view.revoked.length}):`, ...view.revoked.map((r) => `  ${r.name}  at ${r.at}`));
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
