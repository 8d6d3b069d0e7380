// `lmcp hub`: one MCP endpoint for the whole fleet.
import { existsSync, mkdirSync } from "node:fs";
import { resolveHubSettings } from "../config/hub.ts";
import { scrubSecretEnv } from "./scrub_env.ts";
import { commonFlags } from "../config/server.ts";
import { exitOnSignals, startHttp } from "../http/listen.ts";
import { Hub } from "../hub/hub.ts";
import { hostReloader, inventoryEnabled, loadHostsAtStart } from "../hub/inventory/load.ts";
import { hubTools } from "../hub/remote_tools.ts";
import { openAudit } from "../audit/audit_log.ts";
import { openConsole } from "../console/console.ts";
import { createMcpHttpHandler } from "../mcp/endpoint.ts";
import { createMetrics } from "../metrics/metrics.ts";
import { createMcpServers, headerToolChecks } from "../mcp/server.ts";
import { serveTools } from "../tools/registry.ts";
import { version } from "../version.ts";
import { flushingOnShutdown, resolveTracing, startTracing } from "../telemetry/otel.ts";
import { parseFlags } from "./args.ts";

export const hubHelp = `Usage: lmcp hub [flags]

Runs the hub: remote_* tools for every backend in the registry (backends.toml),
remote_list_hosts and remote_shell_many, over Streamable HTTP at POST /mcp.
Calls go to a host's lmcp server; when it is down, to SSH where configured.

Flags (each beats its environment variable, which beats the config file):
  --backends FILE       the registry [LMCP_HUB_BACKENDS] (default /etc/lmcp/backends.toml
                        for a system service or when it exists, else
                        ~/.config/lmcp/backends.toml)
  --listen HOST:PORT    address to listen on [LMCP_LISTEN] (default 127.0.0.1:8766)
  --config FILE         TOML config [LMCP_CONFIG] (default /etc/lmcp/hub.toml,
                        else ~/.config/lmcp/hub.toml, if present)
  --token-file FILE     tokens clients must send [LMCP_TOKEN_FILE]; LMCP_TOKEN beats
                        every file. Default: ~/.config/lmcp/hub-token, minted on first
                        start (separate from every backend's token).
  --name NAME           instance name shown to clients [LMCP_NAME]
  --nats URL[,URL…]     NATS mode [LMCP_NATS, nats in hub.toml]: every remote_* call
                        goes to \`lmcp serve --nats\` hosts over NATS (request-reply),
                        and hosts come from their NATS presence instead of probes;
                        backends.toml is optional (ssh fallbacks, tags). Any number
                        of hubs may share one NATS cluster.
  --nats-creds FILE     the hub's NATS credentials [LMCP_NATS_CREDS, nats_creds]
  --nats-ca FILE        CA the NATS servers' TLS must chain to [LMCP_NATS_CA, nats_ca]
  --nats-authority DIR  the fleet authority from \`lmcp hub nats-init\` [LMCP_NATS_AUTHORITY,
                        nats_authority]: its servers, hub.creds and CA, and this hub
                        answers \`lmcp join\` (enroll, revoke: lmcp hub enroll --help)
  --tls-cert FILE, --tls-key FILE, --allow-origin ORIGIN, --allow-host HOST,
  --no-auth             as for lmcp serve
  -h, --help            this help

Environment: LMCP_HUB_PROBE_TIMEOUT (3 s), LMCP_HUB_PROBE_TTL_UP (30 s),
LMCP_HUB_PROBE_TTL_DOWN_MIN (60 s), LMCP_HUB_PROBE_TTL_DOWN_MAX (900 s),
LMCP_HUB_SSH_HARD_TIMEOUT (30 s).
Audit: one hash-chained JSON line per call that changes something or runs a
command, and per refusal, in STATE_DIR/hub-audit.jsonl (0600), or journald under
systemd; audit_log in the config [LMCP_AUDIT_LOG] names a FILE, "journald", "stderr" or
"off". \`lmcp audit verify\` checks the chain; \`lmcp audit --help\` has the format.
Add a host: lmcp hub add NAME --url URL --token-file FILE [--ssh USER@HOST]
(\`lmcp hub add --help\`), then SIGHUP a running hub.
Inventory: ssh_config = true (or a path) and ansible_inventory = "FILE" in hub.toml
add the hosts of ~/.ssh/config (resolved with ssh -G) and of an Ansible inventory
(ansible-inventory --list; groups become tags); backends.toml wins per name.
Signals: SIGHUP re-reads the token file, the registry and the inventory (a bad
one keeps the old registry); SIGTERM/SIGINT finish calls in flight, then exit 0.
`;

export async function hubCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("hub", argv, { ...commonFlags, backends: { type: "string" }, "nats-authority": { type: "string" } });
  if (values.help) {
    process.stdout.write(hubHelp);
    return 0;
  }
  const settings = resolveHubSettings(values);
  scrubSecretEnv(["LMCP_TOKEN"]); // read into settings; nothing the hub starts may inherit it
  mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
  // NATS mode: hosts come from presence; backends.toml (optional then) only adds ssh fallbacks and tags.
  // Loaded only with --nats: a direct-mode hub does not pay for the NATS client's modules.
  const fleet = settings.nats || settings.natsAuthority ? (await import("../nats/hub_fleet.ts")).startNatsFleet(settings) : undefined;
  // backends.toml plus ssh_config / ansible_inventory when hub.toml turns them on.
  const noRegistry = fleet !== undefined && !existsSync(settings.backendsFile) && !inventoryEnabled(settings.inventory);
  const registry = noRegistry ? [] : await loadHostsAtStart(settings.backendsFile, settings.inventory);
  const hub = new Hub(registry, { ...settings, ...(fleet ? { fleet } : {}) });
  const audit = openAudit(settings.auditLog, settings.auditMaxBytes);
  const tools = hubTools(hub, serveTools);
  const hubContext = { limits: { maxOutputBytes: 32 * 1024, maxReadBytes: 96 * 1024, maxTimeoutS: 3600 }, stateDir: settings.stateDir };
  // The web console at /ui (src/console/): fleet, jobs and kills through the hub's own tools; its stop holds for every call.
  const ui = settings.console ? openConsole({ role: "hub", name: settings.name, version }, audit) : undefined;
  // NATS: calls hosts answered themselves (over their own HTTP) join the feed too, as "direct".
  if (ui && fleet) fleet.onActivity = (e) => ui.activity.record(e);
  // Metrics only when asked for (src/metrics/metrics.ts): hosts by state and the SSH queue are read at each scrape.
  const metrics = settings.metrics.enabled
    ? await createMetrics("hub", {
        gauges: {
          lmcp_hub_hosts: {
            help: "Hosts in the registry by state (up, down, auth_failed, unknown).",
            labelNames: ["state"],
            collect: () => {
              const by = new Map<string, number>([["up", 0], ["down", 0], ["auth_failed", 0], ["unknown", 0]]);
              for (const b of hub.list()) {
                const state = fleet ? (fleet.host(b.name)?.state ?? "unknown") : hub.health.get(b.name).state;
                by.set(state, (by.get(state) ?? 0) + 1);
              }
              return [...by].map(([state, value]) => ({ labels: { state }, value }));
            },
          },
          lmcp_hub_ssh_queued: { help: "Calls waiting for an SSH slot.", collect: () => [{ value: hub.ssh.queued }] },
          lmcp_hub_ssh_running: { help: "ssh processes running.", collect: () => [{ value: hub.ssh.active }] },
        },
      })
    : undefined;
  if (metrics) hub.health.onProbe = (host, result, seconds) => metrics.probe(host, result, seconds);
  // Traces only with an OTLP endpoint configured (src/telemetry/otel.ts); a backend's span is a child of the hub's.
  const tracing = resolveTracing("hub", settings.name, settings.otlpEndpoint);
  const tracer = tracing ? await startTracing(tracing, version) : undefined;
  const mcp = await createMcpHttpHandler(createMcpServers({
    name: settings.name,
    title: `lmcp hub ${settings.name}`,
    version,
    instructions:
      "A hub for a fleet of hosts. Call remote_list_hosts to see the hosts and their state; every remote_* tool takes `host`. " +
      "Use remote_shell_many to run one command on several hosts. " +
      (fleet ? "Results say whether they came via nats or via ssh." : "Results say whether they came via lmcp or via ssh."),
    tools,
    context: hubContext,
    ...(ui ? ui.mcpHooks : { audit }),
    ...(metrics ? { metrics } : {}),
    ...(tracer ? { tracer } : {}),
  }));
  const running = await startHttp({
    settings,
    mcp,
    ...headerToolChecks(tools, ui ? ui.mcpHooks.audit : audit),
    ...(ui ? { webConsole: ui.handler({ tools, context: hubContext }) } : {}),
    ...(metrics ? { metrics: { render: () => metrics.render(), tokenFile: settings.metrics.tokenFile } } : {}),
    onReload: hostReloader(hub, settings.backendsFile, settings.inventory),
  });
  if (ui) ui.stop.consoleUrl = `${running.pageBase}/ui`;
  // NATS mode: calls in flight over HTTP finish first, then the NATS connection is drained.
  exitOnSignals(flushingOnShutdown(fleet ? { ...running, shutdown: (reason) => running.shutdown(reason).then(() => fleet.close()) } : running, tracer));
  await new Promise(() => {});
  return 0;
}
