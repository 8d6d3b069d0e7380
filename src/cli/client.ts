// What the client-side commands (call, hosts, client-config) share: finding the
// URL and token, and connecting the SDK's MCP client with them.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ConfigError } from "../config/file.ts";
import { unusedJsonSchemaValidator } from "../mcp/no_json_schema_validator.ts";
import { type Role, clientTokenCandidates } from "../config/paths.ts";
import { defaultPort } from "../config/server.ts";
import { readTokenFile } from "../config/tokens.ts";
import { version } from "../version.ts";

export const clientFlags = {
  url: { type: "string" },
  "token-file": { type: "string" },
  hub: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface Target {
  url: string;
  /** undefined when no token was found: the request goes without one (a --no-auth server). */
  token: string | undefined;
  tokenSource: string;
}

/** URL: --url > LMCP_URL > the local default. Token: LMCP_TOKEN > --token-file > LMCP_TOKEN_FILE > default token files. */
export function resolveTarget(role: Role, flags: { url?: string; "token-file"?: string }, requireToken: boolean): Target {
  const url = flags.url ?? (process.env.LMCP_URL || `http://127.0.0.1:${defaultPort[role]}/mcp`);
  try {
    new URL(url);
  } catch {
    throw new ConfigError(`--url: "${url}" is not a URL; use e.g. http://127.0.0.1:${defaultPort[role]}/mcp`);
  }
  const envToken = process.env.LMCP_TOKEN;
  if (envToken && !flags["token-file"]) return { url, token: envToken, tokenSource: "LMCP_TOKEN" };
  const named = flags["token-file"] ?? (process.env.LMCP_TOKEN_FILE || undefined);
  if (named) return { url, token: readTokenFile(resolve(named))[0], tokenSource: resolve(named) };
  const found = clientTokenCandidates(role).find((f) => existsSync(f));
  if (found) return { url, token: readTokenFile(found)[0], tokenSource: found };
  if (requireToken) {
    throw new ConfigError(
      `no token found (looked in ${clientTokenCandidates(role).join(" and ")}); start \`lmcp ${role}\` once to mint one, or pass --token-file`,
    );
  }
  return { url, token: undefined, tokenSource: "none" };
}

export async function connectClient(target: Target): Promise<Client> {
  const headers: Record<string, string> = target.token ? { authorization: `Bearer ${target.token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(target.url), { requestInit: { headers } });
  const client = new Client({ name: "lmcp-cli", version }, { jsonSchemaValidator: unusedJsonSchemaValidator });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`cannot reach ${target.url}: ${(err as Error).message}`);
  }
  return client;
}
