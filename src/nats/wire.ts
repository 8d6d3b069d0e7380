// What lmcp sends over NATS (pure): a call, a cancellation, the messages on a
// call's reply subject, and a host's announcement. JSON, version 1.
import { z } from "zod";

export const WIRE_VERSION = 1;

/** A hub's call to one host, on callSubject(host) with a reply subject. */
export const callRequest = z.object({
  v: z.literal(WIRE_VERSION),
  /** Unique per call (a NUID); the host runs one call per id however often it arrives. */
  id: z.string().min(1).max(64),
  tool: z.string().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()),
  /** The hub's name: the caller identity the host audits. */
  hub: z.string().min(1).max(200),
  /** Whether the hub's own caller wants progress notifications. */
  progress: z.boolean().optional(),
  traceparent: z.string().max(200).optional(),
  /** 1 for the first send; more when the hub sends the same call again after silence or its own reconnect. */
  attempt: z.int().min(1),
  /** On a resend: the host instance the call was first sent to; another instance (a restart) must not run it. */
  instance: z.string().max(64).optional(),
});
export type CallRequest = z.output<typeof callRequest>;

/** On controlSubject(host). */
export const controlMessage = z.object({ v: z.literal(WIRE_VERSION), op: z.literal("cancel"), id: z.string().min(1).max(64) });
export type ControlMessage = z.output<typeof controlMessage>;

/**
 * What arrives on a call's reply subject, in order: any number of `working` (a keep-alive while the call runs)
 * and `progress`, then one `reply` (the JSON-RPC response, as HTTP would carry it), or `lost`.
 */
export type ReplyMessage =
  | { k: "working" }
  | { k: "progress"; progress: number; total?: number; message?: string }
  | { k: "reply"; rpc: { result?: unknown; error?: { code: number; message: string } } }
  /** A resent call reached a host that restarted since the first send: it was not run again, and its answer is gone. */
  | { k: "lost"; message: string };

export const workingMessage = JSON.stringify({ k: "working" } satisfies ReplyMessage);

/** A host's announcement on presenceSubject(name): at connect, on every heartbeat, on discover, and `left` on stop. */
export const announcement = z.object({
  v: z.literal(WIRE_VERSION),
  name: z.string().min(1).max(63),
  tags: z.array(z.string().max(200)).max(100),
  version: z.string().max(100),
  /** Random per process start: a changed instance means the host restarted. */
  instance: z.string().min(1).max(64),
  /** The heartbeat period: hubs count the host down after three missed beats. */
  every_ms: z.number().positive(),
  state: z.enum(["up", "left"]),
  /** An enrolled host's user JWT: its name and tags as the fleet's authority signed them (src/nats/host_claims.ts). */
  jwt: z.string().max(8192).optional(),
});
export type Announcement = z.output<typeof announcement>;

const text = (max: number) => z.string().max(max).optional();

/** A call a host answered itself, on activitySubject(host): what a console's feed row shows, never the output. */
export const activityEvent = z.object({
  v: z.literal(WIRE_VERSION),
  host: z.string().min(1).max(63),
  time: z.string().max(40),
  client: z.string().max(200),
  token: z.string().max(200),
  tool: z.string().min(1).max(200),
  command: text(1000),
  path: text(4096),
  job_id: text(64),
  session_id: text(64),
  duration_ms: z.number(),
  exit_code: z.number().nullable().optional(),
  outcome: z.enum(["ok", "error", "denied", "cancelled"]),
  error: text(1000),
});
export type ActivityEvent = z.output<typeof activityEvent>;

/** Parses a message body as JSON, or undefined. */
export function jsonOf(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
