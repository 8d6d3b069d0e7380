import { describe, expect, test } from "bun:test";
import { cutMarker, cutMiddle, decodeUtf8, HeadTail, headBoundary, tailBoundary } from "../../src/tools/output_cut.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const marker = (n: number) => `[cut ${n}]`;

describe("output_cut", () => {
  test("output within the limit is returned whole, without a marker", () => {
    expect(cutMiddle(enc("hello"), 10, marker)).toEqual({ text: "hello", cut: false });
    expect(cutMiddle(enc("0123456789"), 10, marker)).toEqual({ text: "0123456789", cut: false });
  });

  test("long output keeps the first and last half of the limit with the cut count between", () => {
    const r = cutMiddle(enc("abcdefghijklmnopqrstuvwxyz"), 10, marker);
    expect(r).toEqual({ text: "abcde[cut 16]vwxyz", cut: true });
  });

  test("streamed chunks of any size give the same head and tail as one buffer", () => {
    const data = enc("x".repeat(50) + "HEAD-END" + "y".repeat(1000) + "TAIL-START" + "z".repeat(37));
    const whole = cutMiddle(data, 100, marker);
    for (const size of [1, 3, 7, 64, 99, 100, 101, 5000]) {
      const ht = new HeadTail(100);
      for (let i = 0; i < data.length; i += size) ht.push(data.subarray(i, i + size));
      expect(ht.total).toBe(data.length);
      expect(ht.render(marker)).toEqual(whole);
    }
  });

  test("allBytes returns everything while nothing has been cut", () => {
    const ht = new HeadTail(8);
    ht.push(enc("abc"));
    ht.push(enc("defgh"));
    expect(ht.overflowed).toBe(false);
    expect(decodeUtf8(ht.allBytes())).toBe("abcdefgh");
    ht.push(enc("i"));
    expect(ht.overflowed).toBe(true);
  });

  test("a cut never splits a multi-byte character", () => {
    // "é" is 2 bytes, "€" 3, "😀" 4: every cut position lands inside one of them somewhere.
    const text = "é€😀".repeat(40);
    for (let max = 2; max < 40; max++) {
      const r = cutMiddle(enc(text), max, () => "|");
      expect(r.cut).toBe(true);
      expect(r.text).not.toContain("\uFFFD");
      const [head, tail] = r.text.split("|") as [string, string];
      expect(text.startsWith(head)).toBe(true);
      expect(text.endsWith(tail)).toBe(true);
      expect(enc(head).length).toBeLessThanOrEqual(Math.floor(max / 2));
    }
  });

  test("headBoundary drops only an incomplete trailing character", () => {
    expect(headBoundary(enc("ab"))).toBe(2);
    expect(headBoundary(enc("aé"))).toBe(3);
    expect(headBoundary(enc("aé").subarray(0, 2))).toBe(1);
    expect(headBoundary(enc("a😀").subarray(0, 4))).toBe(1);
    expect(headBoundary(enc("a😀"))).toBe(5);
  });

  test("tailBoundary skips continuation bytes of a character cut at the start", () => {
    expect(tailBoundary(enc("ab"))).toBe(0);
    expect(tailBoundary(enc("😀b").subarray(1))).toBe(3);
    expect(tailBoundary(enc("éb").subarray(1))).toBe(1);
    expect(tailBoundary(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x41]))).toBe(0);
  });

  test("invalid UTF-8 becomes replacement characters instead of an error", () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x20, 0x6f, 0x6b]);
    expect(decodeUtf8(bytes)).toBe("\uFFFD\uFFFD ok");
    expect(cutMiddle(new Uint8Array([...bytes, ...bytes, ...bytes]), 6, marker).text).toContain("ok");
  });

  test("the marker names the byte count and where the full output is", () => {
    expect(cutMarker({ cutBytes: 1234, fullPath: "/s/x.stdout" })).toBe(
      "\n[lmcp: 1234 bytes cut from the middle; full output: /s/x.stdout]\n",
    );
    expect(cutMarker({ cutBytes: 5, fullPath: "/s/x", spoolCapped: true, spoolCapBytes: 256 * 1024 * 1024 })).toContain(
      "full output (first 256 MiB only): /s/x",
    );
    expect(cutMarker({ cutBytes: 5, spoolError: "disk full" })).toContain("full output not kept: disk full");
  });

  test("a zero limit keeps nothing but still counts the cut", () => {
    expect(cutMiddle(enc("abc"), 0, marker)).toEqual({ text: "[cut 3]", cut: true });
  });
});
