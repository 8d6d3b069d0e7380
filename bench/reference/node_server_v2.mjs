// The v2 reference for SPEC §7: Node + @modelcontextprotocol/server 2.x as its docs show it, createMcpHandler with a
// factory building an McpServer (one read_file tool, zod input) per request, both eras, a Bearer check on node:http.
// Usage: node bench/reference/node_server_v2.mjs PORT TOKEN
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";

const [port, token] = process.argv.slice(2);

const handler = createMcpHandler(() => {
  const server = new McpServer({ name: "reference-v2", version: "1.0.0" });
  server.registerTool(
    "read_file",
    { description: "Read a file", inputSchema: z.object({ path: z.string() }) },
    async ({ path }) => ({ content: [{ type: "text", text: await readFile(path, "utf8") }] }),
  );
  return server;
});

// The SDK's docs mount on node:http through toNodeHandler from @modelcontextprotocol/node, which is not installed
// here; this is the same conversion done by hand, IncomingMessage → Request and Response → ServerResponse.
createServer(async (req, res) => {
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, { "www-authenticate": "Bearer" }).end();
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const request = new Request(`http://${req.headers.host ?? "127.0.0.1"}${req.url}`, { method: req.method, headers, body: hasBody ? Buffer.concat(chunks) : undefined });
  const response = await handler.fetch(request, { authInfo: { token, clientId: "bench", scopes: [] } });
  res.writeHead(response.status, Object.fromEntries(response.headers));
  // Legacy replies may be an SSE stream, so the body is piped as it comes.
  if (response.body) for await (const c of response.body) res.write(c);
  res.end();
}).listen(Number(port), "127.0.0.1", () => console.error(`v2 reference listening on http://127.0.0.1:${port}/mcp`));
