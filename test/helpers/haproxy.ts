// Starts Debian's haproxy on a free 127.0.0.1 port in front of N lmcp HTTP
// listeners (hubs): mode http, roundrobin, GET /healthz checks, config and admin
// socket in a temp dir removed by stop(). servers() reads the admin socket.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./server.ts";

/** Debian's haproxy, or one on PATH; undefined when neither exists. */
export const haproxyBin: string | undefined = ["/usr/sbin/haproxy", Bun.which("haproxy") ?? ""].find((p) => p !== "" && existsSync(p));
/** Why the HAProxy tests and bench rows cannot run here, or undefined when they can. */
export const haproxyMissing: string | undefined = haproxyBin ? undefined : "haproxy not found (/usr/sbin/haproxy or on PATH): apt-get install haproxy";

export interface HaproxyBackend {
  /** The server's name in HAProxy (stats, logs). */
  name: string;
  /** Any URL of the listener (http://127.0.0.1:PORT/mcp); only host and port are used. */
  url: string;
}

export interface HaproxyOptions {
  /** Health check period in ms (default 200): a dead hub is marked down within about fall × fastinter after it dies. */
  checkMs?: number;
  /** Where the temp dir goes (default the system's; the bench keeps it under bench/.work-*). */
  parentDir?: string;
  /** One log line per request (server picked, timings, termination state) in logs(); off by default, as it costs under load. */
  requestLog?: boolean;
}

/** One server's line of `show stat`. */
export interface HaproxyServer {
  name: string;
  /** UP, DOWN, MAINT, "UP 1/2" while rising, "DOWN 1/2" while falling, … */
  status: string;
  /** Requests answered with 2xx through this server so far. */
  ok: number;
}

export interface StartedHaproxy {
  /** http://127.0.0.1:PORT/mcp: the MCP endpoint through HAProxy. */
  url: string;
  port: number;
  /** The config it runs, for docs and failure messages. */
  config: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** The backend's servers as HAProxy sees them now (from the admin socket). */
  servers(): Promise<HaproxyServer[]>;
  /** Polls (bounded) until HAProxy counts `name` down, and returns when it saw that. */
  waitDown(name: string, timeoutMs?: number): Promise<number>;
  /** Whatever HAProxy wrote (alerts, warnings). */
  logs(): string;
  stop(): Promise<void>;
}

const BACKEND = "hubs";

/** The config for these listeners; `dir` holds the admin socket. Exported so the docs quote what the tests run. */
export function haproxyConfig(port: number, backends: HaproxyBackend[], dir: string, checkMs = 200, requestLog = false): string {
  const servers = backends.map((b) => {
    const u = new URL(b.url);
    return `  server ${b.name} ${u.hostname}:${u.port} check`;
  });
  return [
    "global",
    `  stats socket ${join(dir, "admin.sock")} mode 600 level admin`,
    ...(requestLog ? ["  log stdout format raw local0"] : []),
    "",
    "defaults",
    "  mode http",
    ...(requestLog ? ["  log global", "  option httplog"] : []),
    // A connect that takes 500 ms (loopback, LAN) is a dead or wedged hub. A tool call may run up to an hour
    // (lmcp caps timeout_s at 3600) with no byte on the wire until its answer: the server and client timeouts
    // must not cut it first. An idle kept-alive client connection is closed after timeout http-request.
    "  timeout connect 500ms",
    "  timeout client 1h",
    "  timeout server 1h",
    "  timeout http-request 5s",
    "  timeout queue 5s",
    "  timeout check 500ms",
    // Retry only when the connection to a hub could not be made: the request never reached it, so nothing ran.
    // Not empty-response: a hub that dies mid-call closes the connection with no answer after its host may
    // have run the command (over NATS the host keeps running it), and a retry on the other hub runs it again
    // (with it, the in-flight remote_shell calls of test/nats/haproxy.test.ts ran twice). The client gets an
    // error and decides.
    "  retries 3",
    "  retry-on conn-failure",
    // A new connection to the hub per request (the client's own stays kept alive): a request is then never
    // written into a pooled connection the hub has just closed (it died, or its idle timeout fired), where it
    // would fail as an empty response; to a dead hub it is a refused connect, which the retry covers.
    "  option http-server-close",
    // Each retry goes to another hub (1 = every retry; plain `option redispatch` waits until the last one,
    // after two more tries at the dead hub and a turn-around pause before each).
    "  option redispatch 1",
    // A clearer 502 than HAProxy's HTML page: what happened, and that the call may have run. (A call that was
    // not the first on the client's kept-alive connection gets no 502: HAProxy closes that connection instead,
    // as a server closing a keep-alive connection would, and the client sees a reset.)
    '  http-error status 502 content-type text/plain string "502 bad gateway: the lmcp hub closed the connection without answering (it may have died during the call); the call may have run on its host: check before retrying"',
    '  http-error status 503 content-type text/plain string "503 service unavailable: no lmcp hub is up behind this load balancer"',
    "",
    "frontend mcp",
    `  bind 127.0.0.1:${port}`,
    `  default_backend ${BACKEND}`,
    "",
    `backend ${BACKEND}`,
    "  balance roundrobin",
    // /healthz answers 200 "ok" before any token or Host check and without touching the fleet: cheap on every hub.
    "  option httpchk",
    "  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1",
    "  http-check expect status 200",
    `  default-server inter ${checkMs}ms fastinter ${Math.max(50, Math.round(checkMs / 2))}ms downinter ${checkMs}ms fall 2 rise 2`,
    ...servers,
    "",
  ].join("\n");
}

/** One admin-socket command's whole answer (HAProxy closes the socket after it). */
function adminCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const c = createConnection(socket, () => c.end(`${command}\n`));
    c.setEncoding("utf8");
    c.setTimeout(5000, () => c.destroy(new Error(`haproxy admin socket: no answer to "${command}" in 5 s`)));
    c.on("data", (d: string) => (out += d));
    c.on("error", reject);
    c.on("close", () => resolve(out));
  });
}

function parseStat(csv: string): HaproxyServer[] {
  const [head, ...lines] = csv.trim().split("\n");
  const cols = (head ?? "").replace(/^# /, "").split(",");
  const at = (row: string[], col: string) => row[cols.indexOf(col)] ?? "";
  return lines
    .map((l) => l.split(","))
    .filter((r) => at(r, "pxname") === BACKEND && !["FRONTEND", "BACKEND"].includes(at(r, "svname")))
    .map((r) => ({ name: at(r, "svname"), status: at(r, "status"), ok: Number(at(r, "hrsp_2xx") || 0) }));
}

/** A port free a moment ago; HAProxy cannot bind port 0 and say which it got, so a taken one is retried. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

const running = (proc: Bun.Subprocess) => proc.exitCode === null && proc.signalCode === null;

async function startOnce(backends: HaproxyBackend[], opts: HaproxyOptions, dir: string): Promise<StartedHaproxy | "port taken"> {
  const port = freePort();
  const config = haproxyConfig(port, backends, dir, opts.checkMs, opts.requestLog);
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, config);
  const socket = join(dir, "admin.sock");
  rmSync(socket, { force: true });
  // -db: stay in the foreground (no daemon, no master), so this process is HAProxy and killing it ends it.
  const proc = Bun.spawn([haproxyBin!, "-db", "-f", file], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const chunk of s) out += d.decode(chunk, { stream: true });
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  const servers = async () => parseStat(await adminCommand(socket, "show stat"));
  const kill = async () => {
    if (running(proc)) proc.kill("SIGTERM"); // a hard stop for HAProxy: closes every connection now
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await proc.exited;
    clearTimeout(timer);
  };
  try {
    // Up once the admin socket answers and every hub has passed its checks.
    await waitFor("haproxy up with every hub passing its health check", async () => {
      if (!running(proc)) return "exited";
      if (!existsSync(socket)) return undefined;
      const s = await servers().catch(() => []);
      return s.length === backends.length && s.every((x) => x.status === "UP") ? "up" : undefined;
    });
  } catch (err) {
    await kill();
    throw new Error(`${(err as Error).message}\n${out}`);
  }
  if (!running(proc)) {
    await kill();
    if (/cannot bind socket|Address already in use/i.test(out)) return "port taken";
    throw new Error(`haproxy exited with ${proc.exitCode ?? proc.signalCode}:\n${out}\nconfig:\n${config}`);
  }
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    config,
    proc,
    servers,
    waitDown: async (name, timeoutMs = 10_000) => {
      await waitFor(`haproxy to mark ${name} down`, async () => ((await servers()).find((s) => s.name === name)?.status.startsWith("DOWN") ? true : undefined), timeoutMs);
      return performance.now();
    },
    logs: () => out,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** HAProxy in front of `backends`; every one must pass its health check before this returns. */
export async function startHaproxy(backends: HaproxyBackend[], opts: HaproxyOptions = {}): Promise<StartedHaproxy> {
  if (!haproxyBin) throw new Error(haproxyMissing);
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), "lmcp-haproxy-"));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = await startOnce(backends, opts, dir);
      if (started !== "port taken") return started;
    }
    throw new Error("haproxy: three free ports in a row were taken before it could bind them");
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
