// What the client-side commands (call, hosts, client-config) share: finding the
// URL and token, connecting the SDK's MCP client, and saying plainly what failed.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Client, ProtocolError, SdkError, SdkErrorCode, SdkHttpError, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { ConfigError } from "../config/file.ts";
import { resolveHubSettings } from "../config/hub.ts";
import { type Role, clientTokenCandidates } from "../config/paths.ts";
import { type ServerSettings, defaultPort, resolveServeSettings } from "../config/server.ts";
import { readTokenFile } from "../config/tokens.ts";
import { networkFailure, rpcMessage } from "../hub/backend_link.ts";
import { unusedJsonSchemaValidator } from "../mcp/no_json_schema_validator.ts";
import { version } from "../version.ts";

export const clientFlags = {
  url: { type: "string" },
  listen: { type: "string" },
  config: { type: "string" },
  "token-file": { type: "string" },
  hub: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface ClientFlagValues {
  url?: string;
  listen?: string;
  config?: string;
  "token-file"?: string;
}

export interface Target {
  url: string;
  role: Role;
  /** undefined when no token was found: the request goes without one (a --no-auth server). */
  token: string | undefined;
  /** "LMCP_TOKEN", the token file's path, or "none". */
  tokenSource: string;
  /** Whether the command takes --hub to switch roles (call, client-config), for the hint after a 401. */
  roleFlag: boolean;
}

/** A failure already put into words for the user: main prints it as it is. */
export class ClientError extends Error {}

const roleCommand: Record<Role, string> = { serve: "lmcp serve", hub: "lmcp hub" };
const otherRole: Record<Role, Role> = { serve: "hub", hub: "serve" };

/** The host part of a URL that reaches a listen address: a wildcard means this machine's loopback. */
function connectHost(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname.includes(":")) return /^[0:]+$/.test(hostname) ? "[::1]" : `[${hostname}]`;
  return hostname;
}

/** The server's own settings (flags, LMCP_* environment, lmcp.toml or hub.toml), read once and only if needed. */
function settingsReader(role: Role, flags: ClientFlagValues): () => ServerSettings {
  let settings: ServerSettings | undefined;
  return () => (settings ??= (role === "hub" ? resolveHubSettings : resolveServeSettings)({ listen: flags.listen, config: flags.config }));
}

/**
 * URL: --url > LMCP_URL > where the server listens (--listen > LMCP_LISTEN > `listen` in its config file > the default port).
 * Token: LMCP_TOKEN > --token-file > LMCP_TOKEN_FILE > `token_file` in the config file > the default token files.
 */
export function resolveTarget(role: Role, flags: ClientFlagValues, requireToken: boolean, roleFlag = true): Target {
  const settings = settingsReader(role, flags);
  const named = flags.url ?? (process.env.LMCP_URL || undefined);
  let url: string;
  if (named !== undefined) {
    try {
      new URL(named);
    } catch {
      const where = flags.url !== undefined ? "--url" : "LMCP_URL";
      throw new ConfigError(`${where}: "${named}" is not a URL; use e.g. http://127.0.0.1:${defaultPort[role]}/mcp`);
    }
    url = named;
  } else {
    const s = settings();
    url = `${s.tls ? "https" : "http"}://${connectHost(s.hostname)}:${s.port}/mcp`;
  }

  const envToken = process.env.LMCP_TOKEN;
  if (envToken && !flags["token-file"]) return { url, role, roleFlag, token: envToken, tokenSource: "LMCP_TOKEN" };
  const explicit = flags["token-file"] ?? (process.env.LMCP_TOKEN_FILE || undefined);
  if (explicit) return { url, role, roleFlag, token: readTokenFile(resolve(explicit))[0], tokenSource: resolve(explicit) };
  const auth = settings().auth;
  // A file that is not the default one came from `token_file` in the config (flag and environment were checked above).
  if (auth.mode === "file" && !auth.isDefault) return { url, role, roleFlag, token: readTokenFile(auth.file)[0], tokenSource: auth.file };
  const found = clientTokenCandidates(role).find((f) => existsSync(f));
  if (found) return { url, role, roleFlag, token: readTokenFile(found)[0], tokenSource: found };
  if (requireToken) {
    throw new ConfigError(
      `no token found (looked in ${clientTokenCandidates(role).join(" and ")}); start \`${roleCommand[role]}\` once to mint one, or pass --token-file`,
    );
  }
  return { url, role, roleFlag, token: undefined, tokenSource: "none" };
}

/** What to say when the server answered 401: which token it refused, and the likely mix-up. */
function refusedToken(target: Target): string {
  const { role, url } = target;
  const other = otherRole[role];
  const otherToken = clientTokenCandidates(other).find((f) => existsSync(f));
  const fromDefault = target.tokenSource === "none" || clientTokenCandidates(role).includes(target.tokenSource);
  // Either role's defaults were used and the other role's token exists (or the port is the other role's): a likely mix-up.
  const mixUp = fromDefault && (otherToken !== undefined || new URL(url).port === String(defaultPort[other]));
  const theirs = otherToken ? ` in ${otherToken}` : "";
  const roleHint = !mixUp
    ? ""
    : !target.roleFlag
      ? `; \`lmcp hosts\` needs a hub: is ${url} one?`
      : role === "serve"
        ? `; if ${url} is a hub, add --hub (then the hub's token${theirs} is used)`
        : `; if ${url} is an lmcp server rather than a hub, leave out --hub (then the server's token${theirs} is used)`;
  if (target.token === undefined) {
    return `the server at ${url} needs a token and none was found (looked in ${clientTokenCandidates(role).join(" and ")})${roleHint || "; pass --token-file FILE or set LMCP_TOKEN"}`;
  }
  const hint =
    roleHint ||
    (target.tokenSource === "LMCP_TOKEN"
      ? "; LMCP_TOKEN is used unless --token-file is given: unset it, or pass the right --token-file"
      : `; check that the file holds a token the server accepts (on the server's host, \`lmcp client-config${role === "hub" ? " --hub" : ""}\` prints one)`);
  return `the server at ${url} refused the token from ${target.tokenSource} (HTTP 401)${hint}`;
}

/** Any failure of a client command as one clean sentence: no SDK prefixes, no repeats, never a token. */
export function explainFailure(err: unknown, target: Target): string {
  if (err instanceof ClientError) return err.message;
  const net = networkFailure(err);
  if (net) {
    const why = net.code === "ConnectionRefused" || net.code === "ECONNREFUSED" ? "connection refused" : `${net.code} ${net.message}`.trim();
    return `cannot reach ${target.url}: ${why}; is \`${roleCommand[target.role]}\` running there? (pass --url, or --listen as the server has it)`;
  }
  if (err instanceof SdkHttpError) {
    if (err.status === 401) return refusedToken(target);
    const body = typeof err.data.text === "string" ? err.data.text.trim().slice(0, 300) : "";
    return `${target.url} answered HTTP ${err.status}${body ? `: ${body}` : ""}`;
  }
  if (err instanceof SdkError && err.code === SdkErrorCode.RequestTimeout) {
    const ms = (err.data as { timeout?: unknown } | undefined)?.timeout;
    return `no answer from ${target.url}${typeof ms === "number" ? ` within ${Math.round(ms / 1000)} s` : " in time"}`;
  }
  if (err instanceof ProtocolError) return `${target.url} refused the request: ${rpcMessage(err.message)} (JSON-RPC error ${err.code})`;
  return rpcMessage(err instanceof Error ? err.message : String(err));
}

/** Runs `use` with a connected client and closes it; every failure comes out as a ClientError in plain words. */
export async function withClient<T>(target: Target, use: (client: Client) => Promise<T>): Promise<T> {
  const headers: Record<string, string> = target.token ? { authorization: `Bearer ${target.token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(target.url), { requestInit: { headers } });
  // 'auto': 2026-07-28 when the server answers server/discover, else the 2025 initialize handshake.
  const client = new Client({ name: "lmcp-cli", version }, { jsonSchemaValidator: unusedJsonSchemaValidator, versionNegotiation: { mode: "auto" } });
  try {
    await client.connect(transport);
    return await use(client);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ClientError(explainFailure(err, target));
  } finally {
    await client.close().catch(() => {});
  }
}
