// remote_copy end to end: a real hub, two real lmcp backends and a real sshd on
// 127.0.0.1 for SSH-only hosts. 64 MiB between two lmcp hosts and with either
// side over SSH; the mode kept; progress as it goes; a cancelled copy leaves
// nothing at the destination; policy refusals; read-only tokens refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, resultText, rpc, startServer, waitFor } from "../helpers/server.ts";
import { type StartedSshd, startSshd } from "../helpers/sshd.ts";

const MiB = 1024 * 1024;
const FULL = `full-${crypto.randomUUID()}`;
const READER = `reader-${crypto.randomUUID()}`;

let dir: string;
let inside: string;
let sshd: StartedSshd;
let alpha: StartedServer;
let beta: StartedServer;
let hub: StartedServer;
let client: Client;
let source: string;
let sourceSha: string;

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-rcopy-"));
  inside = join(dir, "inside");
  mkdirSync(inside);
  // Started one after the other, so a failing start leaves nothing behind for afterAll to miss.
  sshd = await startSshd();
  alpha = await startServer({ args: ["--name", "alpha"] });
  beta = await startServer({ args: ["--name", "beta"] });
  const ssh = { ssh: sshd.target, ssh_port: sshd.port, ssh_options: sshd.sshOptions };
  hub = await startHub(
    [
      { name: "alpha", url: alpha.url, token: alpha.token },
      { name: "beta", url: beta.url, token: beta.token },
      { name: "sshonly", ...ssh },
      { name: "confined", ...ssh, allowed_paths: [inside] },
    ],
    { registryDir: dir, tokenFileText: `${FULL}\n${READER} read-only\n`, env: { LMCP_HUB_PROBE_TIMEOUT: "2", LMCP_HUB_SSH_HARD_TIMEOUT: "60" } },
  );
  client = await connect(hub, FULL);
  // 64 MiB that do not repeat, so a chunk out of place cannot go unnoticed.
  const bytes = Buffer.allocUnsafe(64 * MiB);
  for (let i = 0; i * 32 < bytes.length; i++) new Bun.CryptoHasher("sha256").update(`block-${i}`).digest().copy(bytes, i * 32);
  source = join(dir, "source.bin");
  writeFileSync(source, bytes);
  chmodSync(source, 0o640);
  sourceSha = sha(bytes);
});
afterAll(async () => {
  await client?.close();
  await Promise.all([hub?.stop(), alpha?.stop(), beta?.stop(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

type Copied = { from: { via: string }; to: { via: string; path: string }; bytes_written: number; sha256: string; mode: string; created: boolean };
const copied = (r: CallToolResult) => r.structuredContent as Copied;
const tempsIn = (d: string) => readdirSync(d).filter((n) => n.includes(".lmcp-tmp-"));

describe("remote_copy", () => {
  test("64 MiB between two lmcp hosts: verified, mode kept, progress as it goes", async () => {
    const to = join(dir, "via-lmcp", "copy.bin");
    const progress: number[] = [];
    const r = (await client.callTool(
      { name: "remote_copy", arguments: { from_host: "alpha", from_path: source, to_host: "beta", to_path: to } },
      { onprogress: (p) => void progress.push(p.progress), timeout: 120_000 },
    )) as CallToolResult;
    expect(r.isError, resultText(r)).toBeFalsy();
    expect(copied(r)).toMatchObject({ from: { via: "lmcp" }, to: { via: "lmcp", path: to }, bytes_written: 64 * MiB, sha256: sourceSha, mode: "0640", created: true });
    expect(sha(readFileSync(to))).toBe(sourceSha);
    expect(statSync(to).mode & 0o7777).toBe(0o640);
    expect(progress.length).toBe(32); // 2 MiB chunks between lmcp hosts
    expect(progress.at(-1)).toBe(64 * MiB);
    expect(tempsIn(join(dir, "via-lmcp"))).toEqual([]);
  }, 60_000);

  // Each chunk over SSH is one ssh session, and bash reads a script byte by byte: writes over SSH are slow, so that
  // direction gets a file of three 2 MiB chunks (still crossing chunk boundaries) and the 64 MiB go the other way.
  test("64 MiB with the source over SSH; a three-chunk file with the destination over SSH", async () => {
    const out = join(dir, "from-ssh", "copy.bin");
    const r1 = await callTool(client, "remote_copy", { from_host: "sshonly", from_path: source, to_host: "beta", to_path: out });
    expect(r1.isError, resultText(r1)).toBeFalsy();
    expect(copied(r1)).toMatchObject({ from: { via: "ssh" }, to: { via: "lmcp" }, bytes_written: 64 * MiB, sha256: sourceSha, mode: "0640" });
    expect(statSync(out).mode & 0o7777).toBe(0o640);
    expect(sha(readFileSync(out))).toBe(sourceSha);

    const part = join(dir, "part.bin");
    const bytes = readFileSync(source).subarray(0, 5 * MiB + 123);
    writeFileSync(part, bytes);
    const mid = join(dir, "to-ssh", "copy.bin");
    const r2 = await callTool(client, "remote_copy", { from_host: "alpha", from_path: part, to_host: "sshonly", to_path: mid, mode: "0600" });
    expect(r2.isError, resultText(r2)).toBeFalsy();
    expect(copied(r2)).toMatchObject({ from: { via: "lmcp" }, to: { via: "ssh" }, bytes_written: bytes.length, sha256: sha(bytes), mode: "0600" });
    expect(statSync(mid).mode & 0o7777).toBe(0o600);
    expect(sha(readFileSync(mid))).toBe(sha(bytes));
    expect([...tempsIn(join(dir, "from-ssh")), ...tempsIn(join(dir, "to-ssh"))]).toEqual([]);
  }, 90_000);

  for (const to_host of ["beta", "sshonly"]) {
    test(`a cancelled copy (destination ${to_host}) leaves no file and no temp at the destination`, async () => {
      const toDir = join(dir, `cancel-${to_host}`);
      const to = join(toDir, "copy.bin");
      const abort = new AbortController();
      const seen: number[] = [];
      const pending = client
        .callTool(
          { name: "remote_copy", arguments: { from_host: "alpha", from_path: source, to_host, to_path: to, chunk_bytes: 1 * MiB } },
          {
            signal: abort.signal,
            timeout: 120_000,
            onprogress: (p) => {
              seen.push(p.progress);
              if (seen.length === 3) abort.abort("the test cancels");
            },
          },
        )
        .catch((e: Error) => e);
      expect(await pending).toBeInstanceOf(Error);
      expect(seen.length).toBeGreaterThanOrEqual(3);
      // The hub discards the upload once the chunk in flight has ended.
      await waitFor("the destination's temp file to go", () => tempsIn(toDir).length === 0 || undefined, 15_000);
      expect(() => statSync(to)).toThrow();
    });
  }

  test("secrets and paths outside allowed_paths are refused, and nothing is created", async () => {
    const secret = await callTool(client, "remote_copy", { from_host: "alpha", from_path: alpha.tokenFile, to_host: "beta", to_path: join(dir, "stolen") });
    expect(secret.isError).toBe(true);
    expect(resultText(secret)).toContain("secrets");
    // Over SSH the remote program refuses the hub's own files (its token file here) as lmcp refuses its secrets.
    const overSsh = await callTool(client, "remote_copy", { from_host: "sshonly", from_path: hub.tokenFile, to_host: "beta", to_path: join(dir, "stolen") });
    expect(overSsh.isError).toBe(true);
    expect(resultText(overSsh)).toContain("secrets");
    const outside = join(dir, "outside", "copy.bin");
    const r = await callTool(client, "remote_copy", { from_host: "alpha", from_path: source, to_host: "confined", to_path: outside });
    expect(r.isError).toBe(true);
    expect(resultText(r)).toContain("allowed_paths");
    const small = join(dir, "small.txt");
    writeFileSync(small, "small\n");
    const ok = await callTool(client, "remote_copy", { from_host: "alpha", from_path: small, to_host: "confined", to_path: join(inside, "copy.txt") });
    expect(copied(ok)).toMatchObject({ to: { via: "ssh" }, sha256: sha(Buffer.from("small\n")) });
    expect(readFileSync(join(inside, "copy.txt"), "utf8")).toBe("small\n");
    const protectedKeys = await callTool(client, "remote_copy", { from_host: "alpha", from_path: source, to_host: "beta", to_path: join(dir, ".ssh", "authorized_keys") });
    expect(resultText(protectedKeys)).toContain("protected");
    for (const p of [join(dir, "stolen"), outside, join(dir, ".ssh", "authorized_keys")]) expect(() => statSync(p), p).toThrow();
  });

  test("unknown hosts and missing files get errors that say what to do", async () => {
    const unknown = await callTool(client, "remote_copy", { from_host: "nowhere", from_path: source, to_host: "beta", to_path: join(dir, "x") });
    expect(resultText(unknown)).toContain('unknown host "nowhere"');
    const missing = await callTool(client, "remote_copy", { from_host: "sshonly", from_path: join(dir, "nope"), to_host: "beta", to_path: join(dir, "x") });
    expect(missing.isError).toBe(true);
    expect(resultText(missing)).toContain("no such file");
  });

  test("a read-only token can neither copy nor write in chunks", async () => {
    for (const [name, args] of [
      ["remote_copy", { from_host: "alpha", from_path: source, to_host: "beta", to_path: join(dir, "ro-copy") }],
      ["remote_transfer_write", { host: "beta", path: join(dir, "ro-write"), data_base64: "AAAA" }],
    ] as const) {
      const res = await rpc({ url: hub.url, token: READER }, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } });
      const body = (await res.json()) as { error: { code: number; message: string } };
      expect(body.error.code, name).toBe(-32602);
      expect(body.error.message).toContain("read-only");
    }
    expect(() => statSync(join(dir, "ro-copy"))).toThrow();
  });
});
