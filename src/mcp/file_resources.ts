// Files a tool result points at (shell's full-output spool files, shell_bg's
// job log) as MCP resources: each result carries a resource_link to them, and
// resources/read serves a file:// URI through the same file policy as
// read_file (so a link never reaches a file read_file would refuse).
import { closeSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ProtocolError, ProtocolErrorCode, type ReadResourceResult, type ResourceLink } from "@modelcontextprotocol/server";
import { type FilePolicy, permissivePolicy } from "../policy/rules.ts";
import { Refused, openChecked } from "../policy/open.ts";
import { readFdCapped } from "../tools/read_capped.ts";
import { describeError } from "../tools/tool.ts";

/** A resource read answers at most this much text (the reply cap is 8 MiB); larger files are paged with read_file. */
export const MAX_RESOURCE_BYTES = 4 * 1024 * 1024;

/** Result fields that name a file the caller may want whole, and what each holds. */
const LINKED_FIELDS: Record<string, string> = {
  full_output_path: "The command's complete stdout (the reply keeps its head and tail)",
  full_stderr_path: "The command's complete stderr (the reply keeps its head and tail)",
  log_path: "The job's stdout and stderr, appended as it runs",
};

/** resource_link content for the files a result names, in field order. */
export function linksFor(data: unknown): ResourceLink[] {
  if (!data || typeof data !== "object") return [];
  const links: ResourceLink[] = [];
  for (const [field, description] of Object.entries(LINKED_FIELDS)) {
    const path = (data as Record<string, unknown>)[field];
    if (typeof path !== "string" || !path.startsWith("/")) continue;
    links.push({ type: "resource_link", uri: pathToFileURL(path).href, name: basename(path), description, mimeType: "text/plain" });
  }
  return links;
}

const notFound = (uri: string, why: string) => new ProtocolError(ProtocolErrorCode.InvalidParams, `Resource not found: ${uri}: ${why}`, { uri });

/** resources/read of a file:// URI (no host), read through the policy; text when it is UTF-8, base64 otherwise. */
export function readFileResource(uri: string, policy: FilePolicy | undefined, onDenied?: (reason: string) => void): ReadResourceResult {
  let path: string;
  try {
    const url = new URL(uri);
    if (url.protocol !== "file:" || (url.host !== "" && url.host !== "localhost")) throw new Error("not a local file URI");
    path = fileURLToPath(url);
  } catch {
    throw notFound(uri, "this server's resources are local files, named by file:///ABSOLUTE/PATH URIs (as its tool results link them)");
  }
  let opened: ReturnType<typeof openChecked>;
  try {
    opened = openChecked(policy ?? permissivePolicy, path, "file", (st) => (st.isFile() ? undefined : `${path} is not a regular file`));
  } catch (err) {
    // A refusal by policy says so; it is not reported as absent.
    if (err instanceof Refused && err.denied) onDenied?.(err.message);
    if (err instanceof Refused) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Cannot read ${uri}: ${err.message}`, { uri });
    throw notFound(uri, describeError(err));
  }
  try {
    const bytes = readFdCapped(opened.fd, opened.st.size, MAX_RESOURCE_BYTES);
    if (!bytes) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `${uri} is ${opened.st.size} bytes, over the ${MAX_RESOURCE_BYTES}-byte limit of one resource read; page it with read_file {path: "${path}", offset, limit}`,
        { uri, size: opened.st.size },
      );
    }
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      return { contents: [{ uri, mimeType: "text/plain", text }] };
    } catch {
      return { contents: [{ uri, mimeType: "application/octet-stream", blob: bytes.toString("base64") }] };
    }
  } finally {
    closeSync(opened.fd);
  }
}
