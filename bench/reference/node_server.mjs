// The reference for SPEC §7: a straightforward Node + @modelcontextprotocol/sdk
// stateless Streamable HTTP server with one read_file tool and a Bearer check,
// built per request as in the SDK's stateless example.
// Usage: node bench/reference/node_server.mjs PORT TOKEN
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const [port, token] = process.argv.slice(2);

function buildServer() {
  const server = new McpServer({ name: "reference", version: "1.0.0" });
  server.registerTool(
    "read_file",
    { description: "Read a file", inputSchema: { path: z.string() } },
    async ({ path }) => ({ content: [{ type: "text", text: await readFile(path, "utf8") }] }),
  );
  return server;
}

createServer(async (req, res) => {
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, { "www-authenticate": "Bearer" }).end();
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}).listen(Number(port), "127.0.0.1", () => console.error(`reference listening on http://127.0.0.1:${port}/mcp`));
