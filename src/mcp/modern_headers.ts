// The checks a 2026-07-28 request gets at the HTTP edge that the SDK does inside
// createMcpHandler but does not export: the revision must be one lmcp speaks,
// the standard headers (SEP-2243) must be present and agree with the body, and
// an error the SDK raised before any handler ran gets its HTTP status.
// Pure functions; src/mcp/endpoint.ts applies them.
import type { JSONRPCRequest } from "@modelcontextprotocol/server";
import { MODERN_REVISION } from "./server.ts";

export interface EdgeRejection {
  httpStatus: number;
  code: number;
  message: string;
  data?: unknown;
}

/** -32020: the request's headers and body disagree (SEP-2243). */
export const HEADER_MISMATCH = -32020;
/** -32022: a protocol revision this server does not speak. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;

/** Which body field each method's Mcp-Name header mirrors (SEP-2243's table, as the SDK keeps it). */
const NAME_SOURCE: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** An Mcp-Name value as sent (`=?base64?…?=` decoded); undefined when the Base64 form is malformed. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith("=?base64?") && value.endsWith("?="))) return value;
  const b64 = value.slice(9, value.length - 2);
  if (!BASE64.test(b64)) return undefined;
  return Buffer.from(b64, "base64").toString("utf8");
}

const mismatch = (header: string, body: string): EdgeRejection => ({
  httpStatus: 400,
  code: HEADER_MISMATCH,
  message: `Bad Request: the request headers and body disagree: ${body}`,
  data: { mismatch: { header, body } },
});

/** The revision a modern envelope claims, refused unless lmcp speaks it. */
export function revisionProblem(revision: string | undefined): EdgeRejection | undefined {
  if (revision === MODERN_REVISION) return undefined;
  return {
    httpStatus: 400,
    code: UNSUPPORTED_PROTOCOL_VERSION,
    message: `Unsupported protocol version: ${revision ?? "unknown"}; this server speaks ${MODERN_REVISION} (and 2025 revisions through initialize)`,
    data: { supported: [MODERN_REVISION], requested: revision ?? "unknown" },
  };
}

export interface StandardHeaders {
  protocolVersion: string | null;
  method: string | null;
  name: string | null;
}

/** SEP-2243: MCP-Protocol-Version and Mcp-Method present, Mcp-Name present and equal to the body's name or uri. */
export function standardHeaderProblem(headers: StandardHeaders, message: JSONRPCRequest, revision: string | undefined): EdgeRejection | undefined {
  if (headers.protocolVersion === null) {
    return mismatch("(missing)", `the body envelope names protocol version ${revision ?? "(none)"} but the required MCP-Protocol-Version header is absent`);
  }
  if (headers.method === null) return mismatch("(missing)", `the body names method ${message.method} but the required Mcp-Method header is absent`);
  const field = Object.hasOwn(NAME_SOURCE, message.method) ? NAME_SOURCE[message.method] : undefined;
  if (field === undefined) return undefined;
  const params = message.params as Record<string, unknown> | undefined;
  const raw = params && typeof params === "object" ? params[field] : undefined;
  const bodyValue = typeof raw === "string" ? raw : undefined;
  if (headers.name === null) {
    return bodyValue === undefined ? undefined : mismatch("(missing)", `the body carries params.${field}="${bodyValue}" but the required Mcp-Name header is absent`);
  }
  const sent = headers.name.replace(/^[ \t]+|[ \t]+$/g, "");
  const decoded = decodeHeaderValue(sent);
  if (decoded === undefined) return mismatch(sent, "the Mcp-Name header carries an invalid Base64 sentinel value");
  if (bodyValue !== undefined && decoded !== bodyValue) return mismatch(sent, `the body carries params.${field}="${bodyValue}" but the Mcp-Name header names "${decoded}"`);
  return undefined;
}

/** HTTP status of an error the SDK sent before any handler ran (as the SDK's own per-request transport maps it). */
const EARLY_ERROR_STATUS: Record<number, number> = {
  [-32700]: 400,
  [-32600]: 400,
  [-32601]: 404,
  [UNSUPPORTED_PROTOCOL_VERSION]: 400,
  [-32021]: 400,
  [HEADER_MISMATCH]: 400,
};

/** The HTTP status of a modern reply: 200 for results and for errors from handlers; the SDK's ladder errors map. */
export function modernReplyStatus(errorCode: number | undefined, early: boolean): number {
  if (errorCode === undefined) return 200;
  if (errorCode === -32021) return 400;
  return early ? (EARLY_ERROR_STATUS[errorCode] ?? 200) : 200;
}
