// Starts a real `lmcp` process on 127.0.0.1 port 0 (from source, or the compiled
// binary when LMCP_BIN is set or `binary` is asked for) with its own HOME, token
// and state dir, and returns {url, token, stop}. Every wait polls with a deadline.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type CallToolResult, Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

export const repoRoot = resolve(import.meta.dir, "../..");
export const bunPath = process.execPath;

/** argv prefix that runs lmcp: the compiled binary if LMCP_BIN names one, else the source with this bun. */
export function lmcpCommand(binary?: string): string[] {
  const bin = binary ?? process.env.LMCP_BIN;
  return bin ? [resolve(bin)] : [bunPath, join(repoRoot, "src/cli/main.ts")];
}

export interface StartedServer {
  url: string;
  base: string;
  token: string;
  home: string;
  tokenFile: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server wrote to stderr so far. */
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Use this token file content instead of a fresh single token. */
  tokenFileText?: string;
  /** Don't pass --token-file (to test the minting default). */
  noTokenFile?: boolean;
  binary?: string;
  command?: "serve" | "hub";
  /** Reuse this HOME (and its token and state) instead of a fresh one; the caller removes it. */
  home?: string;
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export async function startServer(opts: StartOptions = {}): Promise<StartedServer> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), "lmcp-home-"));
  const tokenFile = join(home, "token");
  const existing = opts.home && existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : undefined;
  const token = existing ?? "test-token-" + crypto.randomUUID();
  if (!opts.noTokenFile && !existing) writeFileSync(tokenFile, opts.tokenFileText ?? `${token}\n`, { mode: 0o600 });
  const args = [
    ...lmcpCommand(opts.binary),
    opts.command ?? "serve",
    "--listen",
    "127.0.0.1:0",
    ...(opts.noTokenFile ? [] : ["--token-file", tokenFile]),
    ...(opts.args ?? []),
  ];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_STATE_HOME: join(home, ".state"),
    LANG: "C.UTF-8",
    ...opts.env,
  };
  const proc = Bun.spawn(args, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let stderr = "";
  (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  let url: string;
  try {
    url = await waitFor("the server's start-up line", () => {
      const m = /listening on (\S+)/.exec(stderr);
      if (m) return m[1];
      if (proc.exitCode !== null) throw new Error(`lmcp exited with ${proc.exitCode} before listening:\n${stderr}`);
      return undefined;
    });
  } catch (err) {
    // A server that never listened is still this helper's to stop, and its HOME to remove.
    proc.kill("SIGKILL");
    await proc.exited;
    if (!opts.home) rmSync(home, { recursive: true, force: true });
    throw err;
  }
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (proc.exitCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    const code = await proc.exited;
    clearTimeout(timer);
    if (!opts.home) rmSync(home, { recursive: true, force: true });
    return code;
  };
  return { url: url!, base: url!.replace(/\/mcp$/, ""), token, home, tokenFile, proc, logs: () => stderr, stop };
}

/**
 * The SDK's real (v2) client, connected with the server's token. It speaks 2026-07-28 (pinned, so a silent
 * fall-back to 2025 would fail the test); `era: "legacy"` makes it speak 2025 (initialize) instead.
 */
export async function connect(server: { url: string; token: string }, token = server.token, era: "modern" | "legacy" = "modern"): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(server.url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: "lmcp-test", version: "0.0.0" },
    { versionNegotiation: { mode: era === "modern" ? { pin: "2026-07-28" } : "legacy" } },
  );
  await client.connect(transport);
  return client;
}

/** Calls tool `name` through the SDK client. */
export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** A tool result's text: its text parts, one per line. */
export function resultText(r: CallToolResult): string {
  return r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
}

/** A raw JSON-RPC POST with the usual headers; `headers` override them. */
export function rpc(server: { url: string; token: string }, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(server.url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${server.token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a command to write its pid to `file`, and returns it. */
export function waitForPidFile(file: string): Promise<number> {
  return waitFor(`a pid in ${file}`, () => {
    const text = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
    return text ? Number(text) : undefined;
  });
}

/** Gone, or a zombie nobody has reaped yet (it can no longer run). */
export function processGone(pid: number): boolean {
  if (!pidAlive(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}
