// The request that runs the remote program (remote/lmcp_remote.pl) on a
// backend: the program and its input travel together in a quoted here-document
// on ssh's stdin (`perl -` reads the program, then the request after
// __DATA__), so no argument, command, env value or file content is ever on a
// remote command line, where any user could read it in /proc/PID/cmdline.
import { randomBytes } from "../../crypto.ts";
import program from "./remote/lmcp_remote.pl" with { type: "text" };

export type RemoteOp = "read_file" | "list_dir" | "write_file" | "search_files" | "shell";

/** The backend's file policy as the remote program enforces it, on real paths on that host. */
export interface RemotePolicy {
  /** The registry's allowed_paths for this backend (paths on that host); undefined = anywhere its ssh user can. */
  allowedPaths: string[] | undefined;
  /** Real paths never read or written (the hub's token, config and registry, the backends' token files). */
  secretPaths: string[];
}

export const noRemotePolicy: RemotePolicy = { allowedPaths: undefined, secretPaths: [] };

export type Field = string | number | Uint8Array;

const encoder = new TextEncoder();

/** Netstrings (`LEN:BYTES`, back to back): any bytes, newlines and NULs included, arrive as they were. */
export function netstrings(fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    const bytes = f instanceof Uint8Array ? f : encoder.encode(String(f));
    parts.push(encoder.encode(`${bytes.byteLength}:`), bytes);
  }
  return Buffer.concat(parts);
}

/** The fields the program reads first: its operation and the policy, then the operation's own. */
export function requestFields(op: RemoteOp, policy: RemotePolicy, args: Field[]): Field[] {
  const allowed = policy.allowedPaths;
  return [op, allowed === undefined ? "" : allowed.length, ...(allowed ?? []), policy.secretPaths.length, ...policy.secretPaths, ...args];
}

/** Base64 in 76-column lines: a here-document's lines can then never equal its delimiter (which holds `_`). */
function base64Lines(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join("\n");
}

/** The shell lines that run the remote program for one request (its stdin is the here-document). */
export function remoteProgram(op: RemoteOp, policy: RemotePolicy, args: Field[]): string {
  const delimiter = `LMCP_REQUEST_${randomBytes(12).toString("hex")}`;
  return [`perl - <<'${delimiter}'`, program.trimEnd(), "__DATA__", base64Lines(netstrings(requestFields(op, policy, args))), delimiter].join("\n");
}

/** The program's text, for tests that check it with `perl -c`. */
export const remoteProgramText: string = program;
