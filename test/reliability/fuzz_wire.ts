// The fuzzer's wire: what a case sends (raw bytes or a fetch), what a correct
// server may answer (statuses, a JSON-RPC check, or why a close with no response
// is acceptable), and the JSON-RPC material the cases are made of.
import type { RawRequest } from "./http_raw.ts";
import type { Rng } from "./prng.ts";

export type Target = "serve" | "hub";

export interface ToolInfo {
  name: string;
  properties: Record<string, { type?: string; enum?: unknown[] }>;
  required: string[];
}

export interface TargetInfo {
  target: Target;
  port: number;
  token: string;
  /** The other process's token: it must not open this one. */
  otherToken: string;
  tools: ToolInfo[];
  /** Fixture paths on the serve host (the hub's backend is the same serve). */
  fx: Fixtures;
}

export interface Fixtures {
  dir: string;
  small: string;
  fifo: string;
  sub: string;
  loop: string;
  writeDir: string;
  editFile: string;
}

/** A check on a reply's body; returns what is wrong, or undefined. */
export type Check = (status: number, contentType: string, body: Buffer) => string | undefined;

export interface Expectations {
  /** The reply must come from the head alone, before any body byte is sent (a refusal that reads nothing). */
  fromHead?: boolean;
  /** Statuses a correct server may answer; undefined: any well-formed response. */
  expect?: number[];
  check?: Check;
  /** Why closing with no response at all is acceptable: the request is broken at the HTTP level. Undefined: a response is required. */
  closeOk?: string;
}

export type Wire =
  | ({ via: "raw"; raw: RawRequest } & Expectations)
  | ({ via: "fetch"; path: string; method: string; headers: Record<string, string>; body?: Buffer } & Expectations);

/** A category's generator: one case from its own seeded PRNG. */
export type Gen = (t: TargetInfo, rng: Rng) => Wire;

/** A wrong token sent by the fuzzer; like the real ones, it must never be logged. */
export const SENTINEL_TOKEN = "fuzz-sentinel-token-5b1c8e";

export const MiB = 1024 * 1024;
export const enc = (s: string) => Buffer.from(s, "utf8");
export const J = (v: unknown) => JSON.stringify(v);

// ---------------------------------------------------------------- replies

/** The JSON-RPC messages in a reply (JSON or SSE), or a string saying why they cannot be read. */
export function rpcMessages(contentType: string, body: Buffer): Record<string, unknown>[] | string {
  const text = body.toString("utf8");
  try {
    if (contentType.startsWith("application/json")) {
      const v: unknown = JSON.parse(text);
      return (Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
    }
    if (contentType.startsWith("text/event-stream")) {
      const out: Record<string, unknown>[] = [];
      for (const event of text.split("\n\n")) {
        for (const line of event.split("\n")) if (line.startsWith("data: ")) out.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
      }
      return out;
    }
  } catch (err) {
    return `reply body is not valid ${contentType}: ${(err as Error).message}`;
  }
  return `unexpected content-type ${contentType}`;
}

const errorCode = (m: Record<string, unknown> | undefined) => (m?.error as { code?: unknown } | undefined)?.code;
/** The final reply of a single request (an SSE stream may carry progress first). */
const last = (ms: Record<string, unknown>[]) => ms.findLast((m) => "id" in m);

export const rpcError =
  (...codes: number[]): Check =>
  (_status, ct, body) => {
    const ms = rpcMessages(ct, body);
    if (typeof ms === "string") return ms;
    const code = errorCode(last(ms));
    return codes.includes(code as number) ? undefined : `expected JSON-RPC error ${codes.join(" or ")}, got ${J(last(ms)).slice(0, 300)}`;
  };

/** A result (no JSON-RPC error); with `toolOk`, a tool result without isError. */
export const rpcResult =
  (toolOk = false): Check =>
  (_status, ct, body) => {
    const ms = rpcMessages(ct, body);
    if (typeof ms === "string") return ms;
    const m = last(ms);
    if (!m || !("result" in m)) return `expected a result, got ${J(m).slice(0, 300)}`;
    if (toolOk && (m.result as { isError?: boolean }).isError) return `tool failed: ${J(m.result).slice(0, 300)}`;
    return undefined;
  };

/** A tool call answered either way (result, tool error, or invalid params), but never by an lmcp bug. */
export const toolAnswered: Check = (_status, ct, body) => {
  const ms = rpcMessages(ct, body);
  if (typeof ms === "string") return ms;
  const m = last(ms);
  if (!m) return "no reply message";
  if ("error" in m && errorCode(m) !== -32602) return `unexpected JSON-RPC error ${J(m).slice(0, 300)}`;
  const text = J(m);
  if (text.includes("a bug in lmcp")) return `a handler threw: ${text.slice(0, 400)}`;
  return undefined;
};

export const batchOf =
  (n: number): Check =>
  (_status, ct, body) => {
    const ms = rpcMessages(ct, body);
    if (typeof ms === "string") return ms;
    return ms.length === n ? undefined : `expected ${n} replies, got ${ms.length}`;
  };

// ---------------------------------------------------------------- wire building

export type Auth = "good" | "none" | "wrong" | { header: string };

interface PostOpts extends Expectations {
  auth?: Auth;
  /** null: no Content-Type header. */
  contentType?: string | null;
  accept?: string;
  extra?: [string, string][];
  via?: "raw" | "fetch";
  chunked?: boolean;
  path?: string;
}

const ACCEPTS = ["application/json, text/event-stream", "application/json, text/event-stream", "application/json", "*/*", "text/event-stream"];

function authHeader(t: TargetInfo, auth: Auth): string | undefined {
  if (auth === "good") return `Bearer ${t.token}`;
  if (auth === "wrong") return `Bearer ${SENTINEL_TOKEN}`;
  if (auth === "none") return undefined;
  return auth.header;
}

/** Splits a large body so the writer can stop as soon as the server has answered. */
function split(buf: Buffer, size = 256 * 1024): Buffer[] {
  if (buf.length <= size) return [buf];
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return parts;
}

function chunkedBody(body: Buffer, chunk = MiB): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunk) {
    const piece = body.subarray(i, i + chunk);
    parts.push(enc(`${piece.length.toString(16)}\r\n`), piece, enc("\r\n"));
  }
  parts.push(enc("0\r\n\r\n"));
  return Buffer.concat(parts);
}

/** The request head, CRLF-terminated lines. */
export function head(requestLine: string, headers: [string, string][]): Buffer {
  return enc(`${requestLine}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);
}

/** A POST /mcp of `body`, raw or through fetch; unauthenticated requests must get 401 unless said otherwise. */
export function post(t: TargetInfo, rng: Rng, body: Buffer | string, o: PostOpts = {}): Wire {
  const bytes = typeof body === "string" ? enc(body) : body;
  const auth = o.auth ?? "good";
  const expectations: Expectations = {
    ...(o.expect ? { expect: o.expect } : auth === "good" ? {} : { expect: [401] }),
    ...(o.check && (auth === "good" || o.expect) ? { check: o.check } : {}),
    ...(o.closeOk ? { closeOk: o.closeOk } : {}),
  };
  const accept = o.accept ?? rng.pick(ACCEPTS);
  const authValue = authHeader(t, auth);
  // A large body the server must refuse unread goes raw, head first, so its 401 is seen before any body byte is sent.
  const refusedUnread = auth !== "good" && bytes.length > 64 * 1024 && !o.expect;
  const via = o.via ?? (o.extra || o.chunked || refusedUnread || bytes.length > 4 * MiB ? "raw" : rng.chance(0.3) ? "fetch" : "raw");
  if (via === "fetch") {
    const headers: Record<string, string> = { accept };
    if (authValue !== undefined) headers.authorization = authValue;
    if (o.contentType !== null) headers["content-type"] = o.contentType ?? "application/json";
    return { via, path: o.path ?? "/mcp", method: "POST", headers, body: bytes, ...expectations };
  }
  const headers: [string, string][] = [["Host", `127.0.0.1:${t.port}`]];
  if (authValue !== undefined) headers.push(["Authorization", authValue]);
  if (o.contentType !== null) headers.push(["Content-Type", o.contentType ?? "application/json"]);
  headers.push(["Accept", accept]);
  headers.push(o.chunked ? ["Transfer-Encoding", "chunked"] : ["Content-Length", String(bytes.length)]);
  headers.push(["Connection", "close"], ...(o.extra ?? []));
  const payload = o.chunked ? chunkedBody(bytes) : bytes;
  const raw: RawRequest = { parts: [head(`POST ${o.path ?? "/mcp"} HTTP/1.1`, headers), ...split(payload)], gapMs: 0, end: false, head: false };
  if (refusedUnread) return { via, raw: { ...raw, answerFromHeadMs: 2000 }, ...expectations, fromHead: true };
  return { via, raw, ...expectations };
}

/** Bytes exactly as given, on a fresh connection. */
export function rawBytes(parts: Buffer[], e: Expectations & { end?: boolean; head?: boolean; gapMs?: number; meanwhile?: RawRequest["meanwhile"] }): Wire {
  const raw: RawRequest = { parts, gapMs: e.gapMs ?? 0, end: e.end ?? false, head: e.head ?? false, ...(e.meanwhile ? { meanwhile: e.meanwhile } : {}) };
  return { via: "raw", raw, ...(e.expect ? { expect: e.expect } : {}), ...(e.check ? { check: e.check } : {}), ...(e.closeOk ? { closeOk: e.closeOk } : {}) };
}

export function stdHeaders(t: TargetInfo, o: { auth?: boolean; length?: number; close?: boolean } = {}): [string, string][] {
  const h: [string, string][] = [["Host", `localhost:${t.port}`]];
  if (o.auth ?? true) h.push(["Authorization", `Bearer ${t.token}`]);
  h.push(["Content-Type", "application/json"], ["Accept", "application/json, text/event-stream"]);
  if (o.length !== undefined) h.push(["Content-Length", String(o.length)]);
  if (o.close ?? true) h.push(["Connection", "close"]);
  return h;
}

// ---------------------------------------------------------------- JSON-RPC material

let nextId = 1;
/** Ids restart for every case, so a case's bytes depend on its seed alone, not on what ran before it. */
export const resetIds = () => {
  nextId = 1;
};
export const rpc = (method: string, params?: unknown, id: unknown = nextId++) => ({ jsonrpc: "2.0", id, method, ...(params === undefined ? {} : { params }) });
export const note = (method: string, params?: unknown) => ({ jsonrpc: "2.0", method, ...(params === undefined ? {} : { params }) });

/** The tool name and arguments as this target takes them: remote_X with host on the hub. */
export function call(t: TargetInfo, tool: string, args: Record<string, unknown>, id?: unknown) {
  const name = t.target === "hub" ? `remote_${tool}` : tool;
  const a = t.target === "hub" ? { host: "backend", ...args } : args;
  return rpc("tools/call", { name, arguments: a }, id);
}

export const initialize = () => rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "fuzz", version: "0" } });
