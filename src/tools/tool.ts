// What a tool is: its schemas, annotations and handler, kept together so the
// server, the hub's remote_* tools and the docs all derive from one object.
import type { z } from "zod";
import type { FilePolicy } from "../policy/rules.ts";

/** MCP tool annotations (hints for clients; see the MCP spec's ToolAnnotations). */
export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** Server settings a tool may need; filled from config (see src/config). */
export interface ToolLimits {
  /** Per stream, for shell output kept in the reply (default 32 KiB). */
  maxOutputBytes: number;
  /** Upper bound for shell timeout_s (default 3600). */
  maxTimeoutS: number;
  /** Cap on a read_file reply (default 96 KiB). */
  maxReadBytes: number;
}

/** Everything a handler gets besides its arguments. */
export interface ToolContext {
  /** Aborted when the client cancels the call or disconnects. */
  signal: AbortSignal;
  /** Sends a progress notification when the client asked for progress; a no-op otherwise. */
  progress: (message: string, progress: number, total?: number) => Promise<void>;
  /** Whether the client asked for progress (the hub asks its backend for progress only then). */
  progressWanted?: boolean;
  limits: ToolLimits;
  /** Where lmcp keeps spool files and shell_bg job records (created on demand). */
  stateDir: string;
  /** What the file tools may read and write (src/policy); the server always sets it, unit tests may not. */
  policy?: FilePolicy;
  /** The caller's W3C trace context (`_meta.traceparent`), when it sent a well-formed one; the hub passes it on to backends. */
  traceparent?: string;
  /**
   * What the client said it can be asked through MCP elicitation (2026-07-28: its envelope's capabilities).
   * Undefined when it cannot be asked (2025 clients over stateless HTTP, stdio without the capability).
   */
  elicitation?: { form: boolean; url: boolean };
  /** Answers to this call's earlier questions (an `ask` outcome), by key, when the client retried with them. */
  inputResponses?: Record<string, unknown>;
  /** The opaque state an `ask` outcome carried, echoed back by the client with its answers (untrusted: verify it). */
  requestState?: string;
  /** Asks the human for sudo passwords on the server's own page; absent where none is served (stdio, the hub). */
  sudo?: SudoAsker;
}

/** A question for the human, asked through the client (MCP elicitation, form mode: never for secrets). */
export interface FormQuestion {
  message: string;
  /** A flat JSON Schema object of primitive properties, as MCP elicitation allows. */
  requestedSchema: { type: "object"; properties: Record<string, Record<string, unknown>>; required?: string[] };
}

/** A page the human opens (MCP elicitation, URL mode): for what must not pass through the client, like a password. */
export interface UrlQuestion {
  message: string;
  url: string;
}

/** A call that needs the human first: the questions, and state to check on the retry that carries the answers. */
export interface Ask {
  questions: Record<string, FormQuestion | UrlQuestion>;
  state?: string;
}

/**
 * Where sudo passwords are asked for: a page of the server's own (src/tools/sudo_prompts.ts), whose URL the
 * client shows the human. The password never passes through the client or the conversation.
 */
export interface SudoAsker {
  /** A page asking for the password to run `command`; an error when none can be served (say why). */
  open(command: string): { id: string; url: string } | { error: string };
  /** The password entered on page `id` (once; the caller zeroes it after use), or undefined. */
  take(id: string): Buffer | undefined;
}

/** A handler's answer: data for structuredContent plus readable text, or a failure the agent can act on. */
export type ToolOutcome<O> =
  | { ok: true; data: O; text: string }
  /** `ask`: not a failure but a question (answered, the client calls again); `error` says what is asked, for logs. */
  | { ok: false; error: string; denied?: boolean; ask?: Ask };

export const ok = <O>(data: O, text: string): ToolOutcome<O> => ({ ok: true, data, text });
export const fail = (error: string): ToolOutcome<never> => ({ ok: false, error });
/** Asks the human first (the server turns it into an MCP input_required result; the client retries with the answers). */
export const ask = (what: string, a: Ask): ToolOutcome<never> => ({ ok: false, error: what, ask: a });
/** A refusal by policy (secrets, allowed_paths, protected files): audited as denied. */
export const deny = (error: string): ToolOutcome<never> => ({ ok: false, error, denied: true });

export interface ToolDef<In extends z.ZodObject = z.ZodObject, Out extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: In;
  output: Out;
  annotations: ToolAnnotations;
  run(args: z.output<In>, ctx: ToolContext): Promise<ToolOutcome<z.output<Out>>>;
}

/** Keeps each tool file's types precise; `run` is a method, so a precise tool still fits a `ToolDef[]` list. */
export function defineTool<In extends z.ZodObject, Out extends z.ZodObject>(def: ToolDef<In, Out>): ToolDef<In, Out> {
  return def;
}

/** The message every handler uses for an unexpected filesystem error: says what and where. */
export function describeError(err: unknown): string {
  if (err && typeof err === "object" && "code" in err) {
    const e = err as NodeJS.ErrnoException;
    const where = e.path ? `${e.path}: ` : "";
    switch (e.code) {
      case "ENOENT":
        return `${where}no such file or directory`;
      case "EACCES":
      case "EPERM":
        return `${where}permission denied (lmcp runs as uid ${process.getuid?.() ?? "?"})`;
      case "EISDIR":
        return `${where}is a directory; use list_dir or search_files`;
      case "ENOTDIR":
        return `${where}a component of the path is not a directory`;
      case "ELOOP":
        return `${where}too many levels of symbolic links`;
      case "ENOSPC":
        return `${where}no space left on device`;
      case "EROFS":
        return `${where}read-only file system`;
      default:
        return `${where}${e.message}`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}
