// What a composition root needs to turn the console on: the feed and the
// emergency stop, the hooks the MCP servers take (the audit tee, onCall, paused),
// and the /ui handler. The pages, assets and sources load at the first /ui
// request, so a host whose console nobody opens does not carry them (~2 MB RSS).
import type { AuditEntry, AuditSink } from "../audit/audit_log.ts";
import type { ConsoleHandler } from "../http/listen.ts";
import type { ToolContext, ToolDef, ToolOutcome } from "../tools/tool.ts";
import { Activity, teeAudit } from "./activity.ts";
import { EmergencyStop } from "./pause.ts";
import type { Identity } from "./views.ts";

/** What the console lists and acts through: the server's own tools (shell_bg_list, shell_bg_kill, read_file…, or their remote_* forms). */
export interface ConsoleTools {
  tools: ToolDef[];
  /** serve: with the server's file policy, which read_file applies to the files the per-call view serves. */
  context: Omit<ToolContext, "signal" | "progress">;
  /** serve: this host's tags, shown in its fleet row. */
  tags?: string[];
}

export interface OpenConsole {
  activity: Activity;
  stop: EmergencyStop;
  /** For McpServerOptions (and headerToolChecks): every call reaches the feed (with its output, for the per-call view), and the stop holds. */
  mcpHooks: {
    audit: AuditSink;
    onCall: (entry: AuditEntry) => void;
    onOutcome: (entry: AuditEntry, outcome: ToolOutcome<unknown>) => void;
    paused: () => string | undefined;
  };
  handler(tools: ConsoleTools): ConsoleHandler;
}

/** `audit` is the server's audit sink (undefined when audit_log = "off": the feed still gets every call). */
export function openConsole(id: Identity, audit: AuditSink | undefined): OpenConsole {
  const activity = new Activity(id.role === "hub" ? `(hub ${id.name})` : id.name);
  const stop = new EmergencyStop();
  const tee = teeAudit(audit, activity);
  return {
    activity,
    stop,
    mcpHooks: {
      audit: tee,
      onCall: (entry) => activity.record(entry, Date.now()),
      onOutcome: (entry, outcome) => activity.attachOutcome(entry, outcome),
      paused: () => stop.message(),
    },
    handler(spec) {
      let loaded: Promise<ConsoleHandler> | undefined;
      const load = () =>
        (loaded ??= (async () => {
          const [{ createConsole }, sources] = await Promise.all([import("./routes.ts"), import("./sources.ts")]);
          const from = id.role === "hub" ? sources.hubSources(spec.tools, spec.context) : sources.serveSources(spec.tools, id, spec.tags ?? [], spec.context);
          return createConsole({ id, activity, stop, ...from, audit: tee });
        })());
      let ready: ConsoleHandler | undefined;
      return {
        async handle(req, path, ctx, log) {
          ready ??= await load();
          return ready.handle(req, path, ctx, log);
        },
        close() {
          ready?.close();
        },
      };
    },
  };
}
