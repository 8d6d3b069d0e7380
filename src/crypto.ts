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

/** A per-process key for state that round-trips through a client: a restart makes old state stale (asked again). */
const stateKey = crypto.getRandomValues(new Uint8Array(32));

function stateMac(purpose: string, payload: string): string {
  return new Bun.CryptoHasher("sha256", stateKey).update(`${purpose}\0${payload}`).digest("hex");
}

/** `payload` with a MAC, for a client to echo back (MCP requestState); `purpose` keeps one kind from passing as another. */
export function signState(purpose: string, payload: string): string {
  return `${payload}.${stateMac(purpose, payload)}`;
}

/** The payload of a state this process signed for `purpose`, or undefined when it was not (forged, altered, stale). */
export function openState(purpose: string, state: string | undefined): string | undefined {
  if (!state) return undefined;
  const dot = state.lastIndexOf(".");
  if (dot < 0) return undefined;
  const payload = state.slice(0, dot);
  const given = Buffer.from(state.slice(dot + 1));
  const expected = Buffer.from(stateMac(purpose, payload));
  return bytesEqual(given, expected) ? payload : undefined;
}
