// Reads a body that must be small (a form: a password, a console action), refusing
// one over the cap both from Content-Length and while streaming a chunked body,
// so a client can never make the server hold more than `max` bytes of it.

/** The body's bytes, or undefined when it is (or declares itself) over `max`. */
export async function readSmallBody(req: Request, max: number): Promise<Buffer | undefined> {
  const length = req.headers.get("content-length");
  if (length !== null && !(Number(length) <= max)) return undefined;
  if (!req.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      for (const c of chunks) c.fill(0);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
