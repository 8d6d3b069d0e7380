// Follows the README's quick start word for word: the fenced blocks marked
// <!-- quick-start --> run in order through bash, with HOME an empty temp dir.
// Only the lmcp command (the source, or LMCP_BIN) and the two port numbers are substituted.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lmcpCommand, repoRoot, waitFor } from "./helpers/server.ts";

const MARKER = "<!-- quick-start -->";
const README_PORTS = { serve: "8765", hub: "8766" };

/** The lines of every fenced block that directly follows the marker, in order; blank lines dropped. */
function quickStartLines(readme: string): string[] {
  const lines = readme.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARKER) continue;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === "") j++;
    if (!/^```(sh|bash|console)?\s*$/.test(lines[j] ?? "")) throw new Error(`README line ${i + 1}: ${MARKER} must be followed by a fenced code block`);
    for (j++; j < lines.length && !lines[j]!.startsWith("```"); j++) if (lines[j]!.trim() !== "") out.push(lines[j]!);
    if (j >= lines.length) throw new Error(`README line ${i + 1}: the quick-start block is never closed`);
  }
  return out;
}

/** The line without a trailing `# comment` (a `#` after whitespace, outside quotes), as bash reads it. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A free loopback port: bound, read, released (both ports are picked before either is released). */
function freePorts(n: number): number[] {
  const servers = Array.from({ length: n }, () => Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() }));
  const ports = servers.map((s) => s.port!);
  for (const s of servers) s.stop(true);
  return ports;
}

interface Background {
  command: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  stderr: () => string;
}

const background: Background[] = [];
let home: string | undefined;

afterAll(async () => {
  for (const b of background) {
    if (b.proc.exitCode === null) b.proc.kill("SIGTERM");
    const timer = setTimeout(() => b.proc.kill("SIGKILL"), 15_000);
    await b.proc.exited;
    clearTimeout(timer);
  }
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Machine-wide files that would change what the quick start does (and `hub add` would write into /etc). */
const systemFiles = ["lmcp.toml", "hub.toml", "backends.toml", "token", "hub-token"].map((f) => join("/etc/lmcp", f)).filter((f) => existsSync(f));
if (systemFiles.length > 0) console.warn(`skipping the README quick start: ${systemFiles.join(", ")} exist(s), so lmcp would use them instead of HOME's files`);

test.skipIf(systemFiles.length > 0)(
  "the README's quick start, word for word: serve, client-config, a call; hub add, the hub, hosts, a remote call",
  async () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const lines = quickStartLines(readme);
    expect(lines.length).toBeGreaterThan(0);

    home = mkdtempSync(join(tmpdir(), "lmcp-quickstart-"));
    const [servePort, hubPort] = freePorts(2).map(String) as [string, string];
    const lmcp = lmcpCommand().map(shellQuote).join(" ");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8" };
    const kernel = Bun.spawnSync(["uname", "-s"]).stdout.toString().trim();
    const tokenOf = (name: string) => readFileSync(join(home!, ".config/lmcp", name), "utf8").trim().split(/\s/)[0]!;
    let hostName: string | undefined;
    const seen = new Set<string>();

    for (const line of lines) {
      const original = stripComment(line);
      const m = /^(?:npx )?lmcp(?= |$)(.*)$/.exec(original);
      if (!m) throw new Error(`a quick-start line that is not an lmcp command (add a check for it here): ${line}`);
      const rest = m[1]!.trim();
      const inBackground = rest.endsWith("&");
      const args = inBackground ? rest.slice(0, -1).trim() : rest;
      const command = `${lmcp} ${args}`.replace(new RegExp(`:${README_PORTS.serve}\\b`, "g"), `:${servePort}`).replace(new RegExp(`:${README_PORTS.hub}\\b`, "g"), `:${hubPort}`);
      const hub = /(^| )--hub( |$)/.test(args);

      if (inBackground) {
        const proc = Bun.spawn(["bash", "-c", `exec ${command}`], { cwd: repoRoot, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
        let stderr = "";
        (async () => {
          const decoder = new TextDecoder();
          for await (const chunk of proc.stderr) stderr += decoder.decode(chunk, { stream: true });
        })();
        background.push({ command: args, proc, stderr: () => stderr });
        const listening = await waitFor(`"${args}" to listen`, () => {
          const found = /listening on (\S+)/.exec(stderr);
          if (found) return found[1];
          if (proc.exitCode !== null) throw new Error(`"${line}" exited with ${proc.exitCode} before listening:\n${stderr}`);
          return undefined;
        }, 20_000);
        if (/^serve\b/.test(args)) {
          expect(listening).toBe(`http://127.0.0.1:${servePort}/mcp`);
          expect(statSync(join(home, ".config/lmcp/token")).mode & 0o777).toBe(0o600);
          seen.add("serve");
        } else if (/^hub(?! add)\b/.test(args)) {
          expect(listening).toBe(`http://127.0.0.1:${hubPort}/mcp`);
          expect(existsSync(join(home, ".config/lmcp/hub-token"))).toBe(true);
          seen.add("hub");
        } else throw new Error(`no check for the background command: ${line}`);
        continue;
      }

      const proc = Bun.spawn(["bash", "-c", command], { cwd: repoRoot, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const killer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      clearTimeout(killer);
      const what = `"${line}" exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
      expect(code, what).toBe(0);

      if (/^client-config\b/.test(args)) {
        const [name, port, token] = hub ? ["lmcp-hub", hubPort, tokenOf("hub-token")] : ["lmcp", servePort, tokenOf("token")];
        expect(stdout, what).toContain(`claude mcp add --transport http '${name}' 'http://127.0.0.1:${port}/mcp' --header 'Authorization: Bearer ${token}'`);
        seen.add(hub ? "hub client-config" : "client-config");
      } else if (/^call\b/.test(args) && !hub) {
        expect(stdout, what).toContain(kernel);
        expect(stdout, what).toContain("[exit 0");
        seen.add("call");
      } else if (/^call\b/.test(args) && hub) {
        expect(hostName, "a remote call comes after hub add").toBeDefined();
        expect(stdout, what).toContain(`[${hostName} via lmcp]`);
        expect(stdout, what).toContain(kernel);
        seen.add("remote call");
      } else if (/^hub add\b/.test(args)) {
        hostName = /^hub add (\S+)/.exec(args)![1]!;
        const registry = readFileSync(join(home, ".config/lmcp/backends.toml"), "utf8");
        expect(registry).toContain(`name = "${hostName}"`);
        expect(registry).toContain(`url = "http://127.0.0.1:${servePort}/mcp"`);
        seen.add("hub add");
      } else if (/^hosts\b/.test(args)) {
        expect(stdout, what).toMatch(new RegExp(`^${hostName}\\s+up\\s+lmcp\\b`, "m"));
        seen.add("hosts");
      } else throw new Error(`no check for the quick-start command: ${line}`);
    }

    expect([...seen].sort()).toEqual(["call", "client-config", "hosts", "hub", "hub add", "hub client-config", "remote call", "serve"].sort());
  },
  120_000,
);
