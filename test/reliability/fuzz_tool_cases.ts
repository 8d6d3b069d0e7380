// Fuzz categories in tool arguments: wrong types for every argument of every
// tool (from tools/list), hostile values of the right type, and path tricks.
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, WRONG, baseName, baseline, readPathTricks, writePathTricks } from "./fuzz_values.ts";
import { type Gen, J, call, post, rpc, rpcError, toolAnswered } from "./fuzz_wire.ts";

export const wrongTypes: Gen = (t, rng) => {
  const tool = rng.pick(t.tools);
  const props = Object.keys(tool.properties);
  const base = baseline(t, baseName(t, tool.name));
  const hubBase = t.target === "hub" && base ? { host: "backend", ...base } : base;
  const form = rng.int(0, 9);
  const needsArgs = tool.required.length > 0;
  if (form === 0 && needsArgs) {
    const args = rng.pick<unknown>([[], "args", 1, true, [["path", "/etc/passwd"]]]);
    return post(t, rng, J(rpc("tools/call", { name: tool.name, arguments: args })), { expect: [200], check: rpcError(-32602) });
  }
  if (form === 1 && needsArgs) {
    // a required argument missing
    const args: Record<string, unknown> = { ...(hubBase ?? {}) };
    delete args[rng.pick(tool.required)];
    return post(t, rng, J(rpc("tools/call", { name: tool.name, arguments: args })), { expect: [200], check: rpcError(-32602) });
  }
  if (form === 2) {
    const name = rng.pick<unknown>([1, null, [], {}, true, "", `${tool.name}\u0000`, ` ${tool.name}`, tool.name.toUpperCase(), "__proto__", "constructor"]);
    return post(t, rng, J(rpc("tools/call", { name, arguments: hubBase ?? {} })), { expect: [200], check: rpcError(-32602) });
  }
  if (props.length === 0) return post(t, rng, J(rpc("tools/call", { name: tool.name, arguments: { x: null } })), { expect: [200], check: toolAnswered });
  const prop = rng.pick(props);
  const schema = tool.properties[prop]!;
  const kind = schema.enum ? "enum" : (schema.type ?? "string");
  const value = rng.pick(WRONG[kind] ?? WRONG.string!);
  const args: Record<string, unknown> = { ...(hubBase ?? {}), [prop]: value };
  return post(t, rng, J(rpc("tools/call", { name: tool.name, arguments: args })), { expect: [200], check: rpcError(-32602) });
};

/** Right types, hostile values, for the tools with a harmless baseline (write paths stay in the fixture dir). */
export const hostileValues: Gen = (t, rng) => {
  const fx = t.fx;
  const fields: [string, string, unknown[]][] = [
    ["shell", "command", ["$(printf fuzz)", "`printf fuzz`", "x".repeat(10_000), "\u0000", "echo 🙂", "exit 255", "kill -0 $$", ":", "echo $HOME", "\ud800", "printf '\\xff\\xfe'"]],
    ["shell", "cwd", ["", "/", "/nonexistent", fx.fifo, fx.small, "\u0000", "~", "x".repeat(5000), fx.loop]],
    ["shell", "timeout_s", HOSTILE_NUMBERS],
    ["shell", "stdin", ["", "x".repeat(200_000), "\u0000", "\ud800"]],
    ["shell", "env", [{}, { "": "x" }, { "A=B": "c" }, { PATH: "" }, { X: "\u0000" }, { ["X".repeat(1000)]: "y" }, { X: "y".repeat(100_000) }, JSON.parse('{"__proto__":"x"}'), { BASH_ENV: fx.small }, { "\u0000": "x" }]],
    ["shell_bg", "cwd", ["/nonexistent", fx.fifo, "\u0000"]],
    ["shell_bg", "env", [{ "A=B": "c" }, { X: "\u0000" }]],
    ["shell_bg_status", "job_id", ["", "../../etc/passwd", "\u0000", "x".repeat(5000), "..", "/", "j-../../..", "j-AAAAAAAAAA"]],
    ["shell_bg_status", "tail_lines", HOSTILE_NUMBERS],
    ["shell_bg_kill", "job_id", ["../../etc/passwd", "\u0000", "j-........."]],
    ["read_file", "path", readPathTricks(fx)],
    ["read_file", "offset", HOSTILE_NUMBERS],
    ["read_file", "limit", HOSTILE_NUMBERS],
    ["write_file", "content", HOSTILE_STRINGS],
    ["write_file", "mode", ["0000", "7777", "777", "0644", "9999", "", "-1", "0o644", "1" + "0".repeat(400)]],
    ["write_file", "encoding", ["base64"]],
    ["write_file", "path", writePathTricks(fx)],
    ["edit_file", "old_string", HOSTILE_STRINGS],
    ["edit_file", "new_string", HOSTILE_STRINGS],
    ["edit_file", "path", writePathTricks(fx)],
    ["list_dir", "path", readPathTricks(fx)],
    ["search_files", "pattern", ["*", "**", "[", "[!", "[a-", "{a,b}", "{", "\\", "*".repeat(1000), `${"*a".repeat(25)}b`, "?".repeat(300), "\u0000", "..", "{".repeat(200)]],
    ["search_files", "content", ["(", "[", "(a+)+$", "\\", "", ".*", "(?<=a)b", "\\p{L}", "x{99999999}", "[\\s\\S]*".repeat(50), "\u0000"]],
    ["search_files", "max_results", HOSTILE_NUMBERS],
    ["search_files", "max_depth", HOSTILE_NUMBERS],
  ];
  const available = new Set(t.tools.map((x) => baseName(t, x.name)));
  const usable = fields.filter(([tool]) => available.has(tool));
  const [tool, field, values] = rng.pick(usable);
  const value = rng.pick(values);
  const args = { ...baseline(t, tool), [field]: value };
  if (tool === "write_file" && field === "content" && rng.chance(0.3)) args.encoding = "base64";
  return post(t, rng, J(call(t, tool, args)), { expect: [200], check: toolAnswered });
};

export const pathTricks: Gen = (t, rng) => {
  const fx = t.fx;
  const k = rng.int(0, 9);
  if (k <= 3) {
    const path = rng.pick(readPathTricks(fx));
    const args: Record<string, unknown> = { path };
    if (rng.chance(0.3)) args.encoding = "base64";
    if (rng.chance(0.3)) args.offset = rng.pick([0, 1, 2, 1000]);
    return post(t, rng, J(call(t, "read_file", args)), { expect: [200], check: toolAnswered });
  }
  if (k === 4) return post(t, rng, J(call(t, "list_dir", { path: rng.pick(readPathTricks(fx)), all: true })), { expect: [200], check: toolAnswered });
  if (k === 5) {
    const path = rng.pick([...readPathTricks(fx).filter((p) => !p.startsWith("/proc/self/fd")), "/proc/self", "/dev"]);
    return post(t, rng, J(call(t, "search_files", { path, pattern: rng.pick(["*", "pagemap", "passwd", "*.txt"]), content: rng.pick([undefined, "x", "root"]), max_depth: 1 })), { expect: [200], check: toolAnswered });
  }
  if (k === 6) return post(t, rng, J(call(t, "write_file", { path: rng.pick(writePathTricks(fx)), content: "fuzz" })), { expect: [200], check: toolAnswered });
  if (k === 7) return post(t, rng, J(call(t, "edit_file", { path: rng.pick(writePathTricks(fx)), old_string: rng.pick(["", "a", "fuzz"]), new_string: "b" })), { expect: [200], check: toolAnswered });
  if (k === 8 && t.target === "hub") {
    // the host argument itself: unknown, injection-looking, huge
    const host = rng.pick(["", "nosuch", "backend\u0000", "../backend", "-oProxyCommand=touch /tmp/pwned", "backend ", "BACKEND", "x".repeat(10_000), "__proto__", "constructor"]);
    return post(t, rng, J(rpc("tools/call", { name: "remote_read_file", arguments: { host, path: fx.small } })), { expect: [200], check: toolAnswered });
  }
  return post(t, rng, J(call(t, "read_file", { path: `${fx.dir}/${rng.pick(["../../../etc/passwd", "./small.txt", "sub/../small.txt", "small.txt\u0000"])}` })), { expect: [200], check: toolAnswered });
};
