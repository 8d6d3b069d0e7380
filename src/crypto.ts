// Hashing and randomness for tokens, ids and temp names, on Bun's native
// CryptoHasher and the Web Crypto global rather than node:crypto: importing
// node:crypto loads Node's stream machinery, about 4 MB of resident memory
// that a daemon idling on every host should not carry.

/** SHA-256 of a string or bytes. */
export function sha256(data: string | Uint8Array): Buffer {
  return new Bun.CryptoHasher("sha256").update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

/** `n` bytes from the system CSPRNG. */
export function randomBytes(n: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n)).buffer);
}

/** Constant-time comparison of two equal-length byte strings (false when the lengths differ). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && crypto.timingSafeEqual(a, b);
}
