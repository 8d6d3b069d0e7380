// Raw HTTP/1.1 over node:net for the fuzzer: sends exact bytes (lying lengths,
// bad headers, slow bodies, invalid UTF-8) and parses what comes back strictly,
// so "every reply is a well-formed HTTP response" is checked byte for byte.
import { connect } from "node:net";

export interface ParsedResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

/** `end` is where the response ends in the buffer: a pipelined connection's next response starts there. */
export type Parse = { kind: "complete"; response: ParsedResponse; end: number } | { kind: "incomplete" } | { kind: "malformed"; why: string };

const MAX_HEAD = 64 * 1024;
const STATUS_LINE = /^HTTP\/1\.1 (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;

export const header = (r: ParsedResponse, name: string): string | undefined => r.headers.find(([k]) => k.toLowerCase() === name)?.[1];

/** Parses the chunked body starting at `at`; the body and where it ends, or incomplete/malformed. */
function parseChunked(buf: Buffer, at: number, eof: boolean): { body: Buffer; end: number } | Parse {
  const parts: Buffer[] = [];
  let p = at;
  for (;;) {
    const lineEnd = buf.indexOf("\r\n", p);
    if (lineEnd < 0) return eof ? { kind: "malformed", why: "closed inside a chunk size line" } : { kind: "incomplete" };
    const sizeLine = buf.subarray(p, lineEnd).toString("latin1");
    if (!/^[0-9a-fA-F]{1,8}(;.*)?$/.test(sizeLine)) return { kind: "malformed", why: `bad chunk size line ${JSON.stringify(sizeLine.slice(0, 40))}` };
    const size = Number.parseInt(sizeLine, 16);
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const trailersEnd = buf.indexOf("\r\n", lineEnd + 2);
      if (trailersEnd < 0) return eof ? { kind: "malformed", why: "closed before the end of a chunked body" } : { kind: "incomplete" };
      if (trailersEnd !== lineEnd + 2) return { kind: "malformed", why: "unexpected trailers" };
      return { body: Buffer.concat(parts), end: trailersEnd + 2 };
    }
    const dataEnd = lineEnd + 2 + size;
    if (buf.length < dataEnd + 2) return eof ? { kind: "malformed", why: "closed inside a chunk" } : { kind: "incomplete" };
    if (buf[dataEnd] !== 13 || buf[dataEnd + 1] !== 10) return { kind: "malformed", why: "chunk not followed by CRLF" };
    parts.push(buf.subarray(lineEnd + 2, dataEnd));
    p = dataEnd + 2;
  }
}

/** Parses the first final response in `buf` (1xx interim responses are checked and skipped). */
export function parseResponse(buf: Buffer, opts: { head: boolean; eof: boolean }): Parse {
  let pos = 0;
  for (;;) {
    const headEnd = buf.indexOf("\r\n\r\n", pos);
    if (headEnd < 0) {
      if (buf.length - pos > MAX_HEAD) return { kind: "malformed", why: "response head over 64 KiB" };
      if (opts.eof) return buf.length > pos ? { kind: "malformed", why: `closed inside the response head: ${JSON.stringify(buf.subarray(pos, pos + 80).toString("latin1"))}` } : { kind: "incomplete" };
      return { kind: "incomplete" };
    }
    const [statusLine = "", ...lines] = buf.subarray(pos, headEnd).toString("latin1").split("\r\n");
    const m = STATUS_LINE.exec(statusLine);
    if (!m) return { kind: "malformed", why: `bad status line ${JSON.stringify(statusLine.slice(0, 80))}` };
    const status = Number(m[1]);
    const headers: [string, string][] = [];
    for (const line of lines) {
      const h = HEADER_LINE.exec(line);
      if (!h) return { kind: "malformed", why: `bad header line ${JSON.stringify(line.slice(0, 80))}` };
      headers.push([h[1]!, h[2]!]);
    }
    const bodyStart = headEnd + 4;
    if (status < 100 || status > 599) return { kind: "malformed", why: `status ${status} out of range` };
    if (status < 200) {
      if (status === 101) return { kind: "malformed", why: "101 Switching Protocols to a plain request" };
      pos = bodyStart;
      continue;
    }
    const response = (body: Buffer, end = bodyStart + body.length): Parse => ({ kind: "complete", response: { status, headers, body }, end });
    if (opts.head || status === 204 || status === 304) return response(Buffer.alloc(0), bodyStart);
    const te = headers.filter(([k]) => k.toLowerCase() === "transfer-encoding").map(([, v]) => v);
    const cl = headers.filter(([k]) => k.toLowerCase() === "content-length").map(([, v]) => v);
    if (te.length > 0) {
      if (cl.length > 0) return { kind: "malformed", why: "both Transfer-Encoding and Content-Length in a response" };
      if (te.length > 1 || te[0]!.toLowerCase() !== "chunked") return { kind: "malformed", why: `Transfer-Encoding ${te.join(", ")}` };
      const chunked = parseChunked(buf, bodyStart, opts.eof);
      return "kind" in chunked ? chunked : response(chunked.body, chunked.end);
    }
    if (cl.length > 0) {
      if (new Set(cl).size > 1 || !/^\d{1,15}$/.test(cl[0]!)) return { kind: "malformed", why: `Content-Length ${cl.join(", ")}` };
      const end = bodyStart + Number(cl[0]);
      if (buf.length >= end) return response(buf.subarray(bodyStart, end));
      return opts.eof ? { kind: "malformed", why: `closed after ${buf.length - bodyStart} of ${cl[0]} body bytes` } : { kind: "incomplete" };
    }
    // No framing: the body runs to the close.
    return opts.eof ? response(buf.subarray(bodyStart)) : { kind: "incomplete" };
  }
}

export interface RawRequest {
  /** Written in order; `gapMs` apart (a slow client), each waiting for the socket to drain. */
  parts: Buffer[];
  gapMs: number;
  /** Half-close (FIN) after the last part, as a client that gives up on its own body would. */
  end: boolean;
  /** A HEAD request: the response has no body whatever its headers say. */
  head: boolean;
  /** Runs after the first part is out, while the rest trickles: a check that other clients are still served. */
  meanwhile?: () => Promise<string | undefined>;
  /**
   * After the first part (the head), wait up to this long for a reply before sending the rest: a server that
   * refuses from the headers alone answers at once, and the client then never sends a body the server would not
   * read (which would make the server's close a reset that can swallow its reply).
   */
  answerFromHeadMs?: number;
}

export type Outcome =
  | { kind: "response"; response: ParsedResponse; ms: number }
  | { kind: "closed"; error: string | undefined; ms: number }
  | { kind: "malformed"; why: string; ms: number }
  | { kind: "hang"; ms: number };

/** One request on a fresh connection to 127.0.0.1:`port`; settles on a complete response, a close, bytes that are not HTTP, or the deadline. */
export function rawExchange(port: number, req: RawRequest, deadlineMs: number): Promise<{ outcome: Outcome; meanwhile?: string; answeredFromHead?: boolean }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.setNoDelay(true);
    const chunks: Buffer[] = [];
    let total = 0;
    let lastParsedAt = 0;
    let error: string | undefined;
    let settled = false;
    let meanwhile: Promise<string | undefined> | undefined;
    let answeredFromHead: boolean | undefined;
    let bodyStarted = false;
    let firstData: () => void = () => {};
    const gotData = new Promise<void>((r) => (firstData = r));
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const extra = answeredFromHead === undefined ? {} : { answeredFromHead };
      if (meanwhile) meanwhile.then((m) => resolve({ outcome, ...extra, ...(m ? { meanwhile: m } : {}) }));
      else resolve({ outcome, ...extra });
    };
    const ms = () => performance.now() - started;
    const evaluate = (eof: boolean) => {
      if (settled) return;
      // Re-parse only when the data doubled (or at the end), so a large reply costs linear time.
      if (!eof && total < 2 * lastParsedAt && total > 64 * 1024) return;
      lastParsedAt = total;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.splice(0, chunks.length, buf);
      const p = parseResponse(buf, { head: req.head, eof });
      if (p.kind === "complete") finish({ kind: "response", response: p.response, ms: ms() });
      else if (p.kind === "malformed") finish({ kind: "malformed", why: p.why, ms: ms() });
      else if (eof) finish(total === 0 ? { kind: "closed", error, ms: ms() } : { kind: "malformed", why: "closed mid-response", ms: ms() });
    };
    const timer = setTimeout(() => finish({ kind: "hang", ms: ms() }), deadlineMs);
    sock.on("data", (d: Buffer) => {
      if (req.answerFromHeadMs !== undefined && !bodyStarted) answeredFromHead = true;
      firstData();
      chunks.push(d);
      total += d.length;
      evaluate(false);
    });
    sock.on("end", () => evaluate(true));
    sock.on("close", () => evaluate(true));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on("connect", async () => {
      for (const [i, part] of req.parts.entries()) {
        if (i > 0 && req.gapMs > 0) await Bun.sleep(req.gapMs);
        if (settled || sock.destroyed) return;
        if (!sock.write(part)) {
          await new Promise<void>((r) => {
            sock.once("drain", r);
            sock.once("close", r);
          });
        }
        if (i === 0 && req.meanwhile) meanwhile = req.meanwhile();
        if (i === 0 && req.answerFromHeadMs !== undefined) {
          let timeout: ReturnType<typeof setTimeout> | undefined;
          const waited = await Promise.race([gotData.then(() => true), new Promise<boolean>((r) => (timeout = setTimeout(() => r(false), req.answerFromHeadMs)))]);
          clearTimeout(timeout);
          if (waited) return; // answered: the body is not wanted
          answeredFromHead = false;
          bodyStarted = true;
        }
      }
      if (req.end && !settled && !sock.destroyed) sock.end();
    });
  });
}

/**
 * Writes `requests` back to back in one write on one connection (HTTP/1.1 pipelining) and collects the responses
 * in the order they arrive, until there are as many as requests, the server closes, or the deadline passes.
 */
export function pipelinedExchange(port: number, requests: Buffer[], deadlineMs: number): Promise<{ responses: ParsedResponse[]; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    const responses: ParsedResponse[] = [];
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ responses, closed });
    };
    const timer = setTimeout(() => finish(false), deadlineMs);
    const take = (eof: boolean) => {
      for (let i = 0; i < requests.length; i++) {
        const p = parseResponse(buf, { head: false, eof });
        if (p.kind !== "complete") break;
        responses.push(p.response);
        buf = buf.subarray(p.end);
      }
      if (responses.length >= requests.length) finish(false);
    };
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      take(false);
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      take(true);
      finish(true);
    });
    sock.on("connect", () => sock.write(Buffer.concat(requests)));
  });
}
