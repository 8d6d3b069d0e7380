// transfer_read and transfer_write end to end: a real lmcp, the SDK client,
// 100 MiB files in a temp dir. Cuts mid-stream (the client goes away after
// some chunks) and resumes from the offsets the replies gave; a corrupted
// chunk fails the final sha256 and leaves the target as it was; the file
// policy, read-only tokens, the bound on pending uploads and the clean-up of
// a kill -9's temp file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { type StartedServer, callTool, connect, resultText, rpc, startServer, waitFor } from "../helpers/server.ts";

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const FULL = `full-${crypto.randomUUID()}`;
const READER = `reader-${crypto.randomUUID()}`;

let dir: string;
let inside: string;
let server: StartedServer;
let client: Client;
let big: Buffer;
let bigSha: string;

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
/** Bytes that do not repeat (a counter hashed), so a chunk written at the wrong offset cannot go unnoticed. */
function pseudoRandom(bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i * 32 < bytes; i++) new Bun.CryptoHasher("sha256").update(`block-${i}`).digest().copy(out, i * 32);
  return out;
}
type Data = Record<string, unknown> & { received: number; upload_id: string; done: boolean };
const data = <T = Data>(r: CallToolResult) => r.structuredContent as T;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-transfer-"));
  inside = join(dir, "inside");
  mkdirSync(inside);
  writeFileSync(join(dir, "outside.txt"), "outside\n");
  const config = join(dir, "lmcp.toml");
  writeFileSync(config, `allowed_paths = [${JSON.stringify(inside)}]\n`);
  server = await startServer({ args: ["--config", config], tokenFileText: `${FULL}\n${READER} read-only\n` });
  client = await connect(server, FULL);
  big = pseudoRandom(100 * MiB);
  bigSha = sha(big);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Files beside the target that are not the target: upload temp files left over. */
const leftovers = (d: string, name: string) => readdirSync(d).filter((n) => n !== name && n.includes(".lmcp-tmp-"));

describe("transfer_write", () => {
  test("a 100 MiB upload cut mid-stream resumes from the length the server reports, and verifies", async () => {
    const target = join(inside, "upload.bin");
    // First client: ten chunks, then it goes away without a word.
    const first = await connect(server, FULL);
    let id: string | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await callTool(first, "transfer_write", { path: target, offset: i * CHUNK, data_base64: big.subarray(i * CHUNK, (i + 1) * CHUNK).toString("base64"), ...(id ? { upload_id: id } : {}) });
      expect(r.isError, resultText(r)).toBeFalsy();
      id = data(r).upload_id;
      expect(data(r).received).toBe((i + 1) * CHUNK);
    }
    await first.close();
    expect(() => statSync(target)).toThrow(); // nothing at the target until the end
    expect(leftovers(inside, "upload.bin")).toHaveLength(1);

    // Second client: asks how much arrived, re-sends the last chunk (as if its reply had been lost), goes on.
    const status = await callTool(client, "transfer_write", { path: target, upload_id: id });
    expect(data(status)).toMatchObject({ received: 10 * CHUNK, done: false, bytes_written: 0 });
    let offset = 9 * CHUNK;
    while (offset < big.length) {
      const end = Math.min(offset + CHUNK, big.length);
      const last = end === big.length;
      const r = await callTool(client, "transfer_write", {
        path: target,
        upload_id: id,
        offset,
        data_base64: big.subarray(offset, end).toString("base64"),
        ...(last ? { final: { sha256: bigSha } } : {}),
      });
      expect(r.isError, resultText(r)).toBeFalsy();
      expect(data(r).received).toBe(end);
      if (last) expect(data(r)).toMatchObject({ done: true, sha256: bigSha, created: true, mode: "0644" });
      offset = end;
    }
    expect(sha(readFileSync(target))).toBe(bigSha);
    expect(leftovers(inside, "upload.bin")).toEqual([]);
    // The upload is over: its id is no longer accepted for more bytes.
    const after = await callTool(client, "transfer_write", { path: target, upload_id: id, offset: 5, data_base64: "AAAA" });
    expect(after.isError).toBe(true);
    expect(resultText(after)).toContain("no pending upload");
    rmSync(target);
  });

  test("a corrupted chunk fails the final sha256: the target keeps its old bytes and mode, no temp is left", async () => {
    const target = join(inside, "kept.bin");
    writeFileSync(target, "old content\n");
    chmodSync(target, 0o640);
    const file = big.subarray(0, 3 * CHUNK + 12345);
    let id: string | undefined;
    let r: CallToolResult | undefined;
    for (let offset = 0; offset < file.length; offset += CHUNK) {
      const chunk = Buffer.from(file.subarray(offset, offset + CHUNK));
      if (offset === CHUNK) chunk[777] = chunk[777]! ^ 0xff; // one bit pattern flipped in transit
      const last = offset + CHUNK >= file.length;
      r = await callTool(client, "transfer_write", { path: target, offset, data_base64: chunk.toString("base64"), ...(id ? { upload_id: id } : {}), ...(last ? { final: { sha256: sha(file) } } : {}) });
      id = (r.structuredContent as Data | undefined)?.upload_id ?? id;
    }
    expect(r!.isError).toBe(true);
    expect(resultText(r!)).toContain("sha256 mismatch");
    expect(resultText(r!)).toContain("unchanged");
    expect(readFileSync(target, "utf8")).toBe("old content\n");
    expect(statSync(target).mode & 0o777).toBe(0o640);
    expect(leftovers(inside, "kept.bin")).toEqual([]);
  });

  test("an existing file keeps its mode; final.mode sets one; an empty file works", async () => {
    const kept = join(inside, "mode-kept.sh");
    writeFileSync(kept, "#!/bin/sh\n");
    chmodSync(kept, 0o750);
    const body = Buffer.from("#!/bin/sh\necho new\n");
    const r = await callTool(client, "transfer_write", { path: kept, data_base64: body.toString("base64"), final: { sha256: sha(body) } });
    expect(data(r)).toMatchObject({ done: true, created: false, mode: "0750" });
    expect(statSync(kept).mode & 0o7777).toBe(0o750);
    expect(readFileSync(kept)).toEqual(body);

    const set = join(inside, "sub", "dir", "mode-set.bin");
    const r2 = await callTool(client, "transfer_write", { path: set, data_base64: body.toString("base64"), final: { sha256: sha(body), mode: "0604" } });
    expect(data(r2)).toMatchObject({ done: true, created: true, mode: "0604" });
    expect(statSync(set).mode & 0o7777).toBe(0o604);

    const empty = join(inside, "empty");
    const r3 = await callTool(client, "transfer_write", { path: empty, final: { sha256: sha(new Uint8Array(0)) } });
    expect(data(r3)).toMatchObject({ done: true, received: 0 });
    expect(statSync(empty).size).toBe(0);
  });

  test("cancel discards the upload and its temp file", async () => {
    const target = join(inside, "cancelled.bin");
    const r = await callTool(client, "transfer_write", { path: target, data_base64: big.subarray(0, 1000).toString("base64") });
    expect(leftovers(inside, "cancelled.bin")).toHaveLength(1);
    const c = await callTool(client, "transfer_write", { path: target, upload_id: data(r).upload_id, cancel: true });
    expect(data(c)).toMatchObject({ cancelled: true, done: false });
    expect(leftovers(inside, "cancelled.bin")).toEqual([]);
    expect(() => statSync(target)).toThrow();
  });

  test("bad requests get errors that say what to do", async () => {
    const target = join(inside, "bad.bin");
    const gap = await callTool(client, "transfer_write", { path: target, data_base64: "AAAA" });
    const id = data(gap).upload_id;
    const r = await callTool(client, "transfer_write", { path: target, upload_id: id, offset: 100, data_base64: "AAAA" });
    expect(resultText(r)).toContain("send the chunk that starts at offset 3");
    const other = await callTool(client, "transfer_write", { path: join(inside, "other.bin"), upload_id: id, offset: 3, data_base64: "AAAA" });
    expect(resultText(other)).toContain(`upload ${id} is for`);
    const b64 = await callTool(client, "transfer_write", { path: target, upload_id: id, offset: 3, data_base64: "not base64!" });
    expect(resultText(b64)).toContain("not valid base64");
    const fresh = await callTool(client, "transfer_write", { path: target, offset: 7, data_base64: "AAAA" });
    expect(resultText(fresh)).toContain("start again at offset 0");
    await callTool(client, "transfer_write", { path: target, upload_id: id, cancel: true });
  });

  test("pending uploads are capped; finishing or cancelling one frees a place", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 16; i++) {
      const r = await callTool(client, "transfer_write", { path: join(inside, `cap-${i}`), data_base64: "AAAA" });
      expect(r.isError, resultText(r)).toBeFalsy();
      ids.push(data(r).upload_id);
    }
    const over = await callTool(client, "transfer_write", { path: join(inside, "cap-16"), data_base64: "AAAA" });
    expect(over.isError).toBe(true);
    expect(resultText(over)).toContain("the limit is 16");
    await callTool(client, "transfer_write", { path: join(inside, "cap-0"), upload_id: ids[0], cancel: true });
    const now = await callTool(client, "transfer_write", { path: join(inside, "cap-16"), data_base64: "AAAA" });
    expect(now.isError, resultText(now)).toBeFalsy();
    ids[0] = data(now).upload_id;
    for (let i = 0; i < 16; i++) await callTool(client, "transfer_write", { path: join(inside, `cap-${i === 0 ? 16 : i}`), upload_id: ids[i], cancel: true });
    expect(readdirSync(inside).filter((n) => n.includes("cap-"))).toEqual([]);
  });
});

describe("transfer_read", () => {
  test("a 100 MiB download cut mid-stream resumes at next_offset and the last chunk's sha256 matches", async () => {
    const source = join(inside, "download.bin");
    writeFileSync(source, big);
    chmodSync(source, 0o600);
    const parts: Buffer[] = [];
    const first = await connect(server, FULL);
    let offset = 0;
    for (let i = 0; i < 7; i++) {
      const r = await callTool(first, "transfer_read", { path: source, offset });
      const d = data<{ data_base64: string; next_offset: number; eof: boolean; size: number; sha256?: string; mode: string }>(r);
      expect(d).toMatchObject({ eof: false, size: big.length, mode: "0600" });
      expect(d.sha256).toBeUndefined();
      parts.push(Buffer.from(d.data_base64, "base64"));
      offset = d.next_offset;
    }
    await first.close();
    let last: { sha256?: string; eof: boolean } | undefined;
    while (!last?.eof) {
      const r = await callTool(client, "transfer_read", { path: source, offset });
      expect(r.isError, resultText(r)).toBeFalsy();
      const d = data<{ data_base64: string; next_offset: number; eof: boolean; sha256?: string }>(r);
      parts.push(Buffer.from(d.data_base64, "base64"));
      offset = d.next_offset;
      last = d;
    }
    const got = Buffer.concat(parts);
    expect(got.length).toBe(big.length);
    expect(last.sha256).toBe(bigSha);
    expect(sha(got)).toBe(bigSha);
    // Asked for mid-file, and when the reads did not all go in order from 0: the same whole-file hash.
    const mid = await callTool(client, "transfer_read", { path: source, offset: 50 * MiB, length: 10, sha256: true });
    expect(data(mid)).toMatchObject({ sha256: bigSha, bytes: 10, eof: false });
    const past = await callTool(client, "transfer_read", { path: source, offset: big.length + 1 });
    expect(resultText(past)).toContain("past the end");
    rmSync(source);
  });
});

describe("policy", () => {
  test("secrets and paths outside allowed_paths are refused, both ways; authorized_keys is never written", async () => {
    for (const [tool, args] of [
      ["transfer_read", { path: server.tokenFile }],
      ["transfer_read", { path: join(dir, "outside.txt") }],
      ["transfer_write", { path: server.tokenFile, data_base64: "AAAA" }],
      ["transfer_write", { path: join(dir, "planted.bin"), data_base64: "AAAA", final: { sha256: sha(Buffer.from([0, 0, 0])) } }],
      ["transfer_write", { path: join(inside, ".ssh", "authorized_keys"), data_base64: "AAAA" }],
    ] as const) {
      const r = await callTool(client, tool, args);
      expect(r.isError, `${tool} ${args.path}`).toBe(true);
      expect(resultText(r)).toMatch(/allowed_paths|secrets|protected/);
    }
    expect(() => statSync(join(dir, "planted.bin"))).toThrow();
    expect(readdirSync(dir).filter((n) => n.includes(".lmcp-tmp-"))).toEqual([]);
  });

  test("a read-only token may read in chunks but not write", async () => {
    const reader = await connect(server, READER);
    try {
      writeFileSync(join(inside, "readable.txt"), "hello\n");
      const r = await callTool(reader, "transfer_read", { path: join(inside, "readable.txt") });
      expect(data(r)).toMatchObject({ eof: true, sha256: sha(Buffer.from("hello\n")) });
      const res = await rpc({ url: server.url, token: READER }, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "transfer_write", arguments: { path: join(inside, "x"), data_base64: "AAAA" } } });
      const body = (await res.json()) as { error: { code: number; message: string } };
      expect(body.error.code).toBe(-32602);
      expect(body.error.message).toContain("read-only");
      expect(() => statSync(join(inside, "x"))).toThrow();
    } finally {
      await reader.close();
    }
  });
});

describe("audit", () => {
  test("every transfer_write call is audited with its path, bytes and, at the end, the sha256; never the data", async () => {
    const target = join(inside, "audited.bin");
    const body = Buffer.from("audited bytes, not in the log\n");
    const r1 = await callTool(client, "transfer_write", { path: target, data_base64: body.toString("base64") });
    await callTool(client, "transfer_write", { path: target, upload_id: data(r1).upload_id, offset: body.length, final: { sha256: sha(body) } });
    const log = join(server.home, ".state", "lmcp", "audit.jsonl");
    const entries = await waitFor("two transfer_write audit lines", () => {
      try {
        const l = readFileSync(log, "utf8").trim().split("\n").map((x) => JSON.parse(x) as Record<string, unknown>);
        const mine = l.filter((e) => e.tool === "transfer_write" && e.path === target);
        return mine.length >= 2 ? mine : undefined;
      } catch {
        return undefined;
      }
    });
    expect(entries[0]).toMatchObject({ outcome: "ok", bytes: body.length });
    expect(entries[1]).toMatchObject({ outcome: "ok", bytes: 0, sha256: sha(body) });
    expect(readFileSync(log, "utf8")).not.toContain(body.toString("base64"));
    expect(readFileSync(log, "utf8")).not.toContain("audited bytes");
  });
});

describe("crash", () => {
  test("the temp file of an upload pending when lmcp was killed -9 is removed at the next start", async () => {
    const home = mkdtempSync(join(tmpdir(), "lmcp-transfer-home-"));
    try {
      const s1 = await startServer({ home });
      const c1 = await connect(s1);
      const target = join(home, "pending.bin");
      const r = await callTool(c1, "transfer_write", { path: target, data_base64: big.subarray(0, 1 * MiB).toString("base64") });
      expect(r.isError, resultText(r)).toBeFalsy();
      expect(leftovers(home, "pending.bin")).toHaveLength(1);
      await c1.close().catch(() => {});
      await s1.stop("SIGKILL");
      const s2 = await startServer({ home });
      try {
        await waitFor("the stale temp to be removed", () => leftovers(home, "pending.bin").length === 0 || undefined);
      } finally {
        await s2.stop();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
