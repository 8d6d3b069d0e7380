// Fuzz categories at the JSON-RPC level: valid requests, truncated and mutated
// JSON, nesting around the depth cap, 1–8 MB strings, batches, unknown methods,
// malformed messages and invalid UTF-8.
import { validBodies } from "./fuzz_values.ts";
import { type Gen, J, MiB, batchOf, call, enc, initialize, note, post, rpc, rpcError, rpcResult, toolAnswered } from "./fuzz_wire.ts";

export const valid: Gen = (t, rng) => {
  const k = rng.int(0, 9);
  if (k === 0) return { via: "fetch", path: "/healthz", method: "GET", headers: {}, expect: [200] };
  if (k === 1) return post(t, rng, J(initialize()), { expect: [200], check: rpcResult() });
  if (k === 2) return post(t, rng, J(rpc("tools/list")), { expect: [200], check: rpcResult() });
  if (k === 3) return post(t, rng, J(call(t, "read_file", { path: t.fx.small })), { expect: [200], check: rpcResult(true) });
  if (k === 4) return post(t, rng, J(call(t, "list_dir", { path: t.fx.dir, all: true })), { expect: [200], check: rpcResult(true) });
  if (k === 5 && rng.chance(0.3)) return post(t, rng, J(call(t, "shell", { command: "echo fuzz" })), { expect: [200], check: rpcResult(true) });
  if (k === 6 && t.target === "hub") return post(t, rng, J(rpc("tools/call", { name: "remote_list_hosts", arguments: {} })), { expect: [200], check: rpcResult(true) });
  if (k === 7) return post(t, rng, J(note("notifications/initialized")), { expect: [202] });
  return post(t, rng, J(rpc("ping")), { expect: [200], check: rpcResult() });
};

export const truncatedJson: Gen = (t, rng) => {
  const body = J(rng.pick(validBodies(t)));
  const cut = body.slice(0, rng.int(0, body.length - 1));
  const auth = rng.chance(0.9) ? "good" : "none";
  return post(t, rng, cut, { auth, ...(auth === "good" ? { expect: [400], check: rpcError(-32700) } : {}) });
};

const MUTATION_BYTES = ['"', "{", "}", "[", "]", ",", ":", "\\", "\u0000", "\n", "null", "1e999", "-", "'", "\\u", "\\ud800", "\u00ff", "true"];

export const garbageJson: Gen = (t, rng) => {
  let s = J(rng.pick(validBodies(t)));
  const edits = rng.int(1, 6);
  for (let i = 0; i < edits; i++) {
    const at = rng.int(0, s.length);
    const op = rng.int(0, 3);
    if (op === 0) s = s.slice(0, at) + rng.pick(MUTATION_BYTES) + s.slice(at);
    else if (op === 1) s = s.slice(0, at) + s.slice(at + rng.int(1, 8));
    else if (op === 2) s = s.slice(0, at) + String.fromCharCode(rng.int(0x20, 0x7e)) + s.slice(at + 1);
    else s = s.slice(0, at) + s.slice(rng.int(0, s.length)); // splice in another part of itself
  }
  return post(t, rng, s, { expect: [200, 202, 400], check: (st, ct, b) => (st === 400 ? rpcError(-32700, -32600)(st, ct, b) : undefined) });
};

export const deepNesting: Gen = (t, rng) => {
  const depth = rng.pick([62, 63, 64, 64, 64, 65, 65, 65, 66, 100, 1000, 10_000, 100_000]);
  const form = rng.int(0, 5);
  let body: string;
  let counted: number; // the nesting the boundary's depth check sees
  if (form === 0) {
    // ping params: {"x": [[[…]]]}; the message object and params add 2 levels
    const k = depth - 2;
    body = `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${"[".repeat(k)}${"]".repeat(k)}}}`;
    counted = depth;
  } else if (form === 1) {
    const k = depth - 1;
    body = `{"jsonrpc":"2.0","id":1,"method":"ping","params":${'{"a":'.repeat(k)}1${"}".repeat(k)}}`;
    counted = depth;
  } else if (form === 2) {
    // a batch nested in itself: never valid, but the depth check answers first when too deep
    body = `${"[".repeat(depth)}${"]".repeat(depth)}`;
    counted = depth;
  } else if (form === 3) {
    // unclosed brackets: invalid JSON either way
    body = "[".repeat(depth);
    counted = depth;
  } else if (form === 4) {
    // brackets inside a string, behind escaped quotes: no nesting at all
    body = J(rpc("ping", { s: `\\"${"[".repeat(depth)}\\"` }));
    counted = 2;
  } else {
    // nested tool arguments: an unknown key zod strips, after the depth check
    const k = depth - 3;
    const inner = `${"[".repeat(Math.max(k, 0))}${"]".repeat(Math.max(k, 0))}`;
    const name = t.target === "hub" ? "remote_read_file" : "read_file";
    const host = t.target === "hub" ? `"host":"backend",` : "";
    body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${name}","arguments":{${host}"path":${J(t.fx.small)},"extra":${inner}}}}`;
    counted = Math.max(k, 0) + 3;
  }
  if (rng.chance(0.1)) return post(t, rng, body, { auth: "none" });
  if (counted > 64) return post(t, rng, body, { expect: [400], check: rpcError(-32700) });
  if (form === 2 || form === 3) return post(t, rng, body, { expect: [400], check: rpcError(-32700, -32600) });
  return post(t, rng, body, { expect: [200], check: (st, ct, b) => (rpcError(-32700)(st, ct, b) === undefined ? "refused as too deep at depth ≤ 64" : undefined) });
};

/** Payloads of 1–8 MB; the count per run keeps the total traffic bounded. */
export const hugeStrings: Gen = (t, rng) => {
  const size = rng.int(1, 8) * MiB - rng.int(0, 1000);
  const big = () => "x".repeat(size);
  const form = rng.int(0, 8);
  switch (form) {
    case 0:
      return post(t, rng, J(call(t, "write_file", { path: `${t.fx.writeDir}/huge.txt`, content: big() })), { expect: [200], check: rpcResult(true) });
    case 1:
      return post(t, rng, J(call(t, "read_file", { path: big() })), { expect: [200], check: toolAnswered });
    case 2:
      return post(t, rng, J(call(t, "shell", { command: big() })), { expect: [200], check: toolAnswered });
    case 3:
      return post(t, rng, J(rpc(big())), { expect: [200], check: rpcError(-32601) });
    case 4:
      return post(t, rng, J(rpc("ping", undefined, big())), { expect: [200], check: rpcResult() });
    case 5:
      return post(t, rng, J(rpc("ping", { [big().slice(0, 1000)]: big() })), { expect: [200], check: rpcResult() });
    case 6:
      return post(t, rng, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"s":"${"\\u0041".repeat(Math.floor(size / 6))}"}}`, { expect: [200], check: rpcResult() });
    case 7:
      return post(t, rng, big(), { expect: [400], check: rpcError(-32700) });
    default:
      return post(t, rng, J(call(t, "edit_file", { path: t.fx.editFile, old_string: big(), new_string: "y" })), { expect: [200], check: toolAnswered });
  }
};

export const batch: Gen = (t, rng) => {
  const pings = (n: number) => Array.from({ length: n }, () => rpc("ping"));
  const form = rng.int(0, 11);
  switch (form) {
    case 0:
      return post(t, rng, "[]", { expect: [400], check: rpcError(-32600) });
    case 1:
      return post(t, rng, J(pings(1)), { expect: [200], check: batchOf(1) });
    case 2:
      return post(t, rng, J(pings(100)), { expect: [200], check: batchOf(100) });
    case 3:
      return post(t, rng, J(pings(101)), { expect: [400], check: rpcError(-32600) });
    case 4: {
      const items = rng.shuffle([...pings(50), ...Array.from({ length: 50 }, () => note("notifications/initialized"))]);
      return post(t, rng, J(items), { expect: [200], check: batchOf(50) });
    }
    case 5:
      return post(t, rng, J(Array.from({ length: 100 }, () => note(rng.pick(["notifications/initialized", "notifications/unknown", "notifications/cancelled"]), { requestId: "no-such-request" }))), { expect: [202] });
    case 6:
      return post(t, rng, J(Array.from({ length: 100 }, () => rpc("ping", undefined, 1))), { expect: [200], check: batchOf(100) });
    case 7:
      return post(t, rng, J(Array.from({ length: rng.pick([10, 100]) }, () => call(t, "read_file", { path: t.fx.small }))), { expect: [200] });
    case 8:
      return post(t, rng, J([[rpc("ping")]]), { expect: [400], check: rpcError(-32600) });
    case 9:
      return post(t, rng, J([1, "a", null, true, {}]), { expect: [400], check: rpcError(-32600) });
    case 10:
      return post(t, rng, J([rpc("ping"), { jsonrpc: "2.0", id: 2 }, rpc("tools/list")]), { expect: [400], check: rpcError(-32600) });
    default:
      return post(t, rng, J([...pings(rng.int(2, 99)), rpc("no/such/method"), rpc("tools/list")]), { expect: [200] });
  }
};

const UNKNOWN_METHODS = [
  "foo",
  "tools/cal",
  "tools/call/",
  "TOOLS/LIST",
  "",
  " ",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "prototype",
  "rpc.discover",
  "resources/subscribe",
  "resources/unsubscribe",
  "prompts/list",
  "prompts/get",
  "completion/complete",
  "logging/setLevel",
  "sampling/createMessage",
  "roots/list",
  "elicitation/create",
  "tasks/list",
  "notifications/initialized",
  "$/cancelRequest",
  "\u0000",
  "ping\n",
  "ping ",
];

export const unknownMethod: Gen = (t, rng) => {
  const method = rng.chance(0.7) ? rng.pick(UNKNOWN_METHODS) : Array.from({ length: rng.int(1, 40) }, () => String.fromCharCode(rng.int(0x21, 0x7e))).join("");
  const params = rng.pick<unknown>([undefined, {}, { a: 1 }, { _meta: { progressToken: 1 } }]);
  if (rng.chance(0.35)) return post(t, rng, J(note(method, params)), { expect: [202] });
  if (method === "ping" || method === "initialize" || method === "tools/list" || method === "tools/call") return post(t, rng, J(rpc("ping")), { expect: [200] });
  return post(t, rng, J(rpc(method, params)), { expect: [200], check: rpcError(-32601) });
};

export const badJsonRpc: Gen = (t, rng) => {
  const forms: [unknown, number[]][] = [
    [{ jsonrpc: "1.0", id: 1, method: "ping" }, [400]],
    [{ id: 1, method: "ping" }, [400]],
    [{ jsonrpc: 2, id: 1, method: "ping" }, [400]],
    [{ jsonrpc: "2.0", id: null, method: "ping" }, [200, 202, 400]],
    [{ jsonrpc: "2.0", id: {}, method: "ping" }, [400]],
    [{ jsonrpc: "2.0", id: [], method: "ping" }, [400]],
    [{ jsonrpc: "2.0", id: true, method: "ping" }, [400]],
    [{ jsonrpc: "2.0", id: 1.5, method: "ping" }, [200, 400]],
    [{ jsonrpc: "2.0", id: 1e308, method: "ping" }, [200, 400]],
    [{ jsonrpc: "2.0", id: -1, method: "ping" }, [200]],
    [{ jsonrpc: "2.0", id: "", method: "ping" }, [200]],
    [{ jsonrpc: "2.0", id: 2 ** 64, method: "ping" }, [200, 400]],
    [{ jsonrpc: "2.0", id: 1, method: 1 }, [400]],
    [{ jsonrpc: "2.0", id: 1, method: null }, [400]],
    [{ jsonrpc: "2.0", id: 1, method: ["ping"] }, [400]],
    [{ jsonrpc: "2.0", id: 1, method: "ping", params: "x" }, [400]],
    [{ jsonrpc: "2.0", id: 1, method: "ping", params: 1 }, [400]],
    [{ jsonrpc: "2.0", id: 1, method: "ping", params: [] }, [200, 400]],
    [{ jsonrpc: "2.0", id: 1, method: "ping", params: null }, [200, 400]],
    [{ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }, [200]],
    [{ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 1 } }, [200]],
    [{ jsonrpc: "2.0", id: 1, method: "tools/call" }, [200]],
    [{ jsonrpc: "2.0", id: 1, method: "tools/call", params: {} }, [200]],
    [{ jsonrpc: "2.0", id: 1, result: {} }, [202]],
    [{ jsonrpc: "2.0", id: 1, error: { code: 1, message: "x" } }, [202]],
    [{ jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "x" } }, [202, 400]],
    [JSON.parse('{"jsonrpc":"2.0","id":1,"method":"ping","__proto__":{"polluted":1}}'), [200, 400]],
    [{ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: {} } }, [202, 400]],
    [{ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1e308, reason: "x".repeat(10_000) } }, [202]],
    [{ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: "x" } }, [202, 400]],
    [1, [400]],
    ["ping", [400]],
    [null, [400]],
    [true, [400]],
    [{}, [400]],
  ];
  const raw = rng.chance(0.1);
  if (raw) {
    const text = rng.pick([`{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, `{"jsonrpc":"2.0","id":1,"method":"ping","__proto__":{"x":1}}`, `{"jsonrpc":"2.0","id":01,"method":"ping"}`, `{"jsonrpc":"2.0","id":NaN,"method":"ping"}`, `{"jsonrpc":"2.0","id":1,"method":"ping",}`, `\ufeff{"jsonrpc":"2.0","id":1,"method":"ping"}`, ` \t\r\n{"jsonrpc":"2.0","id":1,"method":"ping"}\n `]);
    return post(t, rng, text, { expect: [200, 400] });
  }
  const [body, expect] = rng.pick(forms);
  return post(t, rng, J(body), { expect, check: (st, ct, b) => (st === 400 ? rpcError(-32600, -32700)(st, ct, b) : undefined) });
};

export const invalidUtf8: Gen = (t, rng) => {
  const bad = rng.pick([[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xc3]]);
  const b = Buffer.from(bad);
  const at = (prefix: string, suffix: string) => Buffer.concat([enc(prefix), b, enc(suffix)]);
  const form = rng.int(0, 6);
  if (form === 0) return post(t, rng, at(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"s":"`, `"}}`), { expect: [200], check: rpcResult() });
  if (form === 1) return post(t, rng, at(`{"jsonrpc":"2.0","id":1,"method":"pi`, `ng"}`), { expect: [200], check: rpcError(-32601) });
  if (form === 2) {
    const c = call(t, "write_file", { path: `${t.fx.writeDir}/utf8.txt`, content: "@@" });
    const [pre, post2] = J(c).split("@@") as [string, string];
    return post(t, rng, at(pre, post2), { expect: [200], check: rpcResult(true) });
  }
  if (form === 3) {
    const c = call(t, "read_file", { path: `${t.fx.dir}/@@` });
    const [pre, post2] = J(c).split("@@") as [string, string];
    return post(t, rng, at(pre, post2), { expect: [200], check: toolAnswered });
  }
  if (form === 4) return post(t, rng, at(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"`, `":1}}`), { expect: [200], check: rpcResult() });
  if (form === 5) return post(t, rng, Buffer.from(J(rpc("ping")), "utf16le"), { expect: [400] });
  // raw bytes outside any string: not JSON
  return post(t, rng, at(`{"jsonrpc":"2.0","id":1,`, `"method":"ping"}`), { expect: [400], check: rpcError(-32700) });
};
