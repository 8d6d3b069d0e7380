// Network misbehaviour on loopback for hub tests: a listener that accepts and
// never answers, and a port that is closed.
import type { Socket } from "bun";

/** Accepts TCP connections and never sends a byte (a hung server, or a stuck SSH banner). */
export function hungListener(): { port: number; connections: () => number; stop: () => void } {
  const sockets = new Set<Socket<undefined>>();
  let count = 0;
  const server = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        count++;
        sockets.add(s);
      },
      data() {},
      close(s) {
        sockets.delete(s);
      },
    },
  });
  return {
    port: server.port,
    connections: () => count,
    stop: () => {
      for (const s of sockets) s.end();
      server.stop(true);
    },
  };
}

/** A loopback port with nothing listening: bound once to get a free number, then released. */
export function closedPort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** An MCP server that answers initialize and ping but never answers tools/call: a backend that hangs mid-call. */
export function stuckBackend(): { port: number; stop: () => void } {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      if (req.method !== "POST") return new Response(null, { status: 405 });
      const m = (await req.json()) as { id?: unknown; method: string };
      if (m.method === "tools/call") return new Promise<Response>(() => {});
      if (m.id === undefined) return new Response(null, { status: 202 });
      const result = m.method === "initialize" ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "stuck", version: "0" } } : {};
      return Response.json({ jsonrpc: "2.0", id: m.id, result });
    },
  });
  return { port: server.port ?? 0, stop: () => server.stop(true) };
}
