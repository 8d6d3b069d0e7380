// `lmcp call TOOL [JSON]`: one tool call against a server or hub, for scripts
// and for checking an install.
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/file.ts";
import { parseFlags } from "./args.ts";
import { clientFlags, resolveTarget, withClient } from "./client.ts";

export const callHelp = `Usage: lmcp call TOOL [JSON] [--url URL | --listen ADDR] [--token-file FILE] [--hub] [--json]
       lmcp call --list

Calls one tool and prints its text result. JSON is the arguments object
(\`-\` reads it from stdin). Exit 0 on success, 1 when the tool reports an error
or the server cannot be reached, 2 for bad usage.
  --url URL          server URL [LMCP_URL] (default: where the server listens, from
                     --listen, LMCP_LISTEN or \`listen\` in lmcp.toml / hub.toml, else
                     http://127.0.0.1:8765/mcp; hub 8766)
  --listen ADDR      the server's listen address, e.g. 127.0.0.1:9000 (0.0.0.0 means loopback)
  --config FILE      the server's config file, for listen and token_file [LMCP_CONFIG]
  --token-file FILE  token file [LMCP_TOKEN_FILE] (default ~/.config/lmcp/token, else
                     /etc/lmcp/token); LMCP_TOKEN beats the default files, --token-file beats LMCP_TOKEN
  --hub              the hub's defaults (port 8766, hub-token)
  --json             print the whole result (structuredContent included) as JSON
  --list             list the server's tools
  -h, --help         this help

Example: lmcp call shell '{"command":"uname -a"}'
`;

export async function callCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags("call", argv, { ...clientFlags, json: { type: "boolean" }, list: { type: "boolean" } }, true);
  if (values.help) {
    process.stdout.write(callHelp);
    return 0;
  }
  const [tool, rawArgs, ...rest] = positionals;
  if (!values.list && !tool) throw new ConfigError("call: name a tool, e.g. lmcp call shell '{\"command\":\"uptime\"}'; see lmcp call --help");
  if (rest.length > 0) throw new ConfigError(`call: unexpected argument "${rest[0]}"; the arguments go in one JSON object (quote it)`);
  let args: Record<string, unknown> = {};
  if (rawArgs !== undefined) {
    const text = rawArgs === "-" ? readFileSync(0, "utf8") : rawArgs;
    try {
      args = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`call: the arguments are not valid JSON (${(err as Error).message}); pass an object like '{"path":"/etc/hostname"}'`);
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) throw new ConfigError("call: the arguments must be a JSON object");
  }

  const target = resolveTarget(values.hub ? "hub" : "serve", values, false);
  return withClient(target, async (client) => {
    if (values.list) {
      const { tools } = await client.listTools();
      for (const t of tools) process.stdout.write(`${t.name.padEnd(24)} ${t.description?.split("\n")[0] ?? ""}\n`);
      return 0;
    }
    const result = await client.callTool({ name: tool!, arguments: args }, { timeout: 24 * 3600_000 });
    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      for (const c of result.content) if (c.type === "text") process.stdout.write(c.text.endsWith("\n") ? c.text : `${c.text}\n`);
    }
    return result.isError ? 1 : 0;
  });
}
