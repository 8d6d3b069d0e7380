// Drives the spike with a v2 Client pinned to 2026-07-28, a v2 Client in 'auto' mode, and a v1 (1.x) Client.
import { Client, StreamableHTTPClientTransport, type jsonSchemaValidator } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.URL ?? "http://127.0.0.1:8931/mcp");
const headers = { authorization: "Bearer spike" };
const noValidator: jsonSchemaValidator = { getValidator: () => () => ({ valid: true, data: undefined, errorMessage: undefined }) } as any;

async function v2(mode: "pin" | "auto") {
  const client = new Client({ name: "spike-v2", version: "1" }, {
    versionNegotiation: { mode: mode === "pin" ? { pin: "2026-07-28" } : "auto" },
    jsonSchemaValidator: noValidator,
  });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  const list = await client.listTools();
  const read = await client.callTool({ name: "read_file", arguments: { path: "/etc/hostname" } });
  const steps: number[] = [];
  const count = await client.callTool({ name: "count", arguments: { n: 3, delay_ms: 5 } }, { onprogress: (p) => steps.push(p.progress) });
  let bad = "";
  try { const r = await client.callTool({ name: "read_file", arguments: { nope: 1 } }); bad = JSON.stringify(r); } catch (e) { bad = `${(e as any).code} ${(e as Error).message.slice(0, 60)}`; }
  console.log(`v2 ${mode}: version=${(client as any).getNegotiatedProtocolVersion?.() ?? "?"} tools=${list.tools.map((t) => t.name)} read=${JSON.stringify(read.structuredContent)} count=${JSON.stringify(count.structuredContent)} progress=${steps} badArgs=${bad}`);
  await client.close();
}

async function v1() {
  const client = new V1Client({ name: "spike-v1", version: "1" });
  await client.connect(new V1Transport(url, { requestInit: { headers } }));
  const list = await client.listTools();
  const read = await client.callTool({ name: "read_file", arguments: { path: "/etc/hostname" } });
  const steps: number[] = [];
  const count = await client.callTool({ name: "count", arguments: { n: 3, delay_ms: 5 } }, undefined, { onprogress: (p) => steps.push(p.progress) });
  console.log(`v1 legacy: version=${client.getServerVersion()?.name} proto=${(client.transport as any)?.protocolVersion} tools=${list.tools.map((t) => t.name)} read=${JSON.stringify(read.structuredContent)} count=${JSON.stringify(count.structuredContent)} progress=${steps}`);
  await client.close();
}

for (const [name, f] of [["pin", () => v2("pin")], ["auto", () => v2("auto")], ["v1", v1]] as const) {
  try { await f(); } catch (e) { console.log(`${name} FAILED:`, e); }
}
