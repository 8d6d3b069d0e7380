// The ceiling: Bun.serve with a Bearer check, a JSON body parse, the file read and a JSON-RPC reply.
import { readFileSync } from "node:fs";
Bun.serve({ port: Number(process.env.PORT ?? 8934), hostname: "127.0.0.1", async fetch(req) {
  if (req.headers.get("authorization") !== "Bearer spike") return new Response("no", { status: 401 });
  const m = await req.json() as any;
  const text = readFileSync(m.params.arguments.path, "utf8");
  return Response.json({ jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text }], structuredContent: { path: m.params.arguments.path, bytes: text.length } } });
} });
console.log("ceiling up");
