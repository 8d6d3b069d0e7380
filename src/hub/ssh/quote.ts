// Quoting for the remote shell of the SSH fallback: every value that goes into
// a remote script passes through here (or travels as base64), never raw.

/**
 * POSIX single-quote quoting: `'...'` with each `'` written as `'\''`.
 * Inside single quotes nothing is special to sh or bash (`$`, backticks,
 * backslashes, newlines and any other byte stand for themselves), so the
 * remote shell sees exactly `value`. A NUL cannot be passed through a shell
 * word at all: callers refuse such values first (see `hasNul`).
 */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** True when `value` holds a NUL, which no shell word or file path can carry. */
export function hasNul(value: string): boolean {
  return value.includes("\0");
}

/**
 * Base64 text for bytes, quoted: the remote side decodes it with `lmcp_b64d`
 * (see `B64D_FUNCTION`), so bytes that are not UTF-8 arrive exactly.
 */
export function b64Word(bytes: Uint8Array): string {
  return shQuote(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"));
}

/**
 * Defines `lmcp_b64d` (stdin to stdout): `base64 -d` where it works (GNU,
 * newer macOS), `base64 -D` on older macOS.
 */
export const B64D_FUNCTION =
  "if printf 'YQ==' | base64 -d >/dev/null 2>&1; then lmcp_b64d() { base64 -d; }; else lmcp_b64d() { base64 -D; }; fi";
