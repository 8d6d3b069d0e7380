// Settings of `lmcp serve` (and the parts `lmcp hub` shares), merged with the
// precedence flag > environment > config file > default, each value checked.
import { hostname as osHostname } from "node:os";
import { fstatSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import type { ToolLimits } from "../tools/tool.ts";
import { ConfigError, keyLineInFile, loadConfigFile } from "./file.ts";
import { type Role, defaultConfigFile, defaultTokenFile, userStateDir } from "./paths.ts";

const positiveInt = z.int().positive();

/** Keys both serve and hub accept in their config file. */
export const commonFileShape = {
  listen: z.string(),
  token_file: z.string(),
  name: z.string().min(1),
  tls_cert: z.string(),
  tls_key: z.string(),
  allowed_origins: z.array(z.string()),
  allowed_hosts: z.array(z.string()),
  max_body_bytes: positiveInt,
  shutdown_grace_s: positiveInt,
  state_dir: z.string(),
  audit_log: z.string().min(1),
  audit_max_bytes: positiveInt,
  metrics: z.boolean(),
  metrics_token_file: z.string().min(1),
  /** The web console at /ui (src/console/): on by default; served only on loopback or with TLS whatever this says. */
  console: z.boolean(),
  /** OTLP/HTTP collector for traces (src/telemetry/otel.ts); OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT beat it. Off when none is set. */
  otlp_endpoint: z.string().min(1),
  /** NATS servers to connect to (src/nats/): one URL, or several of the same cluster. */
  nats: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** This process's NATS credentials (a creds file: `lmcp join` writes a host's; a hub's is the authority's hub.creds). */
  nats_creds: z.string().min(1),
  /** The CA certificate NATS servers' TLS must chain to (the fleet's ca.pem). */
  nats_ca: z.string().min(1),
};

export const serveFileSchema = z
  .object({
    ...commonFileShape,
    max_output_bytes: positiveInt,
    max_read_bytes: positiveInt,
    max_timeout_s: positiveInt,
    allowed_paths: z.array(z.string().min(1)),
    tags: z.array(z.string().min(1)),
    nats_heartbeat_s: z.number().positive(),
  })
  .partial()
  .strict();

/** The flags serve and hub share (util.parseArgs option shapes). */
export const commonFlags = {
  listen: { type: "string" },
  config: { type: "string" },
  "token-file": { type: "string" },
  name: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "allow-origin": { type: "string", multiple: true },
  "allow-host": { type: "string", multiple: true },
  "no-auth": { type: "boolean" },
  nats: { type: "string" },
  "nats-creds": { type: "string" },
  "nats-ca": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface CommonFlagValues {
  listen?: string;
  config?: string;
  "token-file"?: string;
  name?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "allow-origin"?: string[];
  "allow-host"?: string[];
  "no-auth"?: boolean;
  nats?: string;
  "nats-creds"?: string;
  "nats-ca"?: string;
}

/** How requests are authenticated: a token from LMCP_TOKEN, a token file, or (explicitly) not at all. */
export type AuthSetting =
  | { mode: "none" }
  | { mode: "env"; token: string }
  | { mode: "file"; file: string; isDefault: boolean };

export interface ServerSettings {
  role: Role;
  configFile: string | undefined;
  hostname: string;
  port: number;
  name: string;
  tls: { cert: string; key: string } | undefined;
  allowedOrigins: string[];
  allowedHosts: string[];
  maxBodyBytes: number;
  shutdownGraceS: number;
  stateDir: string;
  auth: AuthSetting;
  /**
   * Where audit lines go, resolved: "stderr"/"journald", an absolute file path, or undefined when audit_log = "off".
   * Unset, it is "journald" when stderr is systemd's journal stream, else STATE_DIR/audit.jsonl (hub: hub-audit.jsonl).
   */
  auditLog: string | undefined;
  auditMaxBytes: number;
  /** GET /metrics (Prometheus text): off unless `metrics = true`; with a token file, only for its tokens. */
  metrics: { enabled: boolean; tokenFile: string | undefined };
  /**
   * The web console at /ui: LMCP_CONSOLE (0/1) > `console` > on. Even on, it is refused (with a page saying why)
   * on a listener that is neither loopback nor HTTPS: a token typed there would cross the network in clear.
   */
  console: boolean;
  /** `otlp_endpoint` as written in the config file (src/telemetry/otel.ts resolves it with the OTEL_* environment). */
  otlpEndpoint: string | undefined;
  /** NATS servers (nats://HOST:PORT) to connect to: serve answers calls there, the hub routes through them; undefined: direct mode. */
  nats: string[] | undefined;
  /** Files read at start (absolute paths): --nats-creds > LMCP_NATS_CREDS > nats_creds, and the same for the CA. */
  natsAuth: { credsFile: string | undefined; caFile: string | undefined };
}

export interface ServeSettings extends ServerSettings {
  limits: ToolLimits;
  /** Roots the file tools may use; undefined = anywhere lmcp's user can. */
  allowedPaths: string[] | undefined;
  /** What this host announces on NATS, for remote_shell_many and remote_list_hosts. */
  tags: string[];
  /** How often this host announces itself on NATS; hubs count it down after three missed beats. */
  natsHeartbeatMs: number;
}

export const defaultPort: Record<Role, number> = { serve: 8765, hub: 8766 };

/** Parses `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces); `where` names the flag, variable or key for errors. */
export function parseListen(value: string, where: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(`${where}: "${value}" is not a listen address; use HOST:PORT, e.g. 127.0.0.1:8765, [::1]:8765 or 0.0.0.0:8765`);
  }
  const host = m[1] ?? m[2] ?? "";
  return { hostname: host === "" ? "0.0.0.0" : host, port };
}

/**
 * A comma-separated list of NATS servers (`nats://HOST:PORT`, or `HOST:PORT`), each checked; `where` names the
 * flag, variable or key. TLS (`tls://`) and credentials in the URL are refused for now: they come with enrollment.
 */
export function parseNatsUrls(value: string | string[], where: string): string[] {
  const items = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
  const hint = "use nats://HOST:PORT or tls://HOST:PORT, several comma-separated (e.g. tls://10.0.0.1:4222,tls://10.0.0.2:4222)";
  if (items.length === 0) throw new ConfigError(`${where}: no NATS server given; ${hint}`);
  return items.map((item) => {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `nats://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new ConfigError(`${where}: "${item}" is not a NATS server URL; ${hint}`);
    }
    if (url.protocol !== "nats:" && url.protocol !== "tls:") throw new ConfigError(`${where}: "${url.protocol}//" is not a NATS URL scheme; ${hint}`);
    if (url.username || url.password) throw new ConfigError(`${where}: credentials in a NATS URL are not supported (they would end up in logs and process lists); ${hint}`);
    if (!url.hostname || (url.pathname !== "" && url.pathname !== "/") || url.search || url.hash) throw new ConfigError(`${where}: "${item}" is not a NATS server URL; ${hint}`);
    return `${url.protocol}//${url.host}${url.port ? "" : ":4222"}`;
  });
}

/** The value and where it came from, for the first source that has one. */
function pick<T>(...sources: [T | undefined, string][]): [T, string] | undefined {
  for (const s of sources) if (s[0] !== undefined && s[0] !== "") return s as [T, string];
  return undefined;
}

const env = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : v;
};

/**
 * True when stderr is the journal: systemd sets JOURNAL_STREAM to its device:inode, and checking it against fd 2
 * (as systemd.exec(5) advises) ignores a value a shell inherited from a service that runs terminals.
 */
function stderrIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** The audit destination: on by default (journald under systemd, else a file in the state dir); "off" turns it off. */
export function resolveAuditLog(role: Role, setting: string | undefined, stateDir: string): string | undefined {
  if (setting === "off") return undefined;
  if (setting === "stderr" || setting === "journald") return setting;
  if (setting) return resolve(setting);
  if (stderrIsJournal()) return "journald";
  return join(stateDir, role === "hub" ? "hub-audit.jsonl" : "audit.jsonl");
}

/** Loads the config file (named, or the default one if present) for a role. */
export function locateConfig(role: Role, flag: string | undefined): string | undefined {
  const named = pick<string>([flag, "--config"], [env("LMCP_CONFIG"), "LMCP_CONFIG"]);
  return named ? resolve(named[0]) : defaultConfigFile(role);
}

type CommonFile = Partial<{ [K in keyof typeof commonFileShape]: z.output<(typeof commonFileShape)[K]> }>;

/** The settings serve and hub share, from flags, environment and an already-validated file. */
export function resolveCommon(role: Role, flags: CommonFlagValues, file: CommonFile, configFile: string | undefined): ServerSettings {
  const fileWhere = (key: string) => {
    const line = keyLineInFile(configFile, key);
    return `${configFile}${line ? `:${line}` : ""} key "${key}"`;
  };
  const listen = pick<string>([flags.listen, "--listen"], [env("LMCP_LISTEN"), "LMCP_LISTEN"], [file.listen, file.listen === undefined ? "" : fileWhere("listen")]); // the file is read again only to name a line
  const { hostname, port } = listen ? parseListen(listen[0], listen[1]) : { hostname: "127.0.0.1", port: defaultPort[role] };

  const tlsCert = flags["tls-cert"] ?? file.tls_cert;
  const tlsKey = flags["tls-key"] ?? file.tls_key;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError("TLS needs both a certificate and a key: pass --tls-cert and --tls-key (or tls_cert and tls_key in the config file)");
  }

  let auth: AuthSetting;
  const envToken = env("LMCP_TOKEN");
  const tokenFile = pick<string>([flags["token-file"], "--token-file"], [env("LMCP_TOKEN_FILE"), "LMCP_TOKEN_FILE"], [file.token_file, "token_file"]);
  if (flags["no-auth"]) auth = { mode: "none" };
  else if (envToken) auth = { mode: "env", token: envToken };
  else if (tokenFile) auth = { mode: "file", file: resolve(tokenFile[0]), isDefault: false };
  else auth = { mode: "file", file: defaultTokenFile(role), isDefault: true };

  const stateDir = resolve(file.state_dir ?? env("LMCP_STATE_DIR") ?? userStateDir());
  return {
    role,
    configFile,
    hostname,
    port,
    name: flags.name ?? env("LMCP_NAME") ?? file.name ?? osHostname(),
    tls: tlsCert !== undefined && tlsKey !== undefined ? { cert: resolve(tlsCert), key: resolve(tlsKey) } : undefined,
    allowedOrigins: flags["allow-origin"] ?? file.allowed_origins ?? [],
    allowedHosts: (flags["allow-host"] ?? file.allowed_hosts ?? []).map((h) => h.toLowerCase()),
    maxBodyBytes: file.max_body_bytes ?? 16 * 1024 * 1024,
    shutdownGraceS: file.shutdown_grace_s ?? 10,
    stateDir,
    auth,
    auditLog: resolveAuditLog(role, env("LMCP_AUDIT_LOG") ?? file.audit_log, stateDir),
    auditMaxBytes: file.audit_max_bytes ?? 10 * 1024 * 1024,
    metrics: { enabled: file.metrics ?? env("LMCP_METRICS") === "1", tokenFile: file.metrics_token_file === undefined ? undefined : resolve(file.metrics_token_file) },
    console: consoleFrom(file.console),
    otlpEndpoint: file.otlp_endpoint,
    nats: natsFrom(flags.nats, file.nats),
    natsAuth: {
      credsFile: pathFrom(flags["nats-creds"], "LMCP_NATS_CREDS", file.nats_creds, configFile),
      caFile: pathFrom(flags["nats-ca"], "LMCP_NATS_CA", file.nats_ca, configFile),
    },
  };
}

/** flag > environment > config key, as an absolute path (a key's relative path is from its config file's directory); `expand` first (~). */
export function pathFrom(
  flag: string | undefined,
  envName: string,
  key: string | undefined,
  configFile: string | undefined,
  expand: (p: string) => string = (p) => p,
): string | undefined {
  const v = flag ?? env(envName);
  if (v !== undefined) return resolve(expand(v));
  if (key === undefined) return undefined;
  return configFile ? resolve(dirname(configFile), expand(key)) : resolve(expand(key));
}

/** LMCP_CONSOLE > `console` in the config file > on. */
function consoleFrom(file: boolean | undefined): boolean {
  const v = env("LMCP_CONSOLE");
  if (v === undefined) return file ?? true;
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw new ConfigError(`LMCP_CONSOLE="${v}" is not 0 or 1 (1 serves the web console at /ui, 0 turns it off)`);
}

/** --nats > LMCP_NATS > `nats` in the config file; none: direct mode. */
function natsFrom(flag: string | undefined, file: string | string[] | undefined): string[] | undefined {
  const chosen = pick<string | string[]>([flag, "--nats"], [env("LMCP_NATS"), "LMCP_NATS"], [file, 'config key "nats"']);
  return chosen ? parseNatsUrls(chosen[0], chosen[1]) : undefined;
}

export function resolveServeSettings(flags: CommonFlagValues): ServeSettings {
  const configFile = locateConfig("serve", flags.config);
  const file = configFile ? loadConfigFile(configFile, serveFileSchema) : {};
  return {
    ...resolveCommon("serve", flags, file, configFile),
    limits: {
      maxOutputBytes: file.max_output_bytes ?? 32 * 1024,
      maxReadBytes: file.max_read_bytes ?? 96 * 1024,
      maxTimeoutS: file.max_timeout_s ?? 3600,
    },
    allowedPaths: file.allowed_paths,
    tags: file.tags ?? [],
    natsHeartbeatMs: heartbeatMs(file.nats_heartbeat_s),
  };
}

/** LMCP_NATS_HEARTBEAT (seconds) > nats_heartbeat_s > 5 s. */
function heartbeatMs(fileValue: number | undefined): number {
  const v = env("LMCP_NATS_HEARTBEAT");
  if (v === undefined) return (fileValue ?? 5) * 1000;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`LMCP_NATS_HEARTBEAT="${v}" is not a positive number of seconds`);
  return n * 1000;
}
