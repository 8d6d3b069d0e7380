// Fuzz categories at the HTTP level: auth forms, headers, request lines,
// lying Content-Length, bodies over the cap, and slow clients.
import {
  type Auth,
  type Expectations,
  type Gen,
  type Wire,
  J,
  MiB,
  SENTINEL_TOKEN,
  enc,
  head,
  post,
  rawBytes,
  rpc,
  rpcError,
  rpcResult,
  stdHeaders,
} from "./fuzz_wire.ts";

export const authForms: Gen = (t, rng) => {
  const ping = J(rpc("ping"));
  const good = { expect: [200], check: rpcResult() };
  const forms: [Auth, Expectations][] = [
    ["none", {}],
    ["wrong", {}],
    [{ header: `Bearer ${t.otherToken}` }, {}],
    [{ header: `Basic ${Buffer.from(`user:${t.token}`).toString("base64")}` }, {}],
    [{ header: "Bearer" }, {}],
    [{ header: "Bearer " }, {}],
    [{ header: `bearer ${t.token}` }, good],
    [{ header: `BEARER\t${t.token}` }, good],
    [{ header: `Bearer ${t.token} ` }, good],
    [{ header: `Bearer ${t.token} extra` }, {}],
    [{ header: `Bearer ${t.token.slice(0, -1)}` }, {}],
    [{ header: `Bearer ${t.token}x` }, {}],
    [{ header: `Bearer ${t.token.toUpperCase()}` }, {}],
    [{ header: `Bearer ${"x".repeat(5000)}` }, {}],
    [{ header: `Bearer ${SENTINEL_TOKEN},Bearer ${t.token}` }, {}],
    [{ header: `Token ${t.token}` }, {}],
    [{ header: t.token }, {}],
    [{ header: `Bearer ${Buffer.from(t.token).toString("base64")}` }, {}],
  ];
  const k = rng.int(0, forms.length + 2);
  if (k === forms.length) {
    // Two Authorization headers: one wrong one must not be outvoted by a right one.
    return post(t, rng, ping, { via: "raw", auth: "wrong", extra: [["Authorization", `Bearer ${t.token}`]], expect: [401] });
  }
  if (k === forms.length + 1) return post(t, rng, ping, { via: "raw", auth: "none", extra: [["X-Api-Key", t.token]], expect: [401] });
  if (k === forms.length + 2) {
    // An unauthenticated 1 MB body: answered 401 from the headers alone.
    return post(t, rng, J(rpc("ping", { pad: "p".repeat(MiB) })), { auth: "wrong" });
  }
  const [auth, e] = forms[k]!;
  return post(t, rng, ping, { auth, ...e });
};

/** Bodies over max_body_bytes (16 MiB): refused with 413 without being buffered. */
export const oversize: Gen = (t, rng) => {
  const form = rng.int(0, 2);
  if (form === 0) {
    // Content-Length over the cap: refused from the header; the client then gives up.
    return rawBytes([head("POST /mcp HTTP/1.1", stdHeaders(t, { length: 16 * MiB + 1 })), enc(J(rpc("ping")))], { end: true, expect: [413] });
  }
  if (form === 1) {
    // Chunked (no length): the streaming count stops it past the cap, in the last chunk. The server then closes
    // without reading the rest (it must not read an unbounded body), so the client may see that close as a reset.
    const body = Buffer.alloc(16 * MiB + 64 * 1024, " ");
    return post(t, rng, body, { chunked: true, expect: [413], closeOk: "a chunked body over the cap: the server stops reading it and closes while the client still sends" });
  }
  const ping = J(rpc("ping"));
  // Exactly at the cap: accepted.
  return post(t, rng, Buffer.concat([Buffer.alloc(16 * MiB - ping.length, " "), enc(ping)]), { expect: [200], check: rpcResult() });
};

export const headerTricks: Gen = (t, rng) => {
  const ping = J(rpc("ping"));
  const withHeaders = (headers: [string, string][], e: Expectations, body = ping) => rawBytes([head("POST /mcp HTTP/1.1", headers), enc(body)], e);
  const base = (o: { ct?: string | null; auth?: boolean } = {}): [string, string][] => {
    const h: [string, string][] = [["Host", `127.0.0.1:${t.port}`]];
    if (o.auth ?? true) h.push(["Authorization", `Bearer ${t.token}`]);
    if (o.ct !== null) h.push(["Content-Type", o.ct ?? "application/json"]);
    h.push(["Accept", "application/json, text/event-stream"], ["Content-Length", String(ping.length)], ["Connection", "close"]);
    return h;
  };
  const replace = (h: [string, string][], name: string, value: string | null): [string, string][] => {
    const out = h.filter(([k]) => k.toLowerCase() !== name.toLowerCase());
    if (value !== null) out.splice(1, 0, [name, value]);
    return out;
  };
  const ok = { expect: [200], check: rpcResult() };
  const forms: (() => Wire)[] = [
    () => withHeaders(base({ ct: null }), { expect: [415] }),
    () => withHeaders(base({ ct: "text/plain" }), { expect: [415] }),
    () => withHeaders(base({ ct: "application/jsonx" }), { expect: [415] }),
    () => withHeaders(base({ ct: "application/json; charset=utf-8" }), ok),
    () => withHeaders(base({ ct: "APPLICATION/JSON" }), ok),
    () => withHeaders(base({ ct: `application/json; ${"p=v; ".repeat(1000)}` }), ok),
    () => withHeaders([...base(), ["Content-Type", "text/plain"]], { expect: [200, 400, 415] }),
    () => withHeaders([...base({ ct: "text/plain" }), ["Content-Type", "application/json"]], { expect: [200, 400, 415] }),
    () => withHeaders([...base(), ["Transfer-Encoding", "chunked"]], { expect: [400], closeOk: "Transfer-Encoding with Content-Length" }),
    () => withHeaders(replace(base(), "Transfer-Encoding", "gzip"), { expect: [400, 501], closeOk: "an unsupported Transfer-Encoding" }),
    () => withHeaders(replace(base(), "Transfer-Encoding", "chunked, chunked"), { expect: [400, 501], closeOk: "a doubled Transfer-Encoding" }),
    () => withHeaders([...base(), ["X-Big", "v".repeat(100_000)]], { expect: [431, 400], closeOk: "a 100 KB header" }),
    () => withHeaders([...base(), ["X-Big", "v".repeat(8000)]], ok),
    () => withHeaders([...base(), ...Array.from({ length: 300 }, (_, i): [string, string] => [`X-H${i}`, "v"])], { expect: [431, 400], closeOk: "300 headers" }),
    () => withHeaders([...base(), ["X Bad", "v"]], { expect: [400], closeOk: "a header name with a space" }),
    () => withHeaders([...base(), ["X-Nul", "a\u0000b"]], { expect: [400], closeOk: "a NUL in a header" }),
    () => rawBytes([Buffer.concat([head("POST /mcp HTTP/1.1", base()).subarray(0, -2), enc("X-Utf8: "), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), enc("\r\n\r\n"), enc(ping)])], { expect: [200, 400] }),
    () => withHeaders([...base(), ["Origin", "http://evil.example"]], { expect: [403] }),
    () => withHeaders([...base(), ["Origin", "null"]], { expect: [403] }),
    () => withHeaders([...base(), ["Origin", `http://localhost:${t.port}`]], { expect: [200] }), // a loopback listener's own origin
    () => withHeaders([...base(), ["Origin", `http://localhost:${t.port === 1 ? 2 : 1}`]], { expect: [403] }), // another local port
    () => withHeaders([...base({ auth: false }), ["Origin", "http://evil.example"]], { expect: [403] }),
    () => withHeaders([...base(), ["Origin", "x".repeat(10_000)]], { expect: [403] }),
    () => withHeaders(replace(base(), "Host", "evil.example"), { expect: [403] }),
    () => withHeaders(replace(base(), "Host", "localhost.evil.example"), { expect: [403] }),
    () => withHeaders(replace(base(), "Host", "127.0.0.1.nip.io"), { expect: [403] }),
    () => withHeaders(replace(base(), "Host", "localhost."), { expect: [403] }),
    () => withHeaders(replace(base(), "Host", "localhost:1"), ok),
    () => withHeaders(replace(base(), "Host", "LOCALHOST"), ok),
    () => withHeaders(replace(base(), "Host", "[::1]:80"), ok),
    () => withHeaders(replace(base(), "Host", ""), { expect: [403, 400] }),
    () => withHeaders(replace(base(), "Host", "a b"), { expect: [403, 400] }),
    () => withHeaders(replace(base(), "Host", "user@localhost"), { expect: [403, 400] }),
    () => withHeaders(replace(base(), "Host", null), { expect: [400, 403] }),
    () => withHeaders([...base(), ["Host", "evil.example"]], { expect: [400, 403] }),
    () => withHeaders(replace(base(), "Accept", "text/html"), { expect: [406] }),
    () => withHeaders(replace(base(), "Accept", null), ok),
    () => withHeaders(replace(base(), "Accept", "application/*"), ok),
    () => withHeaders([...base(), ["MCP-Protocol-Version", "1999-01-01"]], { expect: [400] }),
    () => withHeaders([...base(), ["MCP-Protocol-Version", "2025-06-18"]], ok),
    () => withHeaders([...base(), ["MCP-Session-Id", "x".repeat(200)]], ok),
    () => withHeaders([...base(), ["Expect", "100-continue"]], ok),
    () => withHeaders(replace(base(), "Connection", "keep-alive"), ok),
    () => withHeaders([...replace(base(), "Connection", "Upgrade"), ["Upgrade", "websocket"]], { expect: [200, 400, 426] }),
    () => withHeaders([...base(), ["X-Forwarded-For", "10.0.0.1"], ["Forwarded", "for=10.0.0.1"]], ok),
    () => withHeaders([...base(), ["Cookie", "c=".repeat(2000)]], { expect: [200, 431, 400] }),
    () => withHeaders([...base(), ["Range", "bytes=0-1"]], ok),
    () => withHeaders([...base(), ["Authorization", `Bearer ${t.token}`]], { expect: [200, 401] }),
  ];
  return rng.pick(forms)();
};

export const httpLevel: Gen = (t, rng) => {
  const ping = J(rpc("ping"));
  const req = (line: string, headers: [string, string][], body = "") => [Buffer.concat([head(line, headers), enc(body)])];
  const pathForm = (path: string, expect: number[]) => rawBytes(req(`POST ${path} HTTP/1.1`, stdHeaders(t, { length: ping.length }), ping), { expect });
  const forms: (() => Wire)[] = [
    () => rawBytes([enc("GARBAGE\r\n\r\n")], { expect: [400], closeOk: "not an HTTP request line" }),
    () => rawBytes(req("FOO /mcp HTTP/1.1", stdHeaders(t, { length: 0 })), { expect: [400, 405, 501], closeOk: "an HTTP method Bun does not know (it closes without a response)" }),
    () => rawBytes([enc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")], { expect: [400, 505], closeOk: "an HTTP/2 preface on HTTP/1.1" }),
    () => rawBytes(req("POST /mcp HTTP/9.9", stdHeaders(t, { length: ping.length }), ping), { expect: [400, 505], closeOk: "HTTP/9.9" }),
    () => rawBytes(req("POST /mcp HTTP/1.0", stdHeaders(t, { length: ping.length, close: false }), ping), { expect: [200] }),
    () => rawBytes([enc("GET /healthz HTTP/1.0\r\n\r\n")], { expect: [200] }),
    () => rawBytes([enc("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")], { expect: [400, 200] }),
    () => rawBytes([enc(`POST /mcp HTTP/1.1\nHost: localhost\nAuthorization: Bearer ${t.token}\nContent-Type: application/json\nContent-Length: ${ping.length}\nConnection: close\n\n${ping}`)], { expect: [200, 400, 505], closeOk: "LF-only line ends" }),
    () => rawBytes(req(`POST http://evil.example/mcp HTTP/1.1`, stdHeaders(t, { length: ping.length }), ping), { expect: [200, 400, 403, 404] }),
    () => rawBytes(req("CONNECT 127.0.0.1:22 HTTP/1.1", stdHeaders(t)), { expect: [400, 404, 405], closeOk: "CONNECT" }),
    () => rawBytes(req("OPTIONS * HTTP/1.1", stdHeaders(t)), { expect: [400, 404] }),
    () => rawBytes(req("GET /mcp HTTP/1.1", stdHeaders(t)), { expect: [405] }),
    () => rawBytes(req("DELETE /mcp HTTP/1.1", stdHeaders(t)), { expect: [405] }),
    () => rawBytes(req("PUT /mcp HTTP/1.1", stdHeaders(t, { length: ping.length }), ping), { expect: [405] }),
    () => rawBytes(req("PATCH /mcp HTTP/1.1", stdHeaders(t, { length: ping.length }), ping), { expect: [405] }),
    () => rawBytes(req("HEAD /mcp HTTP/1.1", stdHeaders(t)), { expect: [405], head: true }),
    () => rawBytes(req("HEAD /healthz HTTP/1.1", stdHeaders(t)), { expect: [200], head: true }),
    () => rawBytes(req("POST /healthz HTTP/1.1", stdHeaders(t, { length: ping.length }), ping), { expect: [405] }),
    () => rawBytes(req("GET /healthz HTTP/1.1", stdHeaders(t, { length: ping.length }), ping), { expect: [200] }),
    () => rawBytes(req("OPTIONS /mcp HTTP/1.1", stdHeaders(t)), { expect: [204] }),
    () => rawBytes(req("TRACE /mcp HTTP/1.1", stdHeaders(t)), { expect: [400, 405], closeOk: "TRACE" }),
    () => pathForm("/mcp/", [404]),
    () => pathForm("/mcpx", [404]),
    () => pathForm("/mcp?x=1", [404]),
    () => pathForm("//mcp", [404]),
    () => pathForm("/MCP", [404]),
    () => pathForm("/%6dcp", [404]),
    () => pathForm("/mcp;x", [404]),
    () => pathForm("/mcp%00", [404]),
    () => pathForm("/./mcp", [200, 404]),
    () => pathForm("/a/../mcp", [200, 404]),
    () => pathForm("/../../../mcp", [200, 404, 400]),
    () => ({ ...pathForm(`/${"a".repeat(100_000)}`, [404, 414, 431, 400]), closeOk: "a 100 KB request line" }),
    () => rawBytes([enc(`POST /mcp\u0000 HTTP/1.1\r\nHost: localhost\r\n\r\n`)], { expect: [400, 505], closeOk: "a NUL in the request line" }),
    () => rawBytes([enc("POST  /mcp  HTTP/1.1\r\nHost: localhost\r\n\r\n")], { expect: [400, 404, 405], closeOk: "doubled spaces in the request line" }),
    () => rawBytes([Buffer.concat([enc("\r\n"), ...req("POST /mcp HTTP/1.1", stdHeaders(t, { length: ping.length }), ping)])], { expect: [200, 400], closeOk: "an empty line before the request line" }),
    () => rawBytes([enc("POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Le")], { end: true, closeOk: "a request head cut short, then FIN" }),
    () => rawBytes([Buffer.from(Array.from({ length: rng.int(1, 2000) }, () => rng.int(0, 255)))], { end: true, closeOk: "random bytes, then FIN" }),
    () => rawBytes([Buffer.from("16030100a1010000" + "9d0303" + "00".repeat(32), "hex")], { end: true, closeOk: "a TLS ClientHello on plain HTTP" }),
    () => {
      // Two pipelined requests: both answered, in order (we read the first).
      const one = Buffer.concat(req("POST /mcp HTTP/1.1", stdHeaders(t, { length: ping.length, close: false }), ping));
      return rawBytes([Buffer.concat([one, one])], { expect: [200] });
    },
  ];
  return rng.pick(forms)();
};

export const contentLength: Gen = (t, rng) => {
  const ping = J(rpc("ping"));
  const withLength = (value: string | string[], body: string, e: Expectations, auth = true) => {
    const values = Array.isArray(value) ? value : [value];
    const headers: [string, string][] = [...stdHeaders(t, { auth }), ...values.map((v): [string, string] => ["Content-Length", v])];
    return rawBytes([head("POST /mcp HTTP/1.1", headers), enc(body)], { ...e, end: true });
  };
  const forms: (() => Wire)[] = [
    () => withLength(String(ping.length + rng.int(1, 100_000)), ping, { closeOk: "the body is shorter than its Content-Length and the client half-closed" }),
    () => withLength(String(ping.length + 1000), ping, { expect: [401] }, false),
    () => withLength(String(rng.int(1, ping.length - 1)), ping, { expect: [400], check: rpcError(-32700) }),
    () => withLength("0", ping, { expect: [400], check: rpcError(-32700) }),
    () => withLength("-5", ping, { expect: [400] }),
    () => withLength("abc", ping, { expect: [400] }),
    () => withLength("+5", ping, { expect: [400] }),
    () => withLength("5 5", ping, { expect: [400] }),
    () => withLength("0x10", ping, { expect: [400] }),
    () => withLength("", ping, { expect: [400] }),
    () => withLength("1e3", ping, { expect: [400] }),
    () => withLength("99999999999999999999", ping, { expect: [400, 413] }),
    () => withLength([String(ping.length), "5"], ping, { expect: [400] }),
    () => withLength([String(ping.length), String(ping.length)], ping, { expect: [200, 400] }),
    () => withLength(String(16 * 1024 * 1024 + 1), ping, { expect: [413] }),
    () => withLength(String(16 * 1024 * 1024 + 1), ping, { expect: [401] }, false),
    () => withLength(String(2 ** 40), ping, { expect: [413, 400] }),
  ];
  return rng.pick(forms)();
};

/** Slow clients: bytes trickle ~100 ms apart for ~2 s while a ping on another connection must answer at once. */
export function slowLoris(ping: () => Promise<string | undefined>): Gen {
  return (t, rng) => {
    const body = J(rpc("ping", { pad: "p".repeat(rng.int(10, 20)) }));
    const bytes = (s: string) => Array.from(enc(s), (b) => Buffer.from([b]));
    const form = rng.int(0, 4);
    if (form === 0) {
      return rawBytes([head("POST /mcp HTTP/1.1", stdHeaders(t, { length: body.length })), ...bytes(body).slice(0, 20), enc(body.slice(20))].filter((b) => b.length > 0), {
        gapMs: 100,
        meanwhile: ping,
        expect: [200],
        check: rpcResult(),
      });
    }
    if (form === 1) {
      // the head itself, ten bytes at a time
      const whole = Buffer.concat([head("POST /mcp HTTP/1.1", stdHeaders(t, { length: body.length })), enc(body)]);
      const parts: Buffer[] = [];
      const step = Math.ceil(whole.length / 20);
      for (let i = 0; i < whole.length; i += step) parts.push(whole.subarray(i, i + step));
      return rawBytes(parts, { gapMs: 100, meanwhile: ping, expect: [200], check: rpcResult() });
    }
    if (form === 2) {
      // trickle, then give up on the rest of the declared body
      return rawBytes([head("POST /mcp HTTP/1.1", stdHeaders(t, { length: 1000 })), ...bytes(body).slice(0, 20)], {
        gapMs: 100,
        end: true,
        meanwhile: ping,
        closeOk: "the client gave up before its declared body was complete",
      });
    }
    if (form === 3) {
      // unauthenticated: refused from the head, whatever trickles after
      return rawBytes([head("POST /mcp HTTP/1.1", stdHeaders(t, { auth: false, length: body.length })), ...bytes(body).slice(0, 20)], { gapMs: 100, meanwhile: ping, expect: [401] });
    }
    // a chunked body, one byte per chunk
    const chunks = bytes(body).map((b) => Buffer.concat([enc("1\r\n"), b, enc("\r\n")]));
    const headers = stdHeaders(t).concat([["Transfer-Encoding", "chunked"]]);
    const first20 = chunks.slice(0, 20);
    return rawBytes([head("POST /mcp HTTP/1.1", headers), ...first20, Buffer.concat([...chunks.slice(20), enc("0\r\n\r\n")])], {
      gapMs: 100,
      meanwhile: ping,
      expect: [200],
      check: rpcResult(),
    });
  };
}
