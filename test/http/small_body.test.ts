// readSmallBody: the cap holds for a declared length and for a chunked body that declares none.
import { describe, expect, test } from "bun:test";
import { readSmallBody } from "../../src/http/small_body.ts";

/** A chunked body of `chunks` × 64 KiB that counts how many chunks were pulled. */
function endless(chunks: number) {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled++ >= chunks) c.close();
      else c.enqueue(new Uint8Array(64 * 1024));
    },
  });
  return { req: new Request("http://127.0.0.1/sudo/x", { method: "POST", body, duplex: "half" } as RequestInit), pulled: () => pulled };
}

describe("readSmallBody", () => {
  test("refuses a chunked body past the cap and stops reading it there", async () => {
    const { req, pulled } = endless(160);
    expect(await readSmallBody(req, 4096)).toBeUndefined();
    expect(pulled()).toBeLessThan(4);
  });
  test("refuses a declared Content-Length over the cap before reading", async () => {
    const req = new Request("http://127.0.0.1/x", { method: "POST", body: "x".repeat(10), headers: { "content-length": "999999" } });
    expect(await readSmallBody(req, 4096)).toBeUndefined();
  });
  test("returns a small body whole", async () => {
    const req = new Request("http://127.0.0.1/x", { method: "POST", body: "password=p%C3%A4ss" });
    expect((await readSmallBody(req, 4096))?.toString()).toBe("password=p%C3%A4ss");
  });
});
