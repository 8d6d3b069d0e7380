// `lmcp serve`: the per-host MCP server, over HTTP or stdio.
import { mkdirSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { ConfigError } from "../config/file.ts";
import { commonFlags, resolveServeSettings } from "../config/server.ts";
import { exitOnSignals, startHttp } from "../http/listen.ts";
import { logEvent } from "../http/log.ts";
import { type AuditEntry, openAudit } from "../audit/audit_log.ts";
import { openConsole } from "../console/console.ts";
import { scrubSecretEnv } from "./scrub_env.ts";
import { secretSources } from "../config/secrets.ts";
import { createMcpHttpHandler } from "../mcp/endpoint.ts";
import { type McpServerOptions, createMcpServer, createMcpServers, headerToolChecks, MODERN_REVISION, tapCalls, toolHandlers } from "../mcp/server.ts";
import { backendSchema } from "../hub/registry.ts";
import { makeFilePolicy, refreshSecrets } from "../policy/rules.ts";
import { cleanStaleTemps, pendingWritesDir } from "../tools/atomic_write.ts";
import { cleanOldJobs, jobStatus, listJobRecords } from "../tools/jobs.ts";
import { createMetrics } from "../metrics/metrics.ts";
import { serveTools } from "../tools/registry.ts";
import { cleanExpiredSpool } from "../tools/spool.ts";
import { SudoPrompts } from "../tools/sudo_prompts.ts";
import { flushingOnShutdown, resolveTracing, startTracing } from "../telemetry/otel.ts";
import { platform, version } from "../version.ts";
import { parseFlags } from "./args.ts";

export const serveHelp = `Usage: lmcp serve [flags]

Runs this host's MCP server: shell, shell_bg, read_file, write_file, edit_file,
list_dir and search_files over Streamable HTTP at POST /mcp (or stdio).

Flags (each beats its environment variable, which beats the config file):
  --listen HOST:PORT    address to listen on [LMCP_LISTEN] (default 127.0.0.1:8765)
  --config FILE         TOML config [LMCP_CONFIG] (default /etc/lmcp/lmcp.toml,
                        else ~/.config/lmcp/lmcp.toml, if present)
  --token-file FILE     accepted tokens, one per line [LMCP_TOKEN_FILE]; LMCP_TOKEN
                        beats every file. Without either, a token is minted into
                        ~/.config/lmcp/token (0600) on first start and reused.
  --name NAME           instance name shown to clients [LMCP_NAME] (default: host name)
  --tls-cert FILE       serve HTTPS with this certificate (needs --tls-key)
  --tls-key FILE        the certificate's private key
  --allow-origin ORIGIN browser Origin to allow (repeatable; default: none)
  --allow-host HOST     extra Host header value to allow (repeatable)
  --no-auth             turn auth off (warns on every start; never on a shared host)
  --stdio               speak MCP over stdin/stdout instead of HTTP
  --nats URL[,URL…]     also connect out to NATS [LMCP_NATS, nats in the config] and
                        answer the calls hubs address to this host (--name) there,
                        with the same tools, scopes and audit; the HTTP listener
                        stays (loopback by default: no inbound port is needed)
  --tag TAG             announce this tag on NATS (repeatable; tags in the config)
  -h, --help            this help

Audit: one hash-chained JSON line per call that changes something or runs a
command, and per refusal, in STATE_DIR/audit.jsonl (0600), or journald under
systemd; audit_log in the config [LMCP_AUDIT_LOG] names a FILE, "journald", "stderr" or
"off". \`lmcp audit verify\` checks the chain; \`lmcp audit --help\` has the format.
Signals: SIGHUP re-reads the token file; SIGTERM/SIGINT finish calls in flight, then exit 0.
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("serve", argv, { ...commonFlags, stdio: { type: "boolean" }, tag: { type: "string", multiple: true } });
  if (values.help) {
    process.stdout.write(serveHelp);
    return 0;
  }
  const settings = resolveServeSettings(values);
  if (values.tag) settings.tags = values.tag; // --tag beats `tags` in the config file
  if (settings.nats) checkNatsName(settings.name, values.stdio === true);
  // Read before anything listens: a missing or wrong creds file is a configuration error, said at once.
  const natsAuth = settings.nats ? (await import("../nats/connection.ts")).loadNatsAuth(settings.natsAuth) : undefined;
  scrubSecretEnv(["LMCP_TOKEN"]); // read into settings; the agent's commands must not find it
  mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
  cleanExpiredSpool(settings.stateDir);
  const staleTemps = cleanStaleTemps(pendingWritesDir(settings.stateDir)); // temp files a kill -9 left mid-write
  if (staleTemps > 0) logEvent(`removed ${staleTemps} temp file(s) left by writes interrupted in an earlier run`);
  void cleanOldJobs(settings.stateDir);
  setInterval(() => {
    cleanExpiredSpool(settings.stateDir);
    void cleanOldJobs(settings.stateDir);
  }, 3600_000).unref();

  // Policy comes from files the tools cannot read or write: lmcp's config, tokens, registry and audit log.
  const sources = () =>
    secretSources({
      configFile: settings.configFile,
      tokenFile: settings.auth.mode === "file" ? settings.auth.file : undefined,
      auditFile: settings.auditLog?.startsWith("/") ? settings.auditLog : undefined,
      ...(settings.metrics.tokenFile ? { extraFiles: [settings.metrics.tokenFile] } : {}),
      stateDir: settings.stateDir,
      allowedPaths: settings.allowedPaths,
    });
  const policy = makeFilePolicy(sources());
  // Token files minted or rotated (new inodes) and registries edited since start are picked up within a second.
  setInterval(() => refreshSecrets(policy, sources()), 1000).unref();

  const audit = openAudit(settings.auditLog, settings.auditMaxBytes);
  // sudo passwords are typed on this server's own page, never in the conversation (HTTP only; stdio serves none).
  const prompts = values.stdio ? undefined : new SudoPrompts(settings.name, userInfo().username);
  const mcpOptions: McpServerOptions = {
    name: settings.name,
    title: `lmcp on ${settings.name}`,
    version,
    instructions:
      `Shell and file access on host ${settings.name} (${platform}, hostname ${hostname()}). ` +
      "Paths are on that host; relative paths start at the home directory of the user lmcp runs as. " +
      "Use shell for commands that finish within timeout_s; for longer jobs shell_bg, then shell_bg_wait (blocks until done) and shell_bg_output. " +
      "Page long files with read_file offset/limit; edit_file takes expected_sha256 to refuse stale edits.",
    tools: serveTools,
    context: { limits: settings.limits, stateDir: settings.stateDir, ...(prompts ? { sudo: prompts } : {}) },
    policy,
    audit,
    fileResources: true,
  };

  // Traces only with an OTLP endpoint configured: the OTel SDK is loaded then, and only then (src/telemetry/otel.ts).
  const tracing = resolveTracing("serve", settings.name, settings.otlpEndpoint);
  if (tracing) mcpOptions.tracer = await startTracing(tracing, version);

  if (values.stdio) {
    // The SDK picks the era from the connection's first message (server/discover or initialize) and asks for a Server of that era.
    const handlers = toolHandlers(mcpOptions);
    const ended = new Promise<void>((resolve) => process.stdin.once("end", resolve).once("close", resolve));
    const stdio = serveStdio((ctx) => createMcpServer(mcpOptions, ctx.era, handlers), {
      onerror: (err) => logEvent(`stdio: ${err.message}`),
    });
    logEvent(`lmcp serve "${settings.name}" speaking MCP on stdio (${MODERN_REVISION}, and 2025 revisions through initialize)`);
    await ended;
    await stdio.close();
    await mcpOptions.tracer?.shutdown();
    return 0;
  }

  // The web console at /ui (src/console/): its feed sees every call, its emergency stop refuses every call.
  const ui = settings.console ? openConsole({ role: "serve", name: settings.name, version }, audit) : undefined;
  if (ui) Object.assign(mcpOptions, ui.mcpHooks);
  // On NATS, calls this host answers itself also reach the fleet's consoles (the link exists once NATS is set up below).
  const natsFeed: { link?: { activity(e: AuditEntry): void } } = {};
  if (settings.nats) tapCalls(mcpOptions, (e) => natsFeed.link?.activity(e));
  // Metrics only when asked for: prom-client costs memory an idle host should not pay (src/metrics/metrics.ts).
  const metrics = settings.metrics.enabled
    ? await createMetrics("serve", {
        gauges: {
          lmcp_jobs_running: {
            help: "shell_bg jobs still running on this host.",
            collect: () => [{ value: listJobRecords(settings.stateDir).filter((r) => jobStatus(settings.stateDir, r).state === "running").length }],
          },
        },
      })
    : undefined;
  if (metrics) mcpOptions.metrics = metrics;
  const mcp = await createMcpHttpHandler(createMcpServers(mcpOptions));
  const running = await startHttp({
    settings,
    mcp,
    ...headerToolChecks(serveTools, mcpOptions.audit),
    ...(prompts ? { passwordPrompts: prompts } : {}),
    ...(ui ? { webConsole: ui.handler({ tools: serveTools, context: { ...mcpOptions.context, policy }, tags: settings.tags }) } : {}),
    ...(metrics ? { metrics: { render: () => metrics.render(), tokenFile: settings.metrics.tokenFile } } : {}),
  });
  if (prompts) {
    prompts.baseUrl = running.pageBase;
    if (!running.private) prompts.unusable = "this listener is neither on loopback nor HTTPS, so a password typed on its page would cross the network in clear (set tls_cert and tls_key)";
  }
  if (ui) ui.stop.consoleUrl = `${running.pageBase}/ui`;
  // NATS: one more Server from the same tool handlers (2025 era: a plain tools/call, as a hub sends it).
  // Loaded only with --nats: a plain serve does not pay for the NATS client's modules.
  const nats = settings.nats
    ? await (await import("../nats/serve_link.ts")).ServeLink.start({
        servers: settings.nats,
        name: settings.name,
        tags: settings.tags,
        heartbeatMs: settings.natsHeartbeatMs,
        server: createMcpServer(mcpOptions, "legacy"),
        ...(natsAuth ? { auth: natsAuth } : {}),
      })
    : undefined;
  if (nats) natsFeed.link = nats;
  // With NATS, both finish their calls in flight within the grace period; hubs see the host's goodbye at once.
  exitOnSignals(flushingOnShutdown(nats ? { ...running, shutdown: (reason) => Promise.all([running.shutdown(reason), nats.close(settings.shutdownGraceS * 1000)]).then(() => {}) } : running, mcpOptions.tracer));
  await new Promise(() => {}); // serve until a signal ends the process
  return 0;
}

/** On NATS the name is what a hub's `host` argument names: it must be a valid host name, and stdio has no place for NATS. */
function checkNatsName(name: string, stdio: boolean): void {
  if (stdio) throw new ConfigError("--nats and --stdio do not go together: NATS calls are answered beside the HTTP listener; drop one");
  const ok = backendSchema.shape.name.safeParse(name);
  if (!ok.success) {
    throw new ConfigError(`the name "${name}" cannot address this host on NATS: it ${ok.error.issues[0]?.message ?? "is not a valid host name"}; pass --name NAME (or LMCP_NAME)`);
  }
}
