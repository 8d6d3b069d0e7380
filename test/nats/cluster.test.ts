// The NATS fleet end to end: a real 3-node nats-server cluster on loopback, a
// hub and two `lmcp serve --nats` hosts (real processes), then 1,000 simulated
// hosts in one process; a node killed during calls, hosts that leave or die.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { connect as natsConnect } from "@nats-io/transport-node";
import { callSubject } from "../../src/nats/subjects.ts";
import { type NatsCluster, natsServerBin, nodeOf, startNatsCluster } from "../helpers/nats.ts";
import { type StartedServer, bunPath, callTool, connect, pidAlive, repoRoot, resultText, startServer, waitFor, waitForPidFile } from "../helpers/server.ts";

type Host = { name: string; state: string; via: string; tags: string[]; version: string | null; last_seen: string | null; error: string | null };

let dir: string;
let cluster: NatsCluster;
let hub: StartedServer;
let client: Client;
let alpha: StartedServer;
let beta: StartedServer;

/** Heartbeats this fast let "down after three missed beats" show within a second. */
const FAST_BEAT = { LMCP_NATS_HEARTBEAT: "0.3" };

function startHost(name: string, tags: string[]): Promise<StartedServer> {
  return startServer({ args: ["--name", name, "--nats", cluster.urls, ...tags.flatMap((t) => ["--tag", t])], env: FAST_BEAT });
}

async function startNatsHub(): Promise<StartedServer> {
  // More hosts than approve_above_hosts would ask the human first; the test client cannot be asked.
  const config = join(dir, "hub.toml");
  if (!existsSync(config)) writeFileSync(config, "approve_above_hosts = 100000\n");
  return startServer({ command: "hub", args: ["--nats", cluster.urls, "--backends", join(dir, "no-backends.toml"), "--config", config] });
}

async function hosts(c: Client, args: Record<string, unknown> = {}): Promise<Host[]> {
  return ((await callTool(c, "remote_list_hosts", args)).structuredContent as { hosts: Host[] }).hosts;
}

const call = (name: string, args: Record<string, unknown>) => callTool(client, name, args);

describe.skipIf(!natsServerBin)("lmcp over a NATS cluster", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-nats-test-"));
    cluster = await startNatsCluster(3);
    [hub, alpha, beta] = await Promise.all([startNatsHub(), startHost("alpha", ["web", "all"]), startHost("beta", ["all"])]);
    client = await connect(hub);
    await waitFor("alpha and beta on the hub", async () => {
      const up = (await hosts(client)).filter((h) => h.state === "up").map((h) => h.name);
      return (up.includes("alpha") && up.includes("beta")) || undefined;
    });
  });
  afterAll(async () => {
    await client?.close();
    await Promise.all([hub?.stop(), alpha?.stop(), beta?.stop()]);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("remote_list_hosts lists the hosts NATS presence knows, with tags, version and last seen", async () => {
    const list = await hosts(client);
    const a = list.find((h) => h.name === "alpha")!;
    expect(a).toMatchObject({ state: "up", via: "nats", tags: ["web", "all"], error: null });
    expect(a.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Date.now() - Date.parse(a.last_seen!)).toBeLessThan(5000);
    expect((await hosts(client, { tag: "web" })).map((h) => h.name)).toEqual(["alpha"]);
  });

  test("remote_shell and the file tools go over NATS and say via nats", async () => {
    const r = await call("remote_shell", { host: "alpha", command: "echo from-alpha" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ host: "alpha", via: "nats", stdout: "from-alpha\n", exit_code: 0 });
    expect(resultText(r)).toStartWith("[alpha via nats]");
    const path = join(beta.home, "over-nats.txt");
    expect((await call("remote_write_file", { host: "beta", path, content: "one\ntwo\n" })).isError).toBeFalsy();
    const read = await call("remote_read_file", { host: "beta", path, offset: 2 });
    expect(read.structuredContent).toMatchObject({ content: "two\n", host: "beta", via: "nats" });
    expect(readFileSync(path, "utf8")).toBe("one\ntwo\n");
  });

  test("the host runs the call through its own handlers: validation, audit naming the hub as the caller, traceparent", async () => {
    const bad = await call("remote_read_file", { host: "alpha", path: join(dir, "no-such-file") });
    expect(bad.isError).toBe(true);
    expect(resultText(bad)).toStartWith("alpha:");
    const traceparent = `00-${crypto.randomUUID().replace(/-/g, "")}-00f067aa0ba902b7-01`;
    const r = (await client.callTool({ name: "remote_shell", arguments: { host: "alpha", command: "echo traced" }, _meta: { traceparent } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const audit = join(alpha.home, ".state", "lmcp", "audit.jsonl");
    const line = await waitFor("alpha's audit line", () => (existsSync(audit) ? readFileSync(audit, "utf8").split("\n").find((l) => l.includes(traceparent)) : undefined));
    expect(JSON.parse(line)).toMatchObject({ tool: "shell", traceparent, client: "nats" });
    expect(line).toContain("hub=");
  });

  test("an unknown host names the known ones; remote_shell_many runs across hosts by tag", async () => {
    const u = await call("remote_list_dir", { host: "nosuch", path: "/" });
    expect(u.isError).toBe(true);
    expect(resultText(u)).toContain("alpha");
    const many = await call("remote_shell_many", { tag: "all", command: "echo many" });
    const sc = many.structuredContent as { results: { host: string; ok: boolean; via: string; stdout: string }[]; summary: string };
    expect(sc.summary).toBe("2 hosts: 2 ok, 0 failed, 0 unreachable");
    for (const x of sc.results) expect(x).toMatchObject({ ok: true, via: "nats", stdout: "many\n" });
  });

  test("progress comes back over the reply subject, and cancelling kills the command on the host", async () => {
    const seen: { message?: string }[] = [];
    const r = (await client.callTool(
      { name: "remote_shell", arguments: { host: "alpha", command: "for i in 1 2 3 4 5 6; do echo step-$i; sleep 1; done" } },
      { onprogress: (p) => void seen.push(p), timeout: 30_000 },
    )) as CallToolResult;
    expect((r.structuredContent as { exit_code: number }).exit_code).toBe(0);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]?.message).toMatch(/running \d+s: step-/);

    const pidFile = join(dir, "cancel.pid");
    const abort = new AbortController();
    const pending = client
      .callTool({ name: "remote_shell", arguments: { host: "beta", command: `sleep 300 & echo $! > ${pidFile}; wait` } }, { signal: abort.signal })
      .catch((e: Error) => e);
    const pid = await waitForPidFile(pidFile);
    abort.abort("test cancels");
    expect(await pending).toBeInstanceOf(Error);
    await waitFor("the command on beta to die", () => !pidAlive(pid) || undefined, 5000);
  }, 20_000);

  test("a call sent again (same id) runs once and gets the same answer; one meant for an earlier instance is not run", async () => {
    const nc = await natsConnect({ servers: cluster.urls.split(",") });
    try {
      const file = join(dir, "once.txt");
      const id = `test-${crypto.randomUUID()}`;
      const body = (attempt: number, instance?: string) =>
        JSON.stringify({ v: 1, id, tool: "shell", arguments: { command: `echo ran >> ${file}; echo answer` }, hub: "test", attempt, ...(instance ? { instance } : {}) });
      const ask = async (payload: string) => {
        const m = await nc.request(callSubject("alpha"), payload, { timeout: 10_000 });
        return m.json<{ k: string; rpc?: { result?: { structuredContent?: { stdout?: string } } }; message?: string }>();
      };
      const first = await ask(body(1));
      const again = await ask(body(2));
      expect(first.rpc?.result?.structuredContent?.stdout).toBe("answer\n");
      expect(again).toEqual(first);
      expect(readFileSync(file, "utf8")).toBe("ran\n");
      const elsewhere = JSON.stringify({ ...JSON.parse(body(2, "an-earlier-instance")), id: `test-${crypto.randomUUID()}` });
      const lost = await ask(elsewhere);
      expect(lost).toMatchObject({ k: "lost" });
      expect(lost.message).toContain("restarted");
      expect(readFileSync(file, "utf8")).toBe("ran\n");
    } finally {
      await nc.close();
    }
  });

  describe("1,000 simulated hosts", () => {
    let sim: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
    let ready: number;
    beforeAll(async () => {
      sim = Bun.spawn([bunPath, join(repoRoot, "test/nats/simulator.ts"), cluster.urls, "1000", "sim", "sim"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const reader = sim.stdout.getReader();
      let out = "";
      await waitFor(
        "the simulator's ready line",
        async () => {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the simulator exited: ${await new Response(sim!.stderr).text()}`);
          out += new TextDecoder().decode(value);
          return out.includes("ready 1000") || undefined;
        },
        60_000,
      );
      ready = performance.now();
      reader.releaseLock();
    }, 90_000);
    afterAll(async () => {
      sim?.kill("SIGKILL");
      await sim?.exited;
    });

    test("are all listed within 1 s, by a running hub and by one started afterwards", async () => {
      await waitFor("1,000 simulated hosts up on the hub", async () => ((await hosts(client, { tag: "sim" })).filter((h) => h.state === "up").length === 1000 ? true : undefined));
      expect(performance.now() - ready).toBeLessThanOrEqual(1000);

      const fresh = await startNatsHub();
      const started = performance.now(); // its listening line: the NATS connection and lmcp.discover are still to come
      const c = await connect(fresh);
      try {
        await waitFor("1,000 simulated hosts on a new hub", async () => ((await hosts(c, { tag: "sim" })).filter((h) => h.state === "up").length === 1000 ? true : undefined));
        expect(performance.now() - started).toBeLessThanOrEqual(1000);
      } finally {
        await c.close();
        await fresh.stop();
      }
    }, 30_000);

    test("remote_shell_many across all 1,000 finishes within 2 s, every host ok and grouped as one", async () => {
      const started = performance.now();
      const r = await call("remote_shell_many", { tag: "sim", command: "true" });
      const elapsed = performance.now() - started;
      const sc = r.structuredContent as { counts: { ok: number; total: number }; groups: { hosts: string[] }[] };
      expect(sc.counts).toMatchObject({ ok: 1000, total: 1000 });
      expect(sc.groups.length).toBe(1);
      expect(elapsed).toBeLessThanOrEqual(2000);
    }, 30_000);

    test("hosts that say goodbye are down at once", async () => {
      sim!.kill("SIGTERM");
      await sim!.exited;
      // "At once": as soon as the goodbyes have crossed the cluster, well before three missed 5 s heartbeats.
      const list = await waitFor(
        "1,000 goodbyes",
        async () => {
          const l = await hosts(client, { tag: "sim" });
          return l.every((h) => h.state === "down") ? l : undefined;
        },
        2000,
      );
      expect(list.length).toBe(1000);
      expect(list.every((h) => /said goodbye/.test(h.error ?? ""))).toBe(true);
    });
  });

  test("killing the cluster node the hub is on during calls does not stop them: clients reconnect", async () => {
    const node = await nodeOf(cluster, `lmcp hub ${hubName()}`);
    expect(node).toBeDefined();
    const pidFiles = Array.from({ length: 6 }, (_, i) => join(dir, `failover-${i}.pid`));
    const inFlight = pidFiles.map((f, i) =>
      call("remote_shell", { host: i % 2 ? "alpha" : "beta", command: `echo $$ > ${f}; sleep 1; echo done-${i}` }),
    );
    await Promise.all(pidFiles.map((f) => waitForPidFile(f)));
    await node!.kill();
    const results = await Promise.all(inFlight);
    results.forEach((r, i) => expect(r.structuredContent).toMatchObject({ via: "nats", stdout: `done-${i}\n`, exit_code: 0 }));
    // And the next calls, after the failover.
    for (let i = 0; i < 5; i++) {
      const r = await call("remote_shell", { host: "alpha", command: `echo after-${i}` });
      expect(r.structuredContent).toMatchObject({ via: "nats", stdout: `after-${i}\n` });
    }
    await waitFor("the hub's reconnect line", () => /NATS: reconnected to/.test(hub.logs()) || undefined);
    expect(await nodeOf(cluster, `lmcp hub ${hubName()}`)).not.toBe(node);
  }, 30_000);

  test("a host that stops says goodbye and is down at once; one that dies is down after three missed beats, and its call in flight ends", async () => {
    await beta.stop();
    const b = await waitFor("beta's goodbye", async () => (await hosts(client)).find((h) => h.name === "beta" && h.state === "down"), 2000);
    expect(b).toMatchObject({ state: "down", via: "none" });
    expect(b.error).toContain("said goodbye");
    const r = await call("remote_shell", { host: "beta", command: "true" });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("down on NATS");

    const pidFile = join(dir, "dies.pid");
    const hanging = call("remote_shell", { host: "alpha", command: `echo $$ > ${pidFile}; exec sleep 60` });
    const sleeper = await waitForPidFile(pidFile);
    alpha.proc.kill("SIGKILL");
    await waitFor("alpha down by missed heartbeats", async () => ((await hosts(client)).find((h) => h.name === "alpha")?.state === "down" ? true : undefined));
    const a = (await hosts(client)).find((h) => h.name === "alpha")!;
    expect(a.error).toContain("no heartbeat");
    const ended = await hanging;
    expect(ended.isError).toBe(true);
    expect(resultText(ended)).toContain("alpha");
    // A killed lmcp cannot end its command: the test does.
    process.kill(sleeper, "SIGKILL");
  }, 30_000);
});

/** The hub's --name default is the host name; its NATS connection is called `lmcp hub NAME`. */
function hubName(): string {
  return /lmcp hub "([^"]+)"/.exec(hub.logs())?.[1] ?? "";
}
