// Values the fuzzer puts into tool arguments: harmless baselines, wrong types,
// hostile strings and numbers, and path tricks (the suite runs as root, so
// writing tools only ever get paths that fail safely or stay in the fixtures).
import { type Fixtures, type TargetInfo, call, initialize, note, rpc } from "./fuzz_wire.ts";

/** Safe, valid requests: the base for truncation and mutation. Never a shell command. */
export function validBodies(t: TargetInfo): unknown[] {
  return [
    rpc("ping"),
    rpc("tools/list"),
    initialize(),
    call(t, "read_file", { path: t.fx.small }),
    call(t, "list_dir", { path: t.fx.dir }),
    call(t, "search_files", { path: t.fx.dir, pattern: "*.txt", content: "hello" }),
    [rpc("ping"), rpc("tools/list"), note("notifications/initialized")],
  ];
}

/** Valid arguments for each serve tool that do nothing harmful; tools not listed are only sent invalid arguments. */
export function baseline(t: TargetInfo, tool: string): Record<string, unknown> | undefined {
  const fx = t.fx;
  const base: Record<string, Record<string, unknown>> = {
    shell: { command: "echo fuzz" },
    shell_bg: { command: "true" },
    shell_bg_status: { job_id: "j-nosuchjob2" },
    shell_bg_kill: { job_id: "j-nosuchjob2" },
    shell_bg_wait: { job_id: "j-nosuchjob2", timeout_s: 0 },
    shell_bg_output: { job_id: "j-nosuchjob2" },
    shell_bg_list: { limit: 5 },
    read_file: { path: fx.small },
    write_file: { path: `${fx.writeDir}/out.txt`, content: "fuzz\n" },
    edit_file: { path: fx.editFile, old_string: "alpha", new_string: "beta", replace_all: true },
    list_dir: { path: fx.dir },
    search_files: { path: fx.dir, pattern: "*", max_depth: 2 },
    list_hosts: {},
    shell_many: { hosts: ["backend"], command: "echo fuzz" },
  };
  return base[tool];
}

/** A serve tool's name from a target's tool name (remote_read_file → read_file). */
export const baseName = (t: TargetInfo, name: string) => (t.target === "hub" && name.startsWith("remote_") ? name.slice(7) : name);

// Values of the wrong JSON type for each schema type: zod must refuse every one.
export const WRONG: Record<string, unknown[]> = {
  string: [null, 0, -1, 1.5, true, false, [], ["a"], {}, { a: "b" }, 1e308],
  number: [null, "1", "", "NaN", true, [], [1], {}, { n: 1 }],
  integer: [null, "1", 1.5, -0.5, true, [], {}, "0x10", "Infinity"],
  boolean: [null, 0, 1, "true", "false", "", [], {}],
  array: [null, "backend", 1, true, {}, { 0: "backend" }],
  object: [null, "a=b", 1, true, [], [["A", "b"]]],
  enum: [null, "", "UTF8", "utf-8", "TERM ", 1, [], {}],
};

export const HOSTILE_STRINGS = [
  "",
  " ",
  "\u0000",
  "\n\r\t",
  "x".repeat(10_000),
  "$(printf fuzz)",
  "`printf fuzz`",
  "%s%n%x%p",
  "\u202e\uffff\ufeff",
  "\ud800",
  "🙂".repeat(100),
  "../../..",
  "__proto__",
];
export const HOSTILE_NUMBERS = [0, -1, 1, 1.5, -0, 1e308, -1e308, 2 ** 53, 2 ** 31, 4294967296, 1e-300];

/** Paths that read-only tools get: traversal, NUL, huge, devices, FIFOs, /proc files that never end. */
export function readPathTricks(fx: Fixtures): string[] {
  return [
    "../../etc/passwd",
    "../../../../../../../../../../etc/hostname",
    "/etc/passwd",
    "/etc/passwd\u0000.txt",
    "a\u0000b",
    "\u0000",
    "/proc/self/mem",
    "/proc/self/pagemap",
    "/proc/self/environ",
    "/proc/self/status",
    "/proc/self/fd/0",
    "/proc/self/fd/2",
    "/dev/zero",
    "/dev/urandom",
    "/dev/null",
    "/dev/full",
    "/dev/stdin",
    fx.fifo,
    fx.loop,
    fx.sub,
    `${fx.small}/x`,
    `${fx.small}/..`,
    "x".repeat(5000),
    "/".repeat(5000),
    "a/".repeat(3000),
    "y".repeat(300),
    "~",
    "~root",
    "~/../..",
    ".",
    "..",
    "\\..\\..\\windows\\win.ini",
    "file:///etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "\ud800",
    "//etc//passwd",
    "/tmp/../../../etc/passwd",
  ];
}

/** Paths the writing tools get: every one fails safely or lands in the fixture dir (the suite runs as root, so never /etc). */
export function writePathTricks(fx: Fixtures): string[] {
  return [
    "/etc/passwd\u0000",
    "a\u0000b",
    "x".repeat(5000),
    "y".repeat(300),
    "a/".repeat(3000),
    fx.fifo,
    fx.sub,
    fx.loop,
    `${fx.small}/x`,
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/proc/self/mem",
    "/proc/self/pagemap",
    "~",
    "../../..",
    "/",
    `${fx.writeDir}/\ud800`,
    `${fx.writeDir}/ spaces and\nnewline`,
    `${fx.writeDir}/.hidden`,
    `${fx.writeDir}/deep/${"d/".repeat(20)}f.txt`,
  ];
}
