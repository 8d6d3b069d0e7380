// Case 9: ssh children that fail (the target drops every connection, so ssh
// exits early and writing its stdin breaks with EPIPE) come back as error
// answers, and the hub keeps running: at least 1,000 calls, bounded in time.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import type { Client } from "@modelcontextprotocol/client";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, resultText } from "../helpers/server.ts";

const CALLS = 1000;
const IN_FLIGHT = 32;
const HOSTS = 4;

/** Accepts TCP connections and closes each at once, or after the client's first bytes (its SSH banner). */
function droppingListener() {
  let accepted = 0;
  const server = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s: Socket<undefined>) {
        accepted++;
        if (accepted % 2 === 0) s.end();
      },
      data(s: Socket<undefined>) {
        s.end();
      },
    },
  });
  return { port: server.port, accepted: () => accepted, stop: () => server.stop(true) };
}

let dir: string;
let drop: ReturnType<typeof droppingListener>;
let hub: StartedServer;
let client: Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-hubdrop-"));
  drop = droppingListener();
  const sshOptions = ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"];
  hub = await startHub(
    Array.from({ length: HOSTS }, (_, i) => ({ name: `drop${i}`, ssh: "root@127.0.0.1", ssh_port: drop.port, ssh_options: sshOptions })),
    { registryDir: dir, env: { LMCP_HUB_SSH_HARD_TIMEOUT: "10" } },
  );
  client = await connect(hub);
});
afterAll(async () => {
  await client?.close();
  await hub?.stop();
  drop?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Large enough (300 KB) that ssh has not read it all when it exits: the hub's write to its stdin breaks. */
const bigContent = "x".repeat(300_000);

function callFor(i: number): [string, Record<string, unknown>] {
  const host = `drop${i % HOSTS}`;
  switch (i % 3) {
    case 0:
      return ["remote_write_file", { host, path: join(dir, `never-${i}.txt`), content: bigContent }];
    case 1:
      return ["remote_shell", { host, command: "echo never", stdin: bigContent }];
    default:
      return ["remote_read_file", { host, path: "/etc/hostname" }];
  }
}

describe("a connection-dropping ssh target (case 9)", () => {
  test(`${CALLS} calls each get an error answer, and the hub stays up`, async () => {
    const deadline = Date.now() + 150_000;
    let next = 0;
    let errors = 0;
    const odd: string[] = [];
    const worker = async () => {
      while (next < CALLS && Date.now() < deadline) {
        const i = next++;
        const [tool, args] = callFor(i);
        let r: CallToolResult;
        try {
          r = await callTool(client, tool, args);
        } catch (err) {
          odd.push(`${tool}: the call failed: ${(err as Error).message}`);
          continue;
        }
        if (r.isError && /ssh to drop\d failed/.test(resultText(r))) errors++;
        else if (odd.length < 5) odd.push(`${tool}: ${resultText(r).slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    expect(odd).toEqual([]);
    expect(next).toBe(CALLS);
    expect(errors).toBe(CALLS);
    expect(drop.accepted()).toBeGreaterThanOrEqual(CALLS);
    // Alive and still answering.
    expect(hub.proc.exitCode).toBeNull();
    const hosts = await callTool(client, "remote_list_hosts", {});
    expect(hosts.isError).toBeFalsy();
    expect(hub.logs()).not.toMatch(/EPIPE|uncaught|unhandled/i);
    console.log(`case 9: ${CALLS} calls to a connection-dropping ssh target, ${errors} error answers, hub crashes: ${hub.proc.exitCode === null ? 0 : 1}`);
  }, 180_000);
});
