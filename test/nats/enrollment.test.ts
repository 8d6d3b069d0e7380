// A secured NATS fleet end to end, through the real CLI: `lmcp hub nats-init`
// makes the authority, a 2-node nats-server cluster runs on its auth.conf and
// certificates (TLS for clients and routes), a hub answers joins, two hosts
// join with `lmcp hub enroll` + `lmcp join`, then a host's credentials try
// everything another host's subjects allow, and a revoked host is cut off.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import { type NatsConnection, connect as natsConnect, credsAuthenticator } from "@nats-io/transport-node";
import { type NatsCluster, natsServerBin, nodeOf, startSecureNatsCluster } from "../helpers/nats.ts";
import { type StartedServer, callTool, connect, lmcpCommand, resultText, startServer, waitFor } from "../helpers/server.ts";
import { consoleLogin } from "../helpers/console.ts";
import { freePort } from "../helpers/sshd.ts";

type Host = { name: string; state: string; via: string; error: string | null };

let dir: string;
let authority: string;
let cluster: NatsCluster;
let hub: StartedServer;
let client: Client;
const hosts = new Map<string, StartedServer>();
let servers: string[];

const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "home/.config"), XDG_STATE_HOME: join(dir, "home/.state"), LANG: "C.UTF-8" });

async function lmcp(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([...lmcpCommand(), ...args], { env: env(), stdin: stdin === undefined ? "ignore" : new Blob([stdin]), stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

async function enroll(name: string, ...flags: string[]): Promise<string> {
  const r = await lmcp(["hub", "enroll", name, "--dir", authority, ...flags]);
  expect(r.code).toBe(0);
  const m = /^lmcp join (\S+)$/m.exec(r.out);
  expect(m).not.toBeNull();
  return m![1]!;
}

/** Enrolls and joins `name` (its lmcp.toml in its own dir), then starts its serve from that config. */
async function joinHost(name: string, tags: string[] = []): Promise<StartedServer> {
  const token = await enroll(name, ...tags.flatMap((t) => ["--tag", t]));
  const config = join(dir, name, "lmcp.toml");
  const j = await lmcp(["join", token, "--config", config]);
  expect(j.err).toBe("");
  expect(j.code).toBe(0);
  const host = await startServer({ args: ["--config", config], env: { LMCP_NATS_HEARTBEAT: "0.3" } });
  hosts.set(name, host);
  return host;
}

async function listed(): Promise<Host[]> {
  return ((await callTool(client, "remote_list_hosts", {})).structuredContent as { hosts: Host[] }).hosts;
}

/** A raw NATS connection with one host's credentials, as a compromised host would hold them. */
async function asHost(name: string): Promise<{ nc: NatsConnection; errors: string[] }> {
  const d = join(dir, name);
  const errors: string[] = [];
  const nc = await natsConnect({
    servers,
    authenticator: credsAuthenticator(readFileSync(join(d, "nats.creds"))),
    tls: { ca: readFileSync(join(d, "nats-ca.pem"), "utf8") },
    maxReconnectAttempts: 0,
  });
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error") errors.push(s.error.message);
  })();
  return { nc, errors };
}

describe.skipIf(!natsServerBin || !Bun.which("openssl"))("a NATS fleet with enrollment, TLS and revocation", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lmcp-enroll-test-"));
    authority = join(dir, "authority");
    const ports = [await freePort(), await freePort()];
    servers = ports.map((p) => `tls://127.0.0.1:${p}`);
    const init = await lmcp(["hub", "nats-init", "--dir", authority, "--url", servers.join(","), "--listen", `127.0.0.1:${ports[0]}`]);
    expect(init.err).toBe("");
    expect(init.code).toBe(0);
    cluster = await startSecureNatsCluster(authority, ports);
    hub = await startServer({ command: "hub", args: ["--nats-authority", authority, "--backends", join(dir, "none.toml")] });
    client = await connect(hub);
    await waitFor("the hub answering joins", () => hub.logs().includes("answering joins") || undefined);
    await joinHost("alpha", ["web"]);
    await joinHost("beta");
    await waitFor("alpha and beta up on the hub", async () => {
      const up = (await listed()).filter((h) => h.state === "up").map((h) => h.name);
      return (up.includes("alpha") && up.includes("beta")) || undefined;
    });
  });
  afterAll(async () => {
    await client?.close();
    await Promise.all([hub?.stop(), ...[...hosts.values()].map((h) => h.stop())]);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("joined hosts answer remote calls over TLS, and no warning about missing credentials is logged", async () => {
    const r = await callTool(client, "remote_shell", { host: "alpha", command: "echo joined" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ via: "nats", stdout: "joined\n" });
    expect(hosts.get("alpha")!.logs()).not.toContain("no NATS credentials");
    const toml = readFileSync(join(dir, "alpha", "lmcp.toml"), "utf8");
    expect(toml).toContain('name = "alpha"');
    expect(toml).toContain('tags = ["web"]');
  });

  test("calls a host answers itself reach the hub's console feed, and calls through the hub show there once", async () => {
    const direct = await connect(hosts.get("alpha")!);
    try {
      expect(resultText(await callTool(direct, "shell", { command: "echo direct-marker-1" }))).toContain("direct-marker-1");
    } finally {
      await direct.close();
    }
    await callTool(client, "remote_shell", { host: "alpha", command: "echo via-hub-marker-1" });
    const { cookie } = await consoleLogin(hub.base, hub.token);
    const feed = await waitFor("the direct call in the hub's feed", async () => {
      const html = await (await fetch(`${hub.base}/ui/feed?host=alpha`, { headers: { cookie } })).text();
      return html.includes("direct-marker-1") ? html : undefined;
    });
    // One row each (a row shows the command twice: as its text and its title).
    const rows = (marker: string) => feed.split("<tr").filter((r) => r.includes(marker)).length;
    expect(rows("via-hub-marker-1")).toBe(1);
    expect(rows("direct-marker-1")).toBe(1);
    expect(feed.split("<tr").find((r) => r.includes("direct-marker-1"))).toContain("direct");
  });

  test("a join token works once", async () => {
    const token = await enroll("gamma");
    const first = await lmcp(["join", "-", "--config", join(dir, "gamma", "lmcp.toml")], token);
    expect(first.code).toBe(0);
    const again = await lmcp(["join", token, "--config", join(dir, "gamma2", "lmcp.toml")]);
    expect(again.code).toBe(1);
    expect(again.err).toContain("no enrollment of gamma is waiting for this join token");
  });

  test.skipIf(process.getuid?.() !== 0)("run as root for a service user's lmcp.toml, join gives the credentials to that user", async () => {
    const token = await enroll("epsilon");
    const config = join(dir, "epsilon", "lmcp.toml");
    mkdirSync(join(dir, "epsilon"));
    writeFileSync(config, "# the packaged service's config\n", { mode: 0o640 });
    chownSync(config, 65534, 65534);
    const r = await lmcp(["join", token, "--config", config]);
    expect(r.code).toBe(0);
    for (const f of ["nats.creds", "nats-ca.pem", "lmcp.toml"]) {
      const st = statSync(join(dir, "epsilon", f));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o640]);
    }
  });

  test.skipIf(process.getuid?.() !== 0)("run as root beside the packages' token file (lmcp:lmcp 0600), join gives the credentials its owner", async () => {
    const token = await enroll("zeta");
    const d = join(dir, "zeta");
    mkdirSync(d);
    writeFileSync(join(d, "lmcp.toml"), "# as dpkg installs it: root:root 0644\n", { mode: 0o644 });
    writeFileSync(join(d, "token"), "t\n", { mode: 0o600 });
    chownSync(join(d, "token"), 65534, 65534);
    expect((await lmcp(["join", token, "--config", join(d, "lmcp.toml")])).code).toBe(0);
    for (const f of ["nats.creds", "nats-ca.pem"]) {
      const st = statSync(join(d, f));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o600]);
    }
  });

  test.skipIf(process.getuid?.() !== 0)("an authority made and changed by root inside a service user's directory stays that user's", async () => {
    const state = join(dir, "svc-state");
    mkdirSync(state);
    chownSync(state, 65534, 65534);
    const svc = join(state, "fleet");
    const init = await lmcp(["hub", "nats-init", "--dir", svc, "--url", "tls://127.0.0.1:1"]);
    expect(init.code).toBe(0);
    expect((await lmcp(["hub", "enroll", "svc-host", "--dir", svc])).code).toBe(0);
    const files = ["", "fleet.json", "hub.creds", "system.creds", "account.nk", "operator.nk", "ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "auth.conf", "nats-server.conf", "jwt"];
    for (const f of files) expect([f, statSync(join(svc, f)).uid]).toEqual([f, 65534]);
    expect(JSON.parse(readFileSync(join(svc, "fleet.json"), "utf8")).pending["svc-host"]).toBeDefined();
  });

  test("an expired enrollment is refused, and a damaged token is told apart", async () => {
    const token = await enroll("delta");
    // The authority's record says when the token expires; age it (the NATS JWT has its own expiry too).
    const fleetFile = join(authority, "fleet.json");
    const state = JSON.parse(readFileSync(fleetFile, "utf8"));
    state.pending.delta.expires_at = Math.floor(Date.now() / 1000) - 1;
    writeFileSync(fleetFile, JSON.stringify(state));
    const r = await lmcp(["join", token, "--config", join(dir, "delta", "lmcp.toml")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("this join token expired");
    const bad = await lmcp(["join", token.slice(0, 60), "--config", join(dir, "delta", "lmcp.toml")]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/damaged|not an lmcp join token/);
  });

  test("one host's credentials cannot subscribe to, answer or speak for another host's subjects", async () => {
    const { nc, errors } = await asHost("alpha");
    try {
      // Its own call subject is fine (the positive control: the checks below can fail).
      nc.subscribe("lmcp.call.alpha");
      for (const subject of ["lmcp.call.beta", "lmcp.ctl.beta", "lmcp.presence.*", "lmcp.activity.*", "_INBOX.>", "_INBOX.*.beta.*", "lmcp.enroll.*", ">"]) nc.subscribe(subject);
      for (const subject of ["lmcp.presence.beta", "lmcp.activity.beta", "lmcp.call.beta", "_INBOX.hub.beta.x", "lmcp.discover", "lmcp.fleet.revoked"]) nc.publish(subject, "{}");
      await waitFor("every violation reported", () => errors.length >= 14 || undefined);
      const text = errors.join("\n");
      for (const s of ["lmcp.call.beta", "lmcp.ctl.beta", "lmcp.presence.*", "lmcp.activity.*", "_INBOX.>", "_INBOX.*.beta.*", "lmcp.enroll.*", '">"']) expect(text).toContain(`Subscription to ${s.startsWith('"') ? s : `"${s}"`}`);
      for (const s of ["lmcp.presence.beta", "lmcp.activity.beta", "lmcp.call.beta", "_INBOX.hub.beta.x", "lmcp.discover", "lmcp.fleet.revoked"]) expect(text).toContain(`Publish to "${s}"`);
      expect(text).not.toContain('"lmcp.call.alpha"');
    } finally {
      await nc.close();
    }
    // The fleet still works for beta: alpha's attempts changed nothing.
    const r = await callTool(client, "remote_shell", { host: "beta", command: "echo still-beta" });
    expect(resultText(r)).toContain("still-beta");
  });

  test("a host cannot claim tags it was not enrolled with: the hub takes them from its signed JWT", async () => {
    const { nc } = await asHost("alpha");
    try {
      const creds = readFileSync(join(dir, "alpha", "nats.creds"), "utf8");
      const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)/.exec(creds)![1]!;
      const fake = { v: 1, name: "alpha", tags: ["web", "prod", "db"], version: "forged-9", instance: "forged", every_ms: 60_000, state: "up", jwt };
      // The forged announcement is taken (its version shows) but its tags are not; real beats may come between.
      const seen = await waitFor("the forged announcement on the hub", async () => {
        nc.publish("lmcp.presence.alpha", JSON.stringify(fake));
        await nc.flush();
        const h = (await listed()).find((x) => x.name === "alpha") as (Host & { version: string; tags: string[] }) | undefined;
        return h?.version === "forged-9" ? h : undefined;
      });
      expect(seen.tags).toEqual(["web"]);
    } finally {
      await nc.close();
    }
  });

  test("NATS refuses a client without credentials, and one without TLS", async () => {
    const ca = readFileSync(join(authority, "ca.pem"), "utf8");
    await expect(natsConnect({ servers, tls: { ca }, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization/i);
    await expect(natsConnect({ servers: servers.map((s) => s.replace("tls:", "nats:")), maxReconnectAttempts: 0, timeout: 3000 })).rejects.toThrow();
  });

  test("a revoked host is cut off at once: NATS closes it, refuses it, and the hub shows it down", async () => {
    const beta = hosts.get("beta")!;
    const r = await lmcp(["hub", "revoke", "beta", "--dir", authority]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    await waitFor("beta's serve told it was revoked", () => /revoked/i.test(beta.logs()) || undefined, 5000);
    const seen = (await listed()).find((h) => h.name === "beta");
    expect(seen?.state).toBe("down");
    expect(seen?.error).toContain("revoked");
    const call = await callTool(client, "remote_shell", { host: "beta", command: "echo should-not-run" });
    expect(call.isError).toBe(true);
    // Its credentials no longer get in, on either node.
    for (const server of servers) {
      await expect(
        natsConnect({ servers: [server], authenticator: credsAuthenticator(readFileSync(join(dir, "beta", "nats.creds"))), tls: { ca: readFileSync(join(dir, "beta", "nats-ca.pem"), "utf8") }, maxReconnectAttempts: 0 }),
      ).rejects.toThrow(/Authorization|revoked/i);
    }
    // alpha is untouched.
    expect(resultText(await callTool(client, "remote_shell", { host: "alpha", command: "echo alpha-ok" }))).toContain("alpha-ok");
    const fleet = JSON.parse((await lmcp(["hub", "fleet", "--json", "--dir", authority])).out) as { hosts: { name: string }[]; revoked: { name: string }[] };
    expect(fleet.hosts.map((h) => h.name)).not.toContain("beta");
    expect(fleet.revoked.map((x) => x.name)).toContain("beta");
  });

  test("with TLS and credentials, killing the node a host is on does not stop its calls: it reconnects to the other", async () => {
    const node = await waitFor("the node alpha is connected to", () => nodeOf(cluster, "lmcp serve alpha"));
    await node.kill();
    await waitFor("alpha reconnected", () => (hosts.get("alpha")!.logs().includes("NATS: reconnected") ? true : undefined), 15_000);
    const r = await waitFor("a call to alpha after the kill", async () => {
      const out = await callTool(client, "remote_shell", { host: "alpha", command: "echo after-kill" });
      return out.isError ? undefined : out;
    }, 15_000);
    expect(resultText(r)).toContain("after-kill");
  });
});
