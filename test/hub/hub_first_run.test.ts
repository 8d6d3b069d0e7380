// A hub as a new user sets it up: `lmcp hub add` into the per-user default
// registry, a hub started without --backends, SIGHUP, `lmcp hosts`; and the
// hub's answers once a backend goes away (marked down at once, a hint to re-probe).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closedPort } from "../helpers/fixtures.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, lmcpCommand, resultText, startServer, waitFor } from "../helpers/server.ts";

let dir: string;
let alpha: StartedServer;
let beta: StartedServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-first-run-"));
  [alpha, beta] = await Promise.all([startServer({ args: ["--name", "alpha"] }), startServer({ args: ["--name", "beta"] })]);
});
afterAll(async () => {
  await Promise.all([alpha?.stop(), beta?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `lmcp ARGS` as the user whose HOME is `home` (XDG_CONFIG_HOME moved, to show it is respected); bounded by a 30 s kill. */
async function lmcp(args: string[], home: string, env: Record<string, string> = {}) {
  const p = Bun.spawn([...lmcpCommand(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_CONFIG_HOME: join(home, "xdg"), LANG: "C.UTF-8", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

type Host = { name: string; state: string; error: string | null; backoff_s: number };
const hostsJson = async (hub: StartedServer, home: string, extra: string[] = []): Promise<Host[]> => {
  const r = await lmcp(["hosts", "--json", "--url", hub.url, "--token-file", hub.tokenFile, ...extra], home);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as Host[];
};

describe("the per-user registry and lmcp hub add", () => {
  test.skipIf(existsSync("/etc/lmcp/backends.toml"))(
    "hub add writes $XDG_CONFIG_HOME/lmcp/backends.toml, a hub without --backends reads it, SIGHUP picks up the next add, lmcp hosts shows both (skipped: /etc/lmcp/backends.toml exists here and wins)",
    async () => {
      const home = mkdtempSync(join(dir, "home-"));
      const registry = join(home, "xdg", "lmcp", "backends.toml");
      // Before any add: the hub names the registry it looked for and how to create it (exit 2, not a crash).
      const none = await lmcp(["hub", "--listen", "127.0.0.1:0"], home);
      expect(none.code).toBe(2);
      expect(none.err).toContain(`backends file ${registry} does not exist; add a host with \`lmcp hub add`);

      const tokenFor = (s: StartedServer, name: string) => {
        const f = join(home, `${name}.token`);
        writeFileSync(f, `${s.token}\n`, { mode: 0o600 });
        return f;
      };
      const add = await lmcp(["hub", "add", "alpha", "--url", alpha.url, "--token-file", tokenFor(alpha, "alpha"), "--tag", "web"], home);
      expect(add.code).toBe(0);
      expect(add.out).toContain(`created ${registry} with host "alpha"`);

      const hub = await startServer({ command: "hub", home, env: { XDG_CONFIG_HOME: join(home, "xdg") } });
      try {
        expect((await hostsJson(hub, home)).map((h) => [h.name, h.state])).toEqual([["alpha", "up"]]);
        const table = await lmcp(["hosts", "--url", hub.url, "--token-file", hub.tokenFile], home);
        expect(table.out).toMatch(/^alpha\s+up\s+lmcp/m);

        const addBeta = await lmcp(["hub", "add", "beta", "--url", beta.url, "--token-file", tokenFor(beta, "beta")], home);
        expect(addBeta.code).toBe(0);
        expect(addBeta.out).toContain(`added host "beta" to ${registry}`);
        hub.proc.kill("SIGHUP");
        await waitFor("the hub to reload the registry", () => hub.logs().includes(`reloaded 2 backend(s) from ${registry}`) || undefined);
        expect((await hostsJson(hub, home)).map((h) => [h.name, h.state])).toEqual([["alpha", "up"], ["beta", "up"]]);
        // The hub reaches the added host for real.
        const c = await connect(hub);
        try {
          const r = await callTool(c, "remote_shell", { host: "beta", command: "echo via-added-host" });
          expect(r.structuredContent).toMatchObject({ host: "beta", via: "lmcp", stdout: "via-added-host\n" });
        } finally {
          await c.close();
        }
        for (const t of [alpha.token, beta.token]) expect(hub.logs()).not.toContain(t);
      } finally {
        await hub.stop();
        rmSync(home, { recursive: true, force: true });
      }
    },
    60_000,
  );
});

describe("remote_shell_many", () => {
  test("without hosts or tag runs on every host; an empty hosts list and an empty registry are errors that say what to do", async () => {
    const closed = closedPort();
    const hub = await startHub(
      [
        { name: "alpha", url: alpha.url, token: alpha.token, tags: ["web"] },
        { name: "beta", url: beta.url, token: beta.token },
        { name: "closed", url: `http://127.0.0.1:${closed}/mcp`, token: "x" },
      ],
      { registryDir: mkdtempSync(join(dir, "many-")) },
    );
    const c = await connect(hub);
    try {
      const { tools } = await c.listTools();
      expect(tools.find((t) => t.name === "remote_shell_many")?.description).toContain("with neither, every host in the registry");
      const r = await callTool(c, "remote_shell_many", { command: "echo all" });
      expect(r.isError).toBeFalsy();
      const sc = r.structuredContent as { results: { host: string; ok: boolean; stdout: string }[]; summary: string };
      expect(sc.results.map((x) => [x.host, x.ok, x.stdout])).toEqual([
        ["alpha", true, "all\n"],
        ["beta", true, "all\n"],
        ["closed", false, ""],
      ]);
      expect(sc.summary).toBe("3 hosts: 2 ok, 0 failed, 1 unreachable");
      const empty = await callTool(c, "remote_shell_many", { hosts: [], command: "true" });
      expect(empty.isError).toBe(true);
      expect(resultText(empty)).toContain("omit `hosts` to run on every host");
      // A tag alone still selects only its hosts.
      const web = await callTool(c, "remote_shell_many", { tag: "web", command: "true" });
      expect((web.structuredContent as { results: { host: string }[] }).results.map((x) => x.host)).toEqual(["alpha"]);

      writeFileSync(hub.registry, "# no hosts yet\n");
      hub.proc.kill("SIGHUP");
      await waitFor("the reload to 0 backends", () => hub.logs().includes("reloaded 0 backend(s)") || undefined);
      const none = await callTool(c, "remote_shell_many", { command: "true" });
      expect(none.isError).toBe(true);
      expect(resultText(none)).toContain("no hosts; add one with `lmcp hub add");
    } finally {
      await c.close();
      await hub.stop();
    }
  });
});

describe("a backend that goes away", () => {
  test("is down right after a call fails to reach it (not after the up TTL), for the next call and lmcp hosts, whose error suggests --force", async () => {
    const gamma = await startServer({ args: ["--name", "gamma"] });
    const hubHome = mkdtempSync(join(dir, "gone-"));
    // An up state trusted for 10 minutes: only the failed call itself can have marked gamma down.
    const hub = await startHub([{ name: "gamma", url: gamma.url, token: gamma.token }], { registryDir: hubHome, env: { LMCP_HUB_PROBE_TTL_UP: "600" } });
    const c = await connect(hub);
    try {
      expect((await callTool(c, "remote_shell", { host: "gamma", command: "true" })).isError).toBeFalsy();
      expect((await hostsJson(hub, hubHome)).map((h) => h.state)).toEqual(["up"]);
      await gamma.stop();

      const failed = await callTool(c, "remote_shell", { host: "gamma", command: "true" });
      expect(failed.isError).toBe(true);
      const [h] = await hostsJson(hub, hubHome);
      expect(h).toMatchObject({ name: "gamma", state: "down", backoff_s: 60 });
      expect(h?.error).toBeTruthy();

      // The next call is answered from the down state at once, and says how to re-probe.
      const next = await callTool(c, "remote_list_dir", { host: "gamma", path: "/" });
      expect(next.isError).toBe(true);
      expect(resultText(next)).toContain("its lmcp is down");
      expect(resultText(next)).toContain("`lmcp hosts --force`");
      // --force re-probes now: still down, and counted as a further failure (backoff doubles).
      expect((await hostsJson(hub, hubHome, ["--force"]))[0]).toMatchObject({ state: "down", backoff_s: 120 });
    } finally {
      await c.close();
      await hub.stop();
      await gamma.stop();
    }
  });
  test("one that stops answering (SIGSTOP) is re-probed when its caller gives up on a call, and shows down without waiting for the up TTL", async () => {
    const delta = await startServer({ args: ["--name", "delta"] });
    const hubHome = mkdtempSync(join(dir, "stopped-"));
    const hub = await startHub([{ name: "delta", url: delta.url, token: delta.token }], {
      registryDir: hubHome,
      env: { LMCP_HUB_PROBE_TTL_UP: "600", LMCP_HUB_PROBE_TIMEOUT: "1" },
    });
    const c = await connect(hub);
    try {
      expect((await callTool(c, "remote_shell", { host: "delta", command: "true" })).isError).toBeFalsy();
      delta.proc.kill("SIGSTOP");
      // The client's own deadline gives up on the call (and cancels it at the hub), as an agent's would.
      const gaveUp = await c.callTool({ name: "remote_shell", arguments: { host: "delta", command: "true" } }, { timeout: 1500 }).catch((e: Error) => e);
      expect(gaveUp).toBeInstanceOf(Error);
      const h = await waitFor("delta to show down", async () => (await hostsJson(hub, hubHome)).find((x) => x.state === "down"));
      expect(h).toMatchObject({ name: "delta", error: "no answer within 1 s" });
    } finally {
      delta.proc.kill("SIGCONT");
      await c.close();
      await hub.stop();
      await delta.stop();
    }
  });
});
