// Stateless hubs behind a load balancer: one nats-server, two `lmcp hub --nats`
// behind a real HAProxy, two `lmcp serve --nats` hosts. A client keeps calling
// through HAProxy while one hub is SIGKILLed; a hub started late sees the fleet.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { type StartedHaproxy, haproxyMissing, startHaproxy } from "../helpers/haproxy.ts";
import { type NatsCluster, natsServerBin, startNatsCluster } from "../helpers/nats.ts";
import { type StartedServer, callTool, connect, startServer, waitFor } from "../helpers/server.ts";

type Host = { name: string; state: string; via: string };

const skip = !natsServerBin ? "nats-server not found (/usr/sbin/nats-server): apt-get install nats-server" : haproxyMissing;
/** Every hub takes the same token, so a client does not care which one HAProxy picks. */
const TOKEN = `test-token-${crypto.randomUUID()}`;
/**
 * Hosts announce themselves far less often than the test runs (down only after three missed beats: 3 min), so a
 * hub that knows them within seconds of starting learnt them from lmcp.discover, not from a heartbeat.
 */
const SLOW_BEAT = { LMCP_NATS_HEARTBEAT: "60" };

let dir: string;
let cluster: NatsCluster;
let hubs: StartedServer[] = [];
let hosts: StartedServer[] = [];
let lb: StartedHaproxy;
let client: Client;

function startNatsHub(name: string): Promise<StartedServer> {
  return startServer({ command: "hub", tokenFileText: `${TOKEN}\n`, args: ["--nats", cluster.urls, "--name", name, "--backends", join(dir, "no-backends.toml")] });
}

async function upHosts(c: Client): Promise<string[]> {
  const r = await callTool(c, "remote_list_hosts", {});
  return ((r.structuredContent as { hosts: Host[] }).hosts ?? []).filter((h) => h.state === "up" && h.via === "nats").map((h) => h.name).sort();
}

/** The remote_shell lines of a hub's audit log (STATE_DIR/hub-audit.jsonl), with when each was written. */
function auditedShells(hub: StartedServer): { time: number; host: string }[] {
  const file = join(hub.home, ".state", "lmcp", "hub-audit.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { tool: string; time: string; host: string })
    .filter((e) => e.tool === "remote_shell")
    .map((e) => ({ time: Date.parse(e.time), host: e.host }));
}

interface CallRecord {
  id: string;
  start: number;
  end: number;
  ok: boolean;
  error?: string;
}

describe.skipIf(skip !== undefined)(`two hubs behind HAProxy${skip ? ` (skipped: ${skip})` : ""}`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-haproxy-test-"));
    cluster = await startNatsCluster(1);
    hubs = await Promise.all([startNatsHub("hub-a"), startNatsHub("hub-b")]);
    hosts = await Promise.all(["alpha", "beta"].map((name) => startServer({ args: ["--name", name, "--nats", cluster.urls], env: SLOW_BEAT })));
    for (const hub of hubs) {
      const direct = await connect(hub, TOKEN);
      try {
        await waitFor(`alpha and beta up on ${hub.url}`, async () => ((await upHosts(direct)).join() === "alpha,beta" ? true : undefined));
      } finally {
        await direct.close();
      }
    }
    lb = await startHaproxy(hubs.map((h, i) => ({ name: `hub-${"ab"[i]}`, url: h.url })));
    client = await connect({ url: lb.url, token: TOKEN });
  }, 60_000);

  afterAll(async () => {
    await client?.close().catch(() => {});
    await lb?.stop();
    await Promise.all([...hubs, ...hosts].map((p) => p.stop()));
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a hub SIGKILLed mid-run: only calls in flight fail, with a clear error; every later call succeeds, none runs twice", async () => {
    const WORKERS = 4;
    const KILL_AFTER = 40; // calls done before the kill: enough for round robin to have used both hubs
    const MIN_AFTER_DOWN = 40; // calls started after HAProxy marked the hub down, for the check to mean something
    const MAX_PER_WORKER = 400;
    const deadline = performance.now() + 40_000;
    const runs = (host: string) => join(hosts[host === "alpha" ? 0 : 1]!.home, "runs.txt");
    const records: CallRecord[] = [];
    const kill: { sent?: number; wallSent?: number; exited?: number; down?: number } = {};

    const afterDown = () => (kill.down === undefined ? 0 : records.filter((r) => r.start >= kill.down!).length);
    const worker = async (w: number) => {
      for (let i = 0; i < MAX_PER_WORKER && performance.now() < deadline; i++) {
        if (kill.down !== undefined && afterDown() >= MIN_AFTER_DOWN) return;
        const id = `w${w}-${i}`;
        const host = (w + i) % 2 ? "alpha" : "beta";
        const rec: CallRecord = { id, start: performance.now(), end: 0, ok: false };
        try {
          // A per-call timeout: a call that hangs ends here, and the test says so.
          const r = (await client.callTool({ name: "remote_shell", arguments: { host, command: `echo ${id} >> ${runs(host)}; echo ${id}` } }, { timeout: 15_000 })) as CallToolResult;
          const sc = r.structuredContent as { stdout?: string; via?: string } | undefined;
          rec.ok = !r.isError && sc?.stdout === `${id}\n` && sc.via === "nats";
          if (!rec.ok) rec.error = `unexpected result: ${JSON.stringify(r).slice(0, 300)}`;
        } catch (err) {
          rec.error = (err as Error).message;
        }
        rec.end = performance.now();
        records.push(rec);
      }
    };
    const killer = async () => {
      await waitFor(`${KILL_AFTER} calls through HAProxy`, () => records.length >= KILL_AFTER || undefined, 30_000);
      kill.sent = performance.now();
      kill.wallSent = Date.now();
      hubs[1]!.proc.kill("SIGKILL");
      await hubs[1]!.proc.exited;
      kill.exited = performance.now();
      kill.down = await lb.waitDown("hub-b");
    };
    await Promise.all([killer(), ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);

    // Both hubs had served calls before the kill (their own audit logs say so; hub-b's stops at its death).
    const bShells = auditedShells(hubs[1]!);
    const aBefore = auditedShells(hubs[0]!).filter((e) => e.time <= kill.wallSent!);
    expect(bShells.length).toBeGreaterThan(0);
    expect(aBefore.length).toBeGreaterThan(0);

    const failed = records.filter((r) => !r.ok);
    const inFlight = records.filter((r) => r.start < kill.exited! && r.end > kill.sent!);
    const explain = JSON.stringify({ kill, failed, inFlight: inFlight.length }, null, 1);
    // Every call started once HAProxy had marked hub-b down succeeded, and there were enough of them to count.
    expect(afterDown()).toBeGreaterThanOrEqual(MIN_AFTER_DOWN);
    expect(records.filter((r) => r.start >= kill.down! && !r.ok)).toEqual([]);
    // At most the calls in flight at the kill failed, none by hanging; each with HAProxy's 502 saying what happened,
    // or, for a call that was not the first on its kept-alive connection, the connection closed (HAProxy does that
    // instead of a 502 there, as a server closing a keep-alive connection would).
    expect(failed.length, explain).toBeLessThanOrEqual(Math.min(WORKERS, inFlight.length));
    for (const f of failed) {
      expect(inFlight.map((r) => r.id), explain).toContain(f.id);
      expect(f.error).toMatch(/502 bad gateway: the lmcp hub closed the connection without answering|ECONNRESET: The socket connection was closed unexpectedly/);
      expect(f.end - f.start).toBeLessThan(15_000);
    }
    // No call ran twice: HAProxy retries only connections that were never made, so nothing a hub took is resent.
    const ran = ["alpha", "beta"].flatMap((h) => (existsSync(runs(h)) ? readFileSync(runs(h), "utf8").trim().split("\n") : []));
    const twice = ran.filter((id, i) => ran.indexOf(id) !== i);
    expect(twice).toEqual([]);
    for (const r of records.filter((x) => x.ok)) expect(ran).toContain(r.id);

    // The hub left lists both hosts, and HAProxy sends everything to it.
    expect(await upHosts(client)).toEqual(["alpha", "beta"]);
    expect((await lb.servers()).map((s) => `${s.name} ${s.status.split(" ")[0]}`)).toEqual(["hub-a UP", "hub-b DOWN"]);
  }, 60_000);

  test("a hub started after the hosts sees the whole fleet at once (lmcp.discover), heartbeats a minute away", async () => {
    const late = await startNatsHub("hub-late");
    hubs.push(late);
    const c = await connect(late, TOKEN);
    try {
      // Hosts beat every 60 s: only their answer to the new hub's discover can list them this soon.
      const seen = await waitFor("alpha and beta on the late hub", async () => ((await upHosts(c)).join() === "alpha,beta" ? true : undefined), 5000);
      expect(seen).toBe(true);
    } finally {
      await c.close();
    }
  }, 30_000);
});
