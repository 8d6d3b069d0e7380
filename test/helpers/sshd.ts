// Starts a real OpenSSH server on 127.0.0.1 (a free port, its own host key,
// client key and config in a temp dir) for the SSH fallback tests, and
// returns {port, target, sshOptions, stop}. Every wait polls with a deadline.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SSHD = "/usr/sbin/sshd";

export interface StartedSshd {
  port: number;
  /** `root@127.0.0.1`, or `${user}@127.0.0.1` when the tests do not run as root. */
  target: string;
  /** Extra ssh arguments that make the client trust this server and use its key. */
  sshOptions: string[];
  /** What sshd wrote to its log so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago: bind port 0 on 127.0.0.1, read it, close. */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function run(argv: string[], timeoutMs = 10_000): Promise<{ code: number | null; out: string; err: string }> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, out, err };
  } finally {
    clearTimeout(timer);
  }
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    sock.end();
    return true;
  } catch {
    return false;
  }
}

/** This uid's passwd entry: sshd logs the user in with this name and home, whatever $HOME says. */
export function loginUser(): { name: string; home: string } {
  const uid = process.getuid?.() ?? 0;
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && Number(f[2]) === uid) return { name: f[0]!, home: f[5]! };
  }
  throw new Error(`uid ${uid} has no entry in /etc/passwd, so sshd cannot log it in`);
}

export async function startSshd(timeoutMs = 15_000): Promise<StartedSshd> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} not found: install OpenSSH's server and client first (Debian/Ubuntu: apt-get install -y openssh-server openssh-client)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "lmcp-sshd-"));
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  for (const key of [hostKey, clientKey]) {
    const r = await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lmcp-test", "-f", key]);
    if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.err}`);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  // sshd's privilege separation directory; a package install creates it only at boot.
  if (!existsSync("/run/sshd") && process.getuid?.() === 0) mkdirSync("/run/sshd", { mode: 0o755 });

  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "MaxStartups 100:30:200",
      "MaxSessions 100",
      "",
    ].join("\n"),
  );
  const logPath = join(dir, "sshd.log");
  const proc = Bun.spawn([SSHD, "-D", "-e", "-f", config], { stdin: "ignore", stdout: Bun.file(logPath), stderr: Bun.file(logPath) });
  const logs = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const user = loginUser().name;
  const target = `${user}@127.0.0.1`;
  const sshOptions = ["-i", clientKey, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "LogLevel=ERROR"];

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    proc.kill("SIGTERM");
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
    if (!exited) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`sshd exited with code ${proc.exitCode}: ${logs()}`);
      if (await canConnect(port)) {
        const r = await run(["ssh", ...sshOptions, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", String(port), "--", target, "true"]);
        if (r.code === 0) break;
        last = r.err;
      }
      if (Date.now() > deadline) throw new Error(`sshd on 127.0.0.1:${port} did not accept a login within ${timeoutMs} ms: ${last}\n${logs()}`);
      await Bun.sleep(20);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, target, sshOptions, logs, stop };
}
