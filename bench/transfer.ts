// `bun bench/transfer.ts [--binary B] [--mib N] [--ssh-mib N] [--runs N]`: file
// transfer on loopback (issue 14, bench rows):
// - transfer_read and transfer_write of a 1 GiB file (each chunk a tools/call
//   over HTTP, the client hashing and storing what it gets), against `cp` of
//   the same file on the same disk (and `cp` + `sync`, as transfer_write fsyncs);
// - remote_copy of that file between two lmcp hosts through a hub, with the
//   hub's peak RSS (VmHWM; goal ≤ 150 MB whatever the file size), and with one
//   side over SSH (a real sshd on 127.0.0.1, smaller file: see --ssh-mib).
// Without --binary, lmcp runs from source with this bun. Prints a table and puts
// it in bench/results.md under its own heading (other sections are left alone).
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startSshd, type StartedSshd } from "../test/helpers/sshd.ts";
import { benchDir, bun, fmt, freePort, machineFacts, pingReady, repoRoot, type Stat, spread, startProcess, stat, type Proc } from "./lib.ts";

const { values } = parseArgs({ options: { binary: { type: "string" }, mib: { type: "string" }, "ssh-mib": { type: "string" }, runs: { type: "string" } } });
const lmcp = values.binary ? [values.binary] : [bun, join(repoRoot, "src/cli/main.ts")];
const MIB = Number(values.mib ?? 1024);
const SSH_MIB = Number(values["ssh-mib"] ?? 64);
const RUNS = Number(values.runs ?? 3);
const CHUNK = 4 * 1024 * 1024;
const TOKEN = "bench-token";
const HEADING = "## File transfer";
const work = mkdtempSync(join(benchDir, ".work-transfer-"));
const started: Proc[] = [];

const vmHwmMB = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

let rpcId = 0;
/** One tools/call as a 2025-era client sends it; the tool's structuredContent, or a thrown error. */
async function call(url: string, name: string, args: Record<string, unknown>, token = TOKEN): Promise<Record<string, unknown>> {
  const r = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25" },
    body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name, arguments: args } }),
  });
  const text = await r.text();
  const json = text.startsWith("{") ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? "{}");
  const body = JSON.parse(json) as { result?: { isError?: boolean; structuredContent?: Record<string, unknown>; content?: { text?: string }[] }; error?: { message: string } };
  if (body.error) throw new Error(`${name}: ${body.error.message}`);
  if (!body.result || body.result.isError) throw new Error(`${name}: ${body.result?.content?.[0]?.text ?? text.slice(0, 300)}`);
  return body.result.structuredContent ?? {};
}

async function serve(command: "serve" | "hub", home: string, extra: string[] = [], env: Record<string, string> = {}): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const proc = await startProcess(
    [...lmcp, command, "--listen", `127.0.0.1:${port}`, ...extra],
    { HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_STATE_HOME: join(home, "state"), LMCP_TOKEN: TOKEN, ...env },
    pingReady(url, TOKEN),
  );
  started.push(proc);
  return { url, proc };
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
}

function run(argv: string[]): void {
  const r = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
}

/** Downloads `path` with transfer_read into `out`, hashing as it goes; checks the server's sha256. */
async function download(url: string, path: string, out: string): Promise<void> {
  const fd = openSync(out, "w");
  const h = new Bun.CryptoHasher("sha256");
  try {
    for (let offset = 0; ; ) {
      const d = await call(url, "transfer_read", { path, offset });
      const bytes = Buffer.from(d.data_base64 as string, "base64");
      h.update(bytes);
      writeSync(fd, bytes);
      offset = d.next_offset as number;
      if (d.eof) {
        if (d.sha256 !== h.digest("hex")) throw new Error("transfer_read: sha256 mismatch");
        return;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Uploads `path` to `to` with transfer_write, 4 MiB a call, final with the sha256. */
async function upload(url: string, path: string, to: string): Promise<void> {
  const size = statSync(path).size;
  const fd = openSync(path, "r");
  const h = new Bun.CryptoHasher("sha256");
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    let id: string | undefined;
    for (let offset = 0; ; ) {
      const n = readSync(fd, buf, 0, CHUNK, offset);
      const chunk = buf.subarray(0, n);
      h.update(chunk);
      const last = offset + n >= size;
      const d = await call(url, "transfer_write", { path: to, offset, data_base64: chunk.toString("base64"), ...(id ? { upload_id: id } : {}), ...(last ? { final: { sha256: h.digest("hex") } } : {}) });
      id = d.upload_id as string;
      offset += n;
      if (last) {
        if (d.done !== true) throw new Error("transfer_write: not done at the end");
        return;
      }
    }
  } finally {
    closeSync(fd);
  }
}

const rows: string[] = [];
const row = (what: string, measured: string, reference: string, ratio: string, goal: string, result: string) => {
  const line = `| ${what} | ${measured} | ${reference} | ${ratio} | ${goal} | ${result} |`;
  console.log(line);
  rows.push(line);
};
const mibps = (mib: number, s: Stat): Stat => ({ median: mib / s.median, min: mib / s.max, max: mib / s.min });
let sshd: StartedSshd | undefined;

try {
  const src = join(work, "source.bin");
  run(["dd", "if=/dev/urandom", `of=${src}`, "bs=1M", `count=${MIB}`, "status=none"]);
  const srcSha = sha(readFileSync(src));
  const copyTo = join(work, "copy.bin");

  // cp: the same file, the same disk, the page cache warm for both.
  const cpTimes: number[] = [];
  const cpSyncTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rmSync(copyTo, { force: true });
    cpTimes.push(await timed(async () => run(["cp", src, copyTo])));
    rmSync(copyTo, { force: true });
    cpSyncTimes.push(await timed(async () => run(["sh", "-c", `cp "$0" "$1" && sync "$1"`, src, copyTo])));
  }
  rmSync(copyTo, { force: true });
  const cp = stat(cpTimes);
  const cpSync = stat(cpSyncTimes);

  const home = join(work, "home-a");
  const a = await serve("serve", home);
  const readTimes: number[] = [];
  const writeTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rmSync(copyTo, { force: true });
    readTimes.push(await timed(() => download(a.url, src, copyTo)));
    if (sha(readFileSync(copyTo)) !== srcSha) throw new Error("download differs from the source");
    rmSync(copyTo, { force: true });
    writeTimes.push(await timed(() => upload(a.url, src, copyTo)));
    if (sha(readFileSync(copyTo)) !== srcSha) throw new Error("upload differs from the source");
  }
  rmSync(copyTo, { force: true });
  const serverPeak = vmHwmMB(a.proc.proc.pid);
  const rd = stat(readTimes);
  const wr = stat(writeTimes);
  const cpRate = mibps(MIB, cp);
  row(`transfer_read of ${MIB} MiB, MiB/s (4 MiB chunks, client stores and hashes)`, spread(mibps(MIB, rd), 0), `cp ${spread(cpRate, 0)}`, `${fmt(cp.median / rd.median * 100, 0)} % of cp`, "(information)", "-");
  row(
    `transfer_write of ${MIB} MiB, MiB/s (4 MiB chunks, sha256 checked, fsync, rename)`,
    spread(mibps(MIB, wr), 0),
    `cp ${spread(cpRate, 0)}; cp + sync ${spread(mibps(MIB, cpSync), 0)}`,
    `${fmt(cp.median / wr.median * 100, 0)} % of cp, ${fmt(cpSync.median / wr.median * 100, 0)} % of cp + sync`,
    "(information)",
    "-",
  );
  row("lmcp serve peak RSS over those transfers (MB)", fmt(serverPeak, 0), "-", "-", "(information)", "-");

  // remote_copy between two lmcp hosts through a hub.
  const b = await serve("serve", join(work, "home-b"));
  sshd = await startSshd();
  const registry = join(work, "backends.toml");
  const ssh = `ssh = ${JSON.stringify(sshd.target)}\nssh_port = ${sshd.port}\nssh_options = ${JSON.stringify(sshd.sshOptions)}`;
  writeFileSync(
    registry,
    `[[backend]]\nname = "a"\nurl = ${JSON.stringify(a.url)}\ntoken = "${TOKEN}"\n\n[[backend]]\nname = "b"\nurl = ${JSON.stringify(b.url)}\ntoken = "${TOKEN}"\n\n[[backend]]\nname = "s"\n${ssh}\n`,
  );
  const hub = await serve("hub", join(work, "home-hub"), ["--backends", registry], { LMCP_HUB_SSH_HARD_TIMEOUT: "120" });
  const hubPid = hub.proc.proc.pid;
  const hubIdle = vmHwmMB(hubPid);
  const copyTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rmSync(copyTo, { force: true });
    copyTimes.push(await timed(async () => void (await call(hub.url, "remote_copy", { from_host: "a", from_path: src, to_host: "b", to_path: copyTo }))));
    if (sha(readFileSync(copyTo)) !== srcSha) throw new Error("remote_copy differs from the source");
  }
  rmSync(copyTo, { force: true });
  const hubPeak = vmHwmMB(hubPid);
  const rc = stat(copyTimes);
  row(`remote_copy of ${MIB} MiB between two lmcp hosts, MiB/s`, spread(mibps(MIB, rc), 0), `cp ${spread(cpRate, 0)}`, `${fmt(cp.median / rc.median * 100, 0)} % of cp`, "(information)", "-");
  row(`hub peak RSS (VmHWM) over ${RUNS} copies of ${MIB} MiB (MB)`, fmt(hubPeak, 0), `hub idle peak ${fmt(hubIdle, 0)} MB`, `+${fmt(hubPeak - hubIdle, 0)} MB`, "≤ 150 MB", hubPeak <= 150 ? "pass" : "**FAIL**");

  // With one side over SSH: a smaller file, as every chunk is one ssh session.
  const small = join(work, "small.bin");
  run(["dd", `if=${src}`, `of=${small}`, "bs=1M", `count=${SSH_MIB}`, "status=none"]);
  const viaSsh = join(work, "via-ssh.bin");
  const toSsh = await timed(async () => void (await call(hub.url, "remote_copy", { from_host: "a", from_path: small, to_host: "s", to_path: viaSsh })));
  const fromSsh = await timed(async () => void (await call(hub.url, "remote_copy", { from_host: "s", from_path: viaSsh, to_host: "b", to_path: copyTo })));
  if (sha(readFileSync(copyTo)) !== sha(readFileSync(small))) throw new Error("remote_copy over ssh differs from the source");
  row(`remote_copy of ${SSH_MIB} MiB, lmcp → SSH destination, MiB/s`, fmt(SSH_MIB / toSsh, 1), "-", "-", "(information)", "-");
  row(`remote_copy of ${SSH_MIB} MiB, SSH source → lmcp, MiB/s`, fmt(SSH_MIB / fromSsh, 1), "-", "-", "(information)", "-");
  row("hub peak RSS after the SSH copies too (MB)", fmt(vmHwmMB(hubPid), 0), "-", "-", "≤ 150 MB", vmHwmMB(hubPid) <= 150 ? "pass" : "**FAIL**");
} finally {
  for (const p of started.reverse()) await p.stop().catch(() => {});
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
}

const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const section = [
  `${HEADING} (bun bench/transfer.ts, ${new Date().toISOString().slice(0, 10)})`,
  "",
  `Machine: ${machineFacts()}; load average after the run ${load}. lmcp: ${values.binary ? `\`${values.binary.replace(`${repoRoot}/`, "")}\`` : "from source (bun src/cli/main.ts)"}; ` +
    `loopback HTTP, 2025-era tools/call from fetch, one call at a time; audit log on (default). Each figure: median of ${RUNS} runs (min–max), page cache warm.`,
  "",
  "| what | measured | reference | ratio | goal | result |",
  "|---|---|---|---|---|---|",
  ...rows,
  "",
].join("\n");
console.log(`\n${section}`);
const path = join(benchDir, "results.md");
const current = readFileSync(path, "utf8");
const start = current.indexOf(`\n${HEADING}`);
let next = start < 0 ? -1 : current.indexOf("\n## ", start + 1);
if (next < 0) next = current.length;
writeFileSync(path, start < 0 ? `${current.replace(/\n*$/, "\n")}\n${section}` : `${current.slice(0, start)}\n${section}${current.slice(next)}`);
console.log(`wrote the "${HEADING}" section of bench/results.md`);
