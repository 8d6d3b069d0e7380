// The ceiling for SPEC §7's read_file row: Bun.serve answering the same request
// with a Bearer check and the file's text, with no MCP at all.
// Usage: bun bench/reference/bun_ceiling.ts PORT TOKEN
const [port, token] = process.argv.slice(2);
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(port),
  async fetch(req) {
    if (req.headers.get("authorization") !== `Bearer ${token}`) return new Response(null, { status: 401 });
    const msg = (await req.json()) as { id: number; params: { arguments: { path: string } } };
    const text = await Bun.file(msg.params.arguments.path).text();
    return Response.json({ jsonrpc: "2.0", id: msg.id, result: { content: [{ type: "text", text }] } });
  },
});
console.error(`ceiling listening on http://127.0.0.1:${port}/mcp`);
