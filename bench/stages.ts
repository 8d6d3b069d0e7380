// `bun bench/stages.ts`: where one read_file call's CPU time goes, stage by stage, in-process
// (no HTTP, no load generator): JSON parse, the SDK's inbound classifier for each era, the tool
// handler alone, and the handler behind each era's long-lived SDK Server. CPU time (user + system)
// per call over many calls, so another process on the machine disturbs it less than wall time.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { classifyInboundRequest } from "@modelcontextprotocol/server";
import { CallTransport } from "../src/mcp/call_transport.ts";
import { type McpServerOptions, createMcpServers, toolHandlers } from "../src/mcp/server.ts";
import { permissivePolicy } from "../src/policy/rules.ts";
import { serveTools } from "../src/tools/registry.ts";
import { benchDir } from "./lib.ts";

const N = Number(process.argv[2] ?? 20_000);
const work = mkdtempSync(join(benchDir, ".work-stages-"));
const file = join(work, "small.txt");
writeFileSync(file, "hello from a small file\n");
const rows: [string, number][] = [];

async function stage(name: string, f: () => unknown): Promise<void> {
  for (let i = 0; i < Math.min(3000, N); i++) await f();
  const before = process.cpuUsage();
  for (let i = 0; i < N; i++) await f();
  const used = process.cpuUsage(before);
  rows.push([name, (used.user + used.system) / N]);
}

try {
  const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" }, "io.modelcontextprotocol/clientCapabilities": {} };
  const modernBody = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "read_file", arguments: { path: file }, _meta: meta } });
  const legacyBody = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "read_file", arguments: { path: file } } });
  const opts: McpServerOptions = {
    name: "bench",
    title: "bench",
    version: "0",
    instructions: "",
    tools: serveTools,
    context: { limits: { maxOutputBytes: 32 * 1024, maxTimeoutS: 3600, maxReadBytes: 96 * 1024 }, stateDir: work },
    policy: permissivePolicy,
  };
  const servers = createMcpServers(opts);
  const modern = new CallTransport();
  const legacy = new CallTransport();
  await servers.modern.connect(modern);
  await servers.legacy.connect(legacy);
  const authInfo = { token: "", clientId: "bench", scopes: ["full"], extra: { client: "bench" } };
  const handlers = toolHandlers(opts);
  const ctx = { mcpReq: { signal: new AbortController().signal, _meta: {}, notify: async () => {}, requestState: () => undefined }, http: { authInfo } };

  await stage("JSON.parse of a 2026-07-28 tools/call", () => JSON.parse(modernBody));
  await stage("classifyInboundRequest, 2026-07-28", () =>
    classifyInboundRequest({ httpMethod: "POST", protocolVersionHeader: "2026-07-28", mcpMethodHeader: "tools/call", mcpNameHeader: "read_file", body: JSON.parse(modernBody) }),
  );
  await stage("classifyInboundRequest, 2025", () => classifyInboundRequest({ httpMethod: "POST", body: JSON.parse(legacyBody) }));
  await stage("read_file handler alone (zod, policy, read)", () => handlers.call({ params: { name: "read_file", arguments: { path: file } } }, ctx as never));
  await stage("handler behind the 2025 Server", () => legacy.request(JSON.parse(legacyBody), 1, { authInfo }));
  await stage("handler behind the 2026-07-28 Server", () => modern.request(JSON.parse(modernBody), 1, { authInfo, classification: { era: "modern", revision: "2026-07-28" } }));

  console.log(`| stage (CPU µs per call, ${N} calls) | µs |\n|---|---|`);
  for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} |`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
