// Many simulated lmcp hosts in one process, one NATS connection each: each
// announces itself like `lmcp serve --nats` (presence, discover, heartbeats,
// goodbye on SIGTERM) and answers shell calls at once with a fixed result.
// Usage: bun test/nats/simulator.ts SERVERS COUNT PREFIX TAG
// Prints "ready COUNT" on stdout once every host is connected and subscribed.
import { type NatsConnection, connect, nuid } from "@nats-io/transport-node";
import { Announcer } from "../../src/nats/presence.ts";
import { callQueue, callSubject } from "../../src/nats/subjects.ts";
import { callRequest, jsonOf } from "../../src/nats/wire.ts";

const [servers, countText, prefix, tag] = process.argv.slice(2);
if (!servers || !countText || !prefix || !tag) {
  process.stderr.write("usage: bun test/nats/simulator.ts SERVERS COUNT PREFIX TAG\n");
  process.exit(2);
}
const count = Number(countText);
const HEARTBEAT_MS = 5000;

interface SimHost {
  nc: NatsConnection;
  announcer: Announcer;
}

function answer(name: string, id: string, tool: string): string {
  if (tool !== "shell") {
    return JSON.stringify({ k: "reply", rpc: { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: `${name} simulates shell only` }], isError: true } } });
  }
  const structuredContent = { exit_code: 0, signal: null, stdout: "simulated\n", stderr: "", timed_out: false, cancelled: false, truncated: false, duration_ms: 0 };
  return JSON.stringify({ k: "reply", rpc: { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "simulated\n" }], structuredContent } } });
}

async function startHost(i: number): Promise<SimHost> {
  const name = `${prefix}-${String(i).padStart(4, "0")}`;
  const nc = await connect({ servers: servers!.split(","), name: `sim ${name}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  nc.subscribe(callSubject(name), {
    queue: callQueue,
    callback: (_err, msg) => {
      const req = callRequest.safeParse(jsonOf(msg.data));
      if (req.success && msg.reply) nc.publish(msg.reply, answer(name, req.data.id, req.data.tool));
    },
  });
  const announcer = new Announcer(nc, { name, tags: [tag!], version: "0.0.0-sim", instance: nuid.next(), every_ms: HEARTBEAT_MS });
  announcer.start();
  await nc.flush();
  return { nc, announcer };
}

const hosts: SimHost[] = [];
// In batches, so a thousand TCP handshakes do not all queue at once.
for (let i = 0; i < count; i += 100) {
  hosts.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => startHost(i + j)))));
}
process.stdout.write(`ready ${hosts.length}\n`);

process.on("SIGTERM", async () => {
  for (const h of hosts) h.announcer.stop();
  await Promise.all(hosts.map((h) => h.nc.drain().catch(() => {})));
  process.exit(0);
});
