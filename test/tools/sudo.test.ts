// shell with sudo: true, end to end with the real sudo. As root it runs
// without a password. For the password path the test makes a real user whose
// sudo rule needs a password, runs lmcp as that user, and plays the human: the
// SDK client's URL-elicitation handler opens lmcp's page, as a browser would,
// and types the password there (never into the call). Needs root, sudo,
// useradd and setpriv; it removes the user and its sudoers file afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { sudoCommand } from "../../src/tools/sudo.ts";
import { repoRoot, startServer, lmcpCommand, waitFor } from "../helpers/server.ts";

const have = (tool: string) => Bun.which(tool) !== null || Bun.which(tool, { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" }) !== null;
const isRoot = process.getuid?.() === 0;

describe("the shipped sudoers example", () => {
  test.skipIf(!have("visudo"))("parses with visudo -c, and grants nothing as shipped", () => {
    const file = join(repoRoot, "packaging/examples/sudoers");
    const r = Bun.spawnSync(["visudo", "-c", "-f", file], { env: { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" } });
    expect(r.exitCode).toBe(0);
    const rules = Bun.file(file).toString();
    expect(rules).toBeDefined();
  });
});

describe("what sudo runs", () => {
  test("a plain program and arguments runs as itself (so a NOPASSWD rule for it matches); shell syntax runs through bash -c", () => {
    expect(sudoCommand("/bin/bash", "systemctl restart nginx")).toEqual(["systemctl", "restart", "nginx"]);
    expect(sudoCommand("/bin/bash", "apt-get -y upgrade")).toEqual(["apt-get", "-y", "upgrade"]);
    expect(sudoCommand("/bin/bash", "systemctl restart nginx && rm -rf /")).toEqual(["/bin/bash", "-c", "systemctl restart nginx && rm -rf /"]);
    expect(sudoCommand("/bin/bash", "echo $HOME")).toEqual(["/bin/bash", "-c", "echo $HOME"]);
    expect(sudoCommand("/bin/bash", "cat '/etc/shadow'")).toEqual(["/bin/bash", "-c", "cat '/etc/shadow'"]);
  });
});

const canSudo = isRoot && have("sudo");

describe.skipIf(!canSudo)("as root", () => {
  test("sudo: true runs the command as root without a password, and says so", async () => {
    const server = await startServer();
    const c = new Client({ name: "sudo-root", version: "0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    try {
      await c.connect(new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: { authorization: `Bearer ${server.token}` } } }));
      const r = (await c.callTool({ name: "shell", arguments: { command: "id -u", sudo: true } })) as { structuredContent: { stdout: string; sudo?: string } };
      expect(r.structuredContent.stdout).toBe("0\n");
      expect(r.structuredContent.sudo).toBe("nopasswd");
    } finally {
      await c.close();
      await server.stop();
    }
  });
});

/**
 * Whether a user other than root can run lmcp from where it is: every file of its command line readable and every
 * directory above it searchable by others. A clone made inside a private directory (mktemp -d is 0700) is not.
 */
function othersCanRun(files: string[]): boolean {
  for (const f of files) {
    let p = realpathSync(f);
    if ((statSync(p).mode & 0o004) === 0) return false;
    for (p = dirname(p); ; p = dirname(p)) {
      if ((statSync(p).mode & 0o001) === 0) return false;
      if (p === "/") break;
    }
  }
  return true;
}

const canMakeUser = canSudo && have("useradd") && have("userdel") && have("chpasswd") && have("setpriv");
if (isRoot && !canMakeUser) console.warn("skipping the sudo password tests: they need sudo, useradd, userdel, chpasswd and setpriv");
const testUserCanRun = canMakeUser && othersCanRun(lmcpCommand());
if (canMakeUser && !testUserCanRun) console.warn(`skipping the sudo password tests: they run lmcp as a new user, who cannot read ${lmcpCommand().join(" ")} (a directory above it is private); clone into a directory others can enter`);

describe.skipIf(!testUserCanRun)("a password, asked on lmcp's own page", () => {
  const user = `lmcpsudo${Math.floor(Math.random() * 1e6)}`;
  const password = `pw-${crypto.randomUUID()}`;
  const sudoers = `/etc/sudoers.d/lmcp-test-${user}`;
  const sbin = { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" };
  let home: string;
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
  let url = "";
  const token = `sudo-test-${crypto.randomUUID()}`;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "lmcp-sudo-"));
    const made = Bun.spawnSync(["useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/bash", user], { env: sbin });
    if (made.exitCode !== 0) throw new Error(`useradd: ${made.stderr}`);
    Bun.spawnSync(["chpasswd"], { stdin: new Blob([`${user}:${password}\n`]), env: sbin });
    // A rule that needs the password every time (no cached timestamp between the tests).
    writeFileSync(sudoers, `Defaults:${user} timestamp_timeout=0, !lecture\n${user} ALL=(root) ALL\n`, { mode: 0o440 });
    const uid = Number(Bun.spawnSync(["id", "-u", user]).stdout.toString());
    const gid = Number(Bun.spawnSync(["id", "-g", user]).stdout.toString());
    mkdirSync(join(home, "state"));
    writeFileSync(join(home, "token"), `${token}\n`, { mode: 0o600 });
    for (const f of ["", "state", "token"]) chownSync(join(home, f), uid, gid);
    const cmd = lmcpCommand();
    proc = Bun.spawn(["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--", ...cmd, "serve", "--listen", "127.0.0.1:0", "--token-file", join(home, "token")], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, USER: user, LMCP_STATE_DIR: join(home, "state"), XDG_CONFIG_HOME: join(home, ".config") },
      // The test user's own directory: the one the tests run in may be private to root.
      cwd: home,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let log = "";
    const reader = proc.stderr.getReader();
    url = await waitFor("lmcp serve as the test user", async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error(`lmcp exited: ${log}`);
      log += new TextDecoder().decode(value);
      return /listening on (\S+)/.exec(log)?.[1];
    });
    reader.releaseLock();
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    rmSync(sudoers, { force: true });
    Bun.spawnSync(["userdel", user], { env: sbin });
    rmSync(home, { recursive: true, force: true });
  });

  /** A client that can open URLs; `human` plays the person at the page: it gets the page's URL and may type into it. */
  async function client(human?: (pageUrl: string) => Promise<void>) {
    const c = new Client(
      { name: "sudo-test", version: "0" },
      { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: human ? { elicitation: { url: {} } } : {} },
    );
    if (human) {
      c.setRequestHandler("elicitation/create", async (req) => {
        const p = req.params as { mode?: string; url?: string; message: string };
        expect(p.mode).toBe("url");
        expect(p.message).toContain("id -u");
        await human(p.url!);
        return { action: "accept" };
      });
    }
    await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return c;
  }
  const typeInto = async (pageUrl: string, pw: string) => {
    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("id -u");
    expect(html).toContain('type="password"');
    const sent = await fetch(pageUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(pageUrl).origin }, body: new URLSearchParams({ password: pw }) });
    expect(sent.status).toBe(200);
  };
  const sudoCall = (c: Client) =>
    c.callTool({ name: "shell", arguments: { command: "id -u", sudo: true } }, { timeout: 30_000 }) as Promise<{ isError?: boolean; content: { text: string }[]; structuredContent?: { stdout: string; sudo?: string } }>;

  test("the human types the password on the page; the command runs as root; the password is never in the call", async () => {
    let seenUrl = "";
    const c = await client(async (pageUrl) => {
      seenUrl = pageUrl;
      // A page on another site cannot answer it, and the page is one-time.
      const forged = await fetch(pageUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://evil.example" }, body: "password=x" });
      expect(forged.status).toBe(403);
      await typeInto(pageUrl, password);
      const again = await fetch(pageUrl, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "password=x" });
      expect(again.status).toBe(409);
    });
    try {
      const r = await sudoCall(c);
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent?.stdout).toBe("0\n");
      expect(r.structuredContent?.sudo).toBe("password");
      expect(seenUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sudo\/[A-Za-z0-9_-]{16,}$/);
      expect((await fetch(seenUrl)).status).toBe(404);
      expect(Bun.file(join(home, "state", "audit.jsonl")).size).toBeGreaterThan(0);
      const audit = await Bun.file(join(home, "state", "audit.jsonl")).text();
      expect(audit).toContain('"sudo":"password"');
      expect(audit).not.toContain(password);
    } finally {
      await c.close();
    }
  });

  test("a wrong password runs nothing and says so", async () => {
    const c = await client((pageUrl) => typeInto(pageUrl, "not-the-password"));
    try {
      const r = await sudoCall(c);
      expect(r.isError).toBe(true);
      expect(r.content[0]!.text).toContain("did not accept the password");
    } finally {
      await c.close();
    }
  });

  test("a client that cannot open a page is refused, told how to allow the command without a password", async () => {
    const c = await client();
    try {
      const r = await sudoCall(c);
      expect(r.isError).toBe(true);
      expect(r.content[0]!.text).toContain("NOPASSWD");
      expect(r.content[0]!.text).toContain("never takes passwords in the conversation");
    } finally {
      await c.close();
    }
  });
});
