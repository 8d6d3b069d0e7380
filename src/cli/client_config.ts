// `lmcp client-config`: prints what an MCP client needs to reach a server or hub.
// It prints the token: that is what the user asked this command for.
import { parseFlags } from "./args.ts";
import { clientFlags, resolveTarget } from "./client.ts";

export const clientConfigHelp = `Usage: lmcp client-config [--url URL | --listen ADDR] [--token-file FILE] [--hub] [--name NAME] [--json]

Prints the client set-up for an lmcp server (or, with --hub, the hub): the
\`claude mcp add\` line for Claude Code, and the JSON for Claude Code (.mcp.json),
Cursor (~/.cursor/mcp.json) and VS Code (.vscode/mcp.json). It includes the token.
  --url URL          server URL [LMCP_URL] (default: where the server listens, from
                     --listen, LMCP_LISTEN or \`listen\` in lmcp.toml / hub.toml, else
                     http://127.0.0.1:8765/mcp; hub 8766)
  --listen ADDR      the server's listen address, e.g. 127.0.0.1:9000 (0.0.0.0 means loopback)
  --config FILE      the server's config file, for listen and token_file [LMCP_CONFIG]
  --token-file FILE  token file (default ~/.config/lmcp/token, else /etc/lmcp/token;
                     hub-token with --hub); LMCP_TOKEN wins over the default files
  --hub              the hub's defaults (port 8766, hub-token)
  --name NAME        the server's name in the client (default lmcp, or lmcp-hub)
  --json             print only the mcpServers JSON
  -h, --help         this help
`;

export function clientConfigCommand(argv: string[]): number {
  const { values } = parseFlags("client-config", argv, { ...clientFlags, name: { type: "string" }, json: { type: "boolean" } });
  if (values.help) {
    process.stdout.write(clientConfigHelp);
    return 0;
  }
  const target = resolveTarget(values.hub ? "hub" : "serve", values, true);
  const name = values.name ?? (values.hub ? "lmcp-hub" : "lmcp");
  const headers = { Authorization: `Bearer ${target.token}` };
  const mcpServers = { mcpServers: { [name]: { type: "http", url: target.url, headers } } };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(mcpServers, null, 2)}\n`);
    return 0;
  }
  const vscode = { servers: { [name]: { type: "http", url: target.url, headers } } };
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  process.stdout.write(
    [
      `# Claude Code (token from ${target.tokenSource}):`,
      `claude mcp add --transport http ${quote(name)} ${quote(target.url)} --header ${quote(`Authorization: Bearer ${target.token}`)}`,
      "",
      "# Claude Code .mcp.json, Cursor ~/.cursor/mcp.json:",
      JSON.stringify(mcpServers, null, 2),
      "",
      "# VS Code .vscode/mcp.json:",
      JSON.stringify(vscode, null, 2),
      "",
    ].join("\n"),
  );
  return 0;
}
