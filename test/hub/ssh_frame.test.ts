import { describe, expect, test } from "bun:test";
import { expandBraces, jsRegexToPerl } from "../../src/hub/ssh/fallback_search.ts";
import { isoFromSeconds } from "../../src/hub/ssh/fallback_files.ts";
import { CappedBytes, FramedStream, frameScript, scriptMarkers } from "../../src/hub/ssh/frame.ts";
import { shQuote } from "../../src/hub/ssh/quote.ts";
import { parseFields } from "../../src/hub/ssh/reply.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const markers = scriptMarkers("0123456789abcdef01234567");

/** Feeds `whole` to a FramedStream split at `cut`, returning what reached the sink. */
function feed(whole: string, cuts: number[], watchEnd: boolean) {
  const sink = new CappedBytes(1 << 20);
  const s = new FramedStream(markers, sink, watchEnd);
  const bytes = enc(whole);
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    s.push(bytes.subarray(at, c));
    at = c;
  }
  s.finish();
  return { body: dec(sink.bytes()), pre: dec(s.preamble()), ended: s.ended, begun: s.hasBegun };
}

describe("script framing", () => {
  test("drops login chatter before the begin marker and cuts the end marker out, wherever the chunks split", () => {
    const whole = `motd line\n${markers.begin}\nerr one\npartial${markers.end}:42:cwd:ENOENT\nlate\n`;
    for (let a = 0; a <= whole.length; a += 3) {
      for (let b = a; b <= whole.length; b += 7) {
        const r = feed(whole, [a, b], true);
        expect(r.pre).toBe("motd line\n");
        expect(r.body).toBe("err one\npartiallate\n");
        expect(r.ended).toEqual({ exitCode: 42, status: "cwd:ENOENT" });
      }
    }
  });

  test("a stream that never began keeps everything as preamble (ssh's own error text)", () => {
    const r = feed("ssh: connect to host x port 22: Connection refused\r\n", [5], true);
    expect(r.begun).toBe(false);
    expect(r.pre).toContain("Connection refused");
    expect(r.body).toBe("");
    expect(r.ended).toBeUndefined();
  });

  test("stdout passes any bytes through untouched, marker-like text included", () => {
    const r = feed(`${markers.begin}\nLMCP-END-other:1:\n${markers.end}:7:\n`, [10], false);
    expect(r.body).toBe(`LMCP-END-other:1:\n${markers.end}:7:\n`);
  });

  test("the framed script is one brace group that reports the script's status", async () => {
    const script = frameScript("echo out; echo err >&2; LMCP_STATUS=x:y; (exit 3)", markers);
    // Its own process group, stdin kept open: the frame's lifeline signals its whole group when stdin ends.
    const p = Bun.spawn(["bash", "-s"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", detached: true });
    p.stdin.write(script);
    await p.stdin.flush();
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    await p.stdin.end();
    expect(code).toBe(3);
    expect(out).toBe(`${markers.begin}\nout\n`);
    expect(err).toBe(`${markers.begin}\nerr\n${markers.end}:3:x:y\n`);
  });
});

describe("shQuote", () => {
  test("bash reads back exactly the quoted value, and runs none of it", async () => {
    const values = ["plain", "", "it's", `"double"`, "$(touch /tmp/lmcp-pwned-q)", "`touch /tmp/lmcp-pwned-q`", "a\nb\r\n", "\\ \\\\ '\\''", "!$HOME;|&<>*?[]{}~#", "ünï ☃ 😀", "'''"];
    for (const v of values) {
      const p = Bun.spawn(["bash", "-c", `printf '%s' ${shQuote(v)}`], { stdout: "pipe" });
      expect(await new Response(p.stdout).text()).toBe(v);
    }
    expect(await Bun.file("/tmp/lmcp-pwned-q").exists()).toBe(false);
  });
});

describe("reply fields", () => {
  test("netstrings carry any bytes; malformed input is refused", () => {
    const parts = ["ok", "", "a:b\0c\n", "x".repeat(1000)];
    const wire = enc(parts.map((p) => `${enc(p).length}:${p}`).join(""));
    expect(parseFields(wire)?.map(dec)).toEqual(parts);
    expect(parseFields(enc("3:ab"))).toBeUndefined();
    expect(parseFields(enc("x:ab"))).toBeUndefined();
    expect(parseFields(enc(""))).toEqual([]);
  });
});

describe("search helpers", () => {
  test("brace alternatives expand for find -name; other globs stay as they are", () => {
    expect(expandBraces("*.{ts,tsx}")).toEqual(["*.ts", "*.tsx"]);
    expect(expandBraces("{a,{b,c}}{1,2}")).toEqual(["a1", "a2", "b1", "b2", "c1", "c2"]);
    expect(expandBraces("*.lua")).toEqual(["*.lua"]);
    expect(expandBraces("x{y}z{1,2}")).toEqual(["x{y}z1", "x{y}z2"]);
    expect(expandBraces("a\\{b,c}")).toEqual(["a\\{b,c}"]);
    expect(expandBraces("{a,b")).toEqual(["{a,b"]);
    expect(expandBraces("{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}").length).toBe(256);
  });

  test("JS regex sources become perl ones", () => {
    expect(jsRegexToPerl("\\u00e9t\\u00E9")).toBe("(?a)\\x{00e9}t\\x{00E9}");
    expect(jsRegexToPerl("a[^]b\\\\u0041")).toBe("(?a)a[\\s\\S]b\\\\u0041");
  });

  test("perl's seconds become node's millisecond ISO times, truncated", () => {
    expect(isoFromSeconds("1700000000.123999999")).toBe(new Date(1700000000123).toISOString());
    expect(isoFromSeconds("1700000000")).toBe(new Date(1700000000000).toISOString());
  });
});
