// Hosts from where operators already keep them: a real ~/.ssh/config (Include,
// Match, wildcards) resolved by the real `ssh -G`, an Ansible inventory's --list
// JSON, merged with backends.toml, in a real hub that reaches them over a real
// sshd on loopback and re-reads them on SIGHUP.
//
// Ansible is not installable on this machine (no package), so `ansible-inventory`
// is the one stand-in: a small shell script on PATH that prints the JSON of its
// `-i` file, shaped as the real `ansible-inventory --list` prints it (`_meta.hostvars`,
// groups with `hosts` and `children`, `all` and `ungrouped`). Everything else is real.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/config/file.ts";
import { resolveHubSettings } from "../../src/config/hub.ts";
import { ansibleBackends, ansibleHosts, shellWords } from "../../src/hub/inventory/ansible.ts";
import { mergeSources } from "../../src/hub/inventory/merge.ts";
import { InventoryError } from "../../src/hub/inventory/run.ts";
import { listHostAliases, sshConfigHosts } from "../../src/hub/inventory/ssh_config.ts";
import type { Backend } from "../../src/hub/registry.ts";
import { registryText } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, lmcpCommand, startServer, waitFor } from "../helpers/server.ts";
import { type StartedSshd, loginUser, startSshd } from "../helpers/sshd.ts";

let dir: string;
let sshd: StartedSshd;
let alpha: StartedServer;
let me: string;
let clientKey: string;
let alphaTokenFile: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-inventory-"));
  // One after the other, so a failing start leaves nothing for afterAll to miss.
  sshd = await startSshd();
  alpha = await startServer({ args: ["--name", "alpha"] });
  me = loginUser().name;
  clientKey = sshd.sshOptions[sshd.sshOptions.indexOf("-i") + 1]!;
  alphaTokenFile = join(dir, "alpha.token");
  writeFileSync(alphaTokenFile, `${alpha.token}\n`, { mode: 0o600 });
});
afterAll(async () => {
  await Promise.all([alpha?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A HOME with .ssh/config (and config.d/) as an operator writes them; the loopback sshd is `loop`. */
function sshHome(name: string, opts: { badhost?: boolean } = {}): { home: string; config: string; confD: string } {
  const home = mkdtempSync(join(dir, `${name}-`));
  const confD = join(home, ".ssh", "config.d");
  mkdirSync(confD, { recursive: true, mode: 0o700 });
  const config = join(home, ".ssh", "config");
  writeFileSync(
    config,
    [
      "# the operator's own file",
      `Include ${confD}/*.conf`,
      "Host loop",
      "  HostName 127.0.0.1",
      `  Port ${sshd.port}`,
      `  IdentityFile ${clientKey}`,
      "Host web1 web2 !web3 *.lan   # a trailing comment",
      "  HostName %h.example.org",
      "Match originalhost web2",
      "  User deploy",
      ...(opts.badhost ? ["Host bad@name", "  User x", "Host badhost", "  HostName %Q"] : []),
      "Host *",
      "  UserKnownHostsFile /dev/null",
      "  StrictHostKeyChecking no",
      "  LogLevel ERROR",
      `  User ${me}`,
      "",
    ].join("\n"),
  );
  writeFileSync(join(confD, "10-db.conf"), "Host db1\n  HostName db.internal\n  Port 2222\n  User dbadmin\n");
  writeFileSync(join(confD, "20-more.conf"), "Host=db2 *.internal\n");
  writeFileSync(join(confD, "not-included.txt"), "Host never\n");
  return { home, config, confD };
}

/** An `ansible-inventory` on PATH that prints its -i file and logs how it was called. */
function fakeAnsible(): { bin: string; calls: string } {
  const bin = mkdtempSync(join(dir, "bin-"));
  const calls = join(bin, "calls.log");
  writeFileSync(
    join(bin, "ansible-inventory"),
    [
      "#!/bin/sh",
      "# stand-in for Ansible's ansible-inventory: prints the --list JSON kept in the -i file",
      `printf '%s %s\\n' "$*" "$ANSIBLE_INVENTORY_UNPARSED_FAILED" >> ${JSON.stringify(calls)}`,
      '[ "$1" = "-i" ] && [ "$3" = "--list" ] || { echo "usage: ansible-inventory -i SOURCE --list" >&2; exit 5; }',
      'exec cat "$2"',
      "",
    ].join("\n"),
  );
  chmodSync(join(bin, "ansible-inventory"), 0o755);
  return { bin, calls };
}

/** The Ansible side of the e2e fleet: app1 is the loopback sshd, db9 is alpha's lmcp. */
function inventoryDoc(extra: { db?: string[]; hostvars?: Record<string, Record<string, unknown>> } = {}) {
  return {
    _meta: {
      hostvars: {
        app1: {
          ansible_host: "127.0.0.1",
          ansible_port: sshd.port,
          ansible_user: me,
          ansible_ssh_private_key_file: clientKey,
          ansible_ssh_common_args: "-o UserKnownHostsFile=/dev/null -o 'StrictHostKeyChecking no' -o LogLevel=ERROR",
          ansible_python_interpreter: "{{ ansible_playbook_python }}",
        },
        db9: { ansible_host: "db9.internal", lmcp_url: alpha.url, lmcp_token_file: alphaTokenFile },
        web1: { ansible_user: "www" },
        ...extra.hostvars,
      },
    },
    all: { children: ["ungrouped", "europe"] },
    europe: { children: ["web", "db"] },
    web: { hosts: ["app1", "web1"] },
    db: { hosts: ["db9", ...(extra.db ?? [])] },
    ungrouped: {},
  };
}

/** Runs `lmcp ARGS` to its end (bounded by a 30 s kill). */
async function lmcp(args: string[], env: Record<string, string>) {
  const p = Bun.spawn([...lmcpCommand(), ...args], { env: { LANG: "C.UTF-8", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

const errorOf = async (f: () => Promise<unknown>): Promise<string> => {
  try {
    await f();
  } catch (err) {
    expect(err).toBeInstanceOf(InventoryError);
    return (err as Error).message;
  }
  throw new Error("expected an InventoryError");
};

describe("~/.ssh/config through the real ssh -G", () => {
  test("lists literal Host names (Include followed; wildcards, negations and the unincluded skipped), resolved with Match and defaults", async () => {
    const { config } = sshHome("list", { badhost: true });
    const { names, warnings } = listHostAliases(config);
    expect(names).toEqual(["db1", "db2", "loop", "web1", "web2", "badhost"]);
    expect(warnings.join("\n")).toContain(`${config}:11: Host "bad@name" left out`);

    const r = await sshConfigHosts(config, 10_000);
    const by = new Map(r.backends.map((b) => [b.name, b]));
    expect([...by.keys()]).toEqual(["db1", "db2", "loop", "web1", "web2"]);
    // ssh -G applied the included file, the Match block and the `Host *` defaults, first value winning.
    expect(by.get("db1")!.resolved).toEqual({ hostname: "db.internal", user: "dbadmin", port: 2222, identityFiles: [] });
    expect(by.get("web1")!.resolved).toMatchObject({ hostname: "web1.example.org", user: me, port: 22 });
    expect(by.get("web2")!.resolved).toMatchObject({ hostname: "web2.example.org", user: "deploy" });
    expect(by.get("loop")!.resolved).toEqual({ hostname: "127.0.0.1", user: me, port: sshd.port, identityFiles: [clientKey] });
    // The hub's ssh connects to the alias with the same file, as `ssh loop` would.
    expect(by.get("loop")).toMatchObject({ ssh: "loop", ssh_port: undefined, ssh_options: ["-F", config], url: undefined, tags: [] });
    expect(r.warnings.join("\n")).toContain('ssh_config: host "badhost" left out: ssh -G badhost failed:');
    expect(r.warnings.join("\n")).toContain("unknown key %Q");
  });

  test("a host whose ssh -G hangs is a warning after the timeout, its processes ended; the others still load", async () => {
    const home = mkdtempSync(join(dir, "slow-"));
    const config = join(home, "config");
    const marker = `29.${process.pid}`;
    writeFileSync(config, `Host fast slowpoke\n  User ops\nMatch originalhost slowpoke exec "sleep ${marker}"\n  Port 2200\n`);
    const r = await sshConfigHosts(config, 500);
    expect(r.backends.map((b) => b.name)).toEqual(["fast"]);
    expect(r.warnings).toEqual([`ssh_config: host "slowpoke" left out: ssh -G slowpoke did not finish within 0.5 s (a Match exec that hangs?)`]);
    const sleeping = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(marker);
      } catch {
        return false;
      }
    });
    expect(sleeping).toEqual([]);
  });

  test("a file ssh rejects, or one that is missing, is an error naming it", async () => {
    const home = mkdtempSync(join(dir, "bad-"));
    const config = join(home, "config");
    writeFileSync(config, "Host a b\n  Bogus yes\n");
    expect(await errorOf(() => sshConfigHosts(config, 5000))).toContain(`ssh_config: ssh could not resolve any host of ${config}: host "a" left out: ssh -G a failed: ${config}: line 2: Bad configuration option: bogus`);
    expect(await errorOf(() => sshConfigHosts(join(home, "nope"), 5000))).toBe(`ssh_config: ${join(home, "nope")} does not exist; create it (Host entries), or remove ssh_config from hub.toml`);
  });
});

describe("an Ansible inventory", () => {
  test("groups become tags (parents through children, cycles too); ansible_* make the ssh target, lmcp_* the url; bad hosts are warnings", () => {
    const tokenFile = join(dir, "lm.token");
    writeFileSync(tokenFile, "lm-token name=lm\n", { mode: 0o600 });
    const doc = {
      _meta: {
        hostvars: {
          a1: { ansible_host: "10.0.0.1", ansible_user: "ops", ansible_port: "2201", ansible_ssh_private_key_file: "~/.ssh/fleet", ansible_ssh_common_args: '-o ProxyCommand="ssh -W %h:%p bastion"' },
          a2: {},
          loc: { ansible_connection: "local" },
          tpl: { ansible_host: "{{ inventory_hostname }}.example.org" },
          badport: { ansible_port: 70000 },
          "bad name": {},
          lm: { lmcp_url: "http://lm.lan:8765/mcp", lmcp_token_file: tokenFile, ansible_connection: "winrm" },
          nourl: { lmcp_url: "http://nourl.lan:8765/mcp" },
          evil: { ansible_host: "-oProxyCommand=touch /tmp/x" },
        },
      },
      all: { children: ["ungrouped", "prod"] },
      prod: { children: ["web", "db"] },
      web: { hosts: ["a1", "tpl", "badport", "bad name", "evil"], children: ["canary"] },
      canary: { hosts: ["a2"], children: ["web"] },
      db: { hosts: ["lm"] },
      ungrouped: { hosts: ["loc", "nourl"] },
    };
    const r = ansibleBackends(doc, "ansible inventory X");
    const by = new Map<string, Backend>(r.backends.map((b) => [b.name, b]));
    expect([...by.keys()]).toEqual(["a1", "a2", "lm", "nourl"]);
    expect(by.get("a1")).toMatchObject({
      ssh: "ops@10.0.0.1",
      ssh_port: 2201,
      ssh_options: ["-i", join(homedir(), ".ssh/fleet"), "-o", "ProxyCommand=ssh -W %h:%p bastion"],
      tags: ["web", "prod", "canary"], // web is also a child of canary (a cycle, read once)
      url: undefined,
    });
    expect(by.get("a2")).toMatchObject({ ssh: "a2", ssh_port: undefined, tags: ["canary", "web", "prod"] });
    expect(by.get("lm")).toMatchObject({ ssh: undefined, url: "http://lm.lan:8765/mcp", token: "lm-token", tokenFile, tags: ["db", "prod"] });
    expect(by.get("nourl")).toMatchObject({ ssh: "nourl", url: undefined, tags: [] });
    const w = r.warnings.join("\n");
    expect(w).toContain('ansible: host "tpl" left out: ansible_host is a Jinja template');
    expect(w).toContain('ansible: host "badport" left out: ansible_port "70000" is not a port');
    expect(w).toContain('ansible: host "bad name" left out: a hub host name is');
    expect(w).toContain('ansible: host "evil" left out: ssh target "-oProxyCommand=touch /tmp/x"');
    expect(w).toContain('ansible: host "loc" left out: ansible_connection=local is not ssh, and it has no lmcp_url');
    expect(w).toContain('ansible: host "nourl": lmcp_url is set but lmcp_token_file is not; using it over SSH only');
    expect(r.warnings).toHaveLength(6);
    expect(() => ansibleBackends({ web: { hosts: "a1" } }, "ansible inventory X")).toThrow('ansible inventory X: not ansible-inventory --list JSON: web.hosts:');
  });

  test("ssh args split as Ansible's shlex splits them", () => {
    expect(shellWords(`-o 'A B' -o "C \\"D\\"" e\\ f  `)).toEqual(["-o", "A B", "-o", 'C "D"', "e f"]);
    expect(shellWords("-o 'open")).toBeUndefined();
  });

  test("the command: its failure, bad JSON, a hang and a missing inventory are errors that say what happened", async () => {
    const bin = mkdtempSync(join(dir, "cmd-"));
    const script = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
      return join(bin, name);
    };
    const fail = script("fail", 'echo "[WARNING]: Unable to parse /x as an inventory source" >&2; echo "ERROR! Completely failed to parse inventory source /x" >&2; exit 1');
    expect(await errorOf(() => ansibleHosts([fail], "inv", 5000))).toBe("inv: exited with code 1: [WARNING]: Unable to parse /x as an inventory source; ERROR! Completely failed to parse inventory source /x");
    const junk = script("junk", "echo '{ not json'");
    expect(await errorOf(() => ansibleHosts([junk], "inv", 5000))).toContain("inv: its output is not JSON (");
    const hang = script("hang", "exec sleep 30");
    expect(await errorOf(() => ansibleHosts([hang], "inv", 300))).toBe("inv: did not finish within 0.3 s (inventory_timeout_s in hub.toml)");
    expect(await errorOf(() => ansibleHosts([join(bin, "absent")], "inv", 5000))).toBe(`inv: ${join(bin, "absent")} not found (not a file, nor on PATH)`);
    const missing = join(bin, "hosts.ini");
    expect(await errorOf(() => ansibleHosts(["ansible-inventory", "-i", missing, "--list"], "ansible inventory", 5000, missing))).toContain(`ansible inventory: ${missing} does not exist; fix ansible_inventory in hub.toml`);
  });
});

describe("merging and hub.toml", () => {
  test("backends.toml wins per name: its url is added to an inventory host's ssh route, tags merged, the source recorded", () => {
    const base = { token: undefined, ssh_port: undefined, ssh_options: [], tokenFile: undefined, allowedPaths: undefined };
    const toml: Backend[] = [{ ...base, name: "web1", url: "http://web1:8765/mcp", token: "t", ssh: undefined, tags: ["toml"], allowedPaths: ["/srv"] }];
    const sshc: Backend[] = [{ ...base, name: "web1", url: undefined, ssh: "web1", ssh_options: ["-F", "/c"], tags: [] }, { ...base, name: "solo", url: undefined, ssh: "solo", tags: [] }];
    const ans: Backend[] = [{ ...base, name: "web1", url: "http://other/mcp", ssh: "www@10.0.0.1", ssh_port: 2200, tags: ["web", "toml"] }];
    const merged = mergeSources([
      { source: "backends.toml", backends: toml },
      { source: "ssh_config", backends: sshc },
      { source: "ansible", backends: ans },
    ]);
    expect(merged.map((b) => [b.name, b.source, b.sources])).toEqual([
      ["web1", "backends.toml", ["backends.toml", "ssh_config", "ansible"]],
      ["solo", "ssh_config", ["ssh_config"]],
    ]);
    // The url from backends.toml, the ssh route whole from ssh_config (never ansible's port with ssh_config's target).
    expect(merged[0]).toMatchObject({ url: "http://web1:8765/mcp", token: "t", ssh: "web1", ssh_port: undefined, ssh_options: ["-F", "/c"], tags: ["toml", "web"], allowedPaths: ["/srv"] });
  });

  test("hub.toml keys: ssh_config true or a path, ansible_inventory or a command (not both), inventory_timeout_s", () => {
    const conf = (text: string) => {
      const f = join(mkdtempSync(join(dir, "conf-")), "hub.toml");
      writeFileSync(f, text);
      return f;
    };
    const on = resolveHubSettings({ config: conf('ssh_config = true\nansible_inventory = "~/inv/hosts.yml"\ninventory_timeout_s = 5\n') }).inventory;
    expect(on).toEqual({
      sshConfig: join(homedir(), ".ssh", "config"),
      ansible: { argv: ["ansible-inventory", "-i", join(homedir(), "inv/hosts.yml"), "--list"], label: `ansible inventory ${join(homedir(), "inv/hosts.yml")}`, path: join(homedir(), "inv/hosts.yml") },
      timeoutMs: 5000,
    });
    const cmd = resolveHubSettings({ config: conf('ssh_config = "/etc/lmcp/ssh_config"\nansible_inventory_command = ["/usr/local/bin/inv", "--all"]\n') }).inventory;
    expect(cmd).toEqual({ sshConfig: "/etc/lmcp/ssh_config", ansible: { argv: ["/usr/local/bin/inv", "--all"], label: "ansible_inventory_command /usr/local/bin/inv --all" }, timeoutMs: 30_000 });
    expect(resolveHubSettings({ config: conf("") }).inventory).toEqual({ sshConfig: undefined, ansible: undefined, timeoutMs: 30_000 });
    expect(() => resolveHubSettings({ config: conf('ansible_inventory = "a"\nansible_inventory_command = ["b"]\n') })).toThrow(ConfigError);
    expect(() => resolveHubSettings({ config: conf("ssh_config = 3\n") })).toThrow(/ssh_config/);
  });
});

type Host = { name: string; state: string; via: string; tags: string[]; url: string | null; ssh: boolean; source?: string };

describe("a hub with ssh_config and an Ansible inventory", () => {
  test(
    "lists every source's hosts merged with backends.toml, reaches them over the real sshd and lmcp, re-reads on SIGHUP, keeps the old list when a source breaks",
    async () => {
      const { home, config, confD } = sshHome("hub", { badhost: true });
      const { bin, calls } = fakeAnsible();
      const inv = join(home, "inventory.json");
      writeFileSync(inv, JSON.stringify(inventoryDoc()));
      const hubToml = join(home, "hub.toml");
      writeFileSync(hubToml, `ssh_config = true\nansible_inventory = ${JSON.stringify(inv)}\ninventory_timeout_s = 10\n`);
      const registry = join(home, "backends.toml");
      writeFileSync(registry, `${registryText([{ name: "db1", url: alpha.url, token_file: alphaTokenFile, tags: ["toml"] }])}\n`);

      const hub = await startServer({ command: "hub", home, args: ["--config", hubToml, "--backends", registry], env: { PATH: `${bin}:${process.env.PATH}` } });
      const c = await connect(hub);
      const list = async () => ((await callTool(c, "remote_list_hosts", {})).structuredContent as { hosts: Host[] }).hosts;
      try {
        expect(hub.logs()).toContain(`hosts: 7 backend(s): 1 from ${registry}, 5 from ssh_config ${config}, 3 from ansible inventory ${inv}`);
        expect(hub.logs()).toContain('warning: ssh_config: host "badhost" left out: ssh -G badhost failed:');
        expect(readFileSync(calls, "utf8")).toBe(`-i ${inv} --list True\n`);
        const hosts = await list();
        expect(hosts.map((h) => [h.name, h.tags, h.url !== null, h.ssh])).toEqual([
          ["db1", ["toml"], true, true], // backends.toml's url, ssh_config's route
          ["db2", [], false, true],
          ["loop", [], false, true],
          ["web1", ["web", "europe"], false, true], // ssh_config's route, ansible's groups
          ["web2", [], false, true],
          ["app1", ["web", "europe"], false, true],
          ["db9", ["db", "europe"], true, true],
        ]);
        expect(hosts.find((h) => h.name === "db9")).toMatchObject({ state: "up", via: "lmcp" });

        // ssh_config's alias, through `-F` and the real sshd; Ansible's target, port, key and ssh args, the same way.
        const viaAlias = await callTool(c, "remote_shell", { host: "loop", command: "echo from-ssh-config $((6*7))" });
        expect(viaAlias.structuredContent).toMatchObject({ host: "loop", via: "ssh", exit_code: 0, stdout: "from-ssh-config 42\n" });
        const viaAnsible = await callTool(c, "remote_shell", { host: "app1", command: "echo from-ansible" });
        expect(viaAnsible.structuredContent).toMatchObject({ host: "app1", via: "ssh", exit_code: 0, stdout: "from-ansible\n" });
        const viaLmcp = await callTool(c, "remote_shell", { host: "db9", command: "echo from-lmcp-url" });
        expect(viaLmcp.structuredContent).toMatchObject({ host: "db9", via: "lmcp", stdout: "from-lmcp-url\n" });

        // An edit in each source, one SIGHUP.
        const count = (s: string | RegExp) => (typeof s === "string" ? hub.logs().split(s).length - 1 : (hub.logs().match(s) ?? []).length);
        writeFileSync(join(confD, "30-new.conf"), "Host web4\n  HostName web4.example.org\n");
        writeFileSync(inv, JSON.stringify(inventoryDoc({ db: ["app2"], hostvars: { app2: { ansible_host: "10.9.9.9" } } })));
        hub.proc.kill("SIGHUP");
        await waitFor("the reload", () => count(/SIGHUP: reloaded \d+ backend\(s\)/g) === 1 || undefined, 20_000);
        expect(hub.logs()).toContain(`SIGHUP: reloaded 9 backend(s): 1 from ${registry}, 6 from ssh_config ${config}, 4 from ansible inventory ${inv}`);
        const after = await list();
        expect(after.map((h) => h.name)).toEqual(["db1", "db2", "web4", "loop", "web1", "web2", "app1", "db9", "app2"]);
        expect(after.find((h) => h.name === "app2")?.tags).toEqual(["db", "europe"]);

        // A broken inventory, then a broken ssh config: each keeps the last good list.
        writeFileSync(inv, "{ not json");
        hub.proc.kill("SIGHUP");
        await waitFor("the refused reload", () => count("SIGHUP: kept the old registry: ") === 1 || undefined, 20_000);
        expect(hub.logs()).toContain(`SIGHUP: kept the old registry: ansible inventory ${inv}: its output is not JSON`);
        expect((await list()).map((h) => h.name)).toEqual(after.map((h) => h.name));
        writeFileSync(inv, JSON.stringify(inventoryDoc()));
        writeFileSync(config, `${readFileSync(config, "utf8")}Host *\n  Bogus yes\n`);
        hub.proc.kill("SIGHUP");
        await waitFor("the second refused reload", () => count("SIGHUP: kept the old registry: ") === 2 || undefined, 20_000);
        expect(hub.logs()).toContain(`SIGHUP: kept the old registry: ssh_config: ssh could not resolve any host of ${config}`);
        expect((await list()).map((h) => h.name)).toEqual(after.map((h) => h.name));
        expect(hub.logs()).not.toContain(alpha.token);
      } finally {
        await c.close();
        await hub.stop();
      }
    },
    90_000,
  );

  // Waits on src/hub/remote_tools.ts listing `source` per host (see the inventory report); run with `bun test --todo`.
  test("remote_list_hosts names each host's source", async () => {
    const { home } = sshHome("source");
    const hubToml = join(home, "hub.toml");
    writeFileSync(hubToml, "ssh_config = true\n");
    const registry = join(home, "backends.toml");
    writeFileSync(registry, `${registryText([{ name: "db1", ssh: "db1", tags: ["toml"] }])}\n`);
    const hub = await startServer({ command: "hub", home, args: ["--config", hubToml, "--backends", registry] });
    const c = await connect(hub);
    try {
      const hosts = ((await callTool(c, "remote_list_hosts", {})).structuredContent as { hosts: Host[] }).hosts;
      expect(hosts.map((h) => [h.name, h.source])).toEqual([["db1", "backends.toml"], ["db2", "ssh_config"], ["loop", "ssh_config"], ["web1", "ssh_config"], ["web2", "ssh_config"]]);
    } finally {
      await c.close();
      await hub.stop();
    }
  });

  test("a source that cannot be read stops the start with exit 2, saying what to do", async () => {
    const home = mkdtempSync(join(dir, "start-"));
    const emptyPath = mkdtempSync(join(dir, "path-"));
    const hubToml = join(home, "hub.toml");
    const inv = join(home, "hosts.ini");
    writeFileSync(inv, "[web]\nweb1\n");
    writeFileSync(hubToml, `ansible_inventory = ${JSON.stringify(inv)}\n`);
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_STATE_HOME: join(home, ".state"), PATH: emptyPath };
    const noAnsible = await lmcp(["hub", "--listen", "127.0.0.1:0", "--config", hubToml], env);
    expect(noAnsible.code).toBe(2);
    expect(noAnsible.err).toContain(`ansible inventory ${inv}: ansible-inventory is not installed (not found on PATH); install Ansible`);

    writeFileSync(hubToml, "ssh_config = true\n");
    const noConfig = await lmcp(["hub", "--listen", "127.0.0.1:0", "--config", hubToml], { ...env, PATH: process.env.PATH ?? "/usr/bin:/bin" });
    expect(noConfig.code).toBe(2);
    expect(noConfig.err).toContain(`ssh_config: ${join(home, ".ssh", "config")} does not exist; create it (Host entries), or remove ssh_config from hub.toml`);
  });
});
